/* SPDX-License-Identifier: MIT */
/* The Jinja2-subset template engine: lexer, parser, Jinja's scoping rules and renderer. */
#include "template.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"

/*
 * The engine mirrors python3-jinja2 3.1 with its default Environment. The comments
 * name the Jinja2 function whose behaviour a piece reproduces, because "why is it
 * like this" is nearly always "because Jinja2 does it so".
 *
 * Memory: everything a compiled template owns lives in one arena; everything a render
 * computes lives in a second arena that is dropped when the render ends. Both arenas
 * have a byte cap, so no input can make us allocate without bound.
 */

/* ------------------------------------------------------------------------------ */
/* Arena */

#define ARENA_CHUNK	   16384
#define ARENA_ALIGN	   16
#define COMPILE_MAX_MEMORY (48 * 1024 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
};

struct arena {
	struct arena_chunk *head;
	size_t total; /* bytes allocated in chunks */
	size_t max;   /* total may not exceed this */
	int err;      /* ERR_NOMEM or ERR_TOOBIG after a failed allocation */
};

#define CHUNK_HDR ((sizeof(struct arena_chunk) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

static void
arena_init(struct arena *a, size_t max)
{
	a->head = NULL;
	a->total = 0;
	a->max = max;
	a->err = 0;
}

static void
arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_chunk *c = a->head;
		a->head = c->next;
		free(c);
	}
	a->total = 0;
}

/* arena_alloc: n zeroed bytes, aligned; NULL (and a->err set) past the cap or on ENOMEM. */
static void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	void *p;

	if (need < n)
		goto toobig;
	if (!c || c->size - c->used < need) {
		size_t size = need > ARENA_CHUNK ? need : ARENA_CHUNK;
		if (size > a->max || a->total > a->max - size)
			goto toobig;
		c = malloc(CHUNK_HDR + size);
		if (!c) {
			a->err = ERR_NOMEM;
			return NULL;
		}
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->total += size;
	}
	p = (char *)c + CHUNK_HDR + c->used;
	c->used += need;
	memset(p, 0, n);
	return p;
toobig:
	a->err = ERR_TOOBIG;
	return NULL;
}

static char *
arena_dup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	if (p && n)
		memcpy(p, s, n);
	return p;
}

/* ------------------------------------------------------------------------------ */
/* UTF-8 and Python's notion of whitespace */

/* utf8_decode: the code point at s (n > 0 bytes available) and its length in *len;
 * -1 for a malformed sequence (overlong, surrogate, beyond U+10FFFF, truncated). */
static int32_t
utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
	uint32_t cp;
	size_t k;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		k = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		k = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		k = 4, cp = s[0] & 0x07;
	else
		return -1;
	if (n < k)
		return -1;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = k;
	return (int32_t)cp;
}

/* utf8_next: decodes the (already validated) code point at p[*i] and advances *i. */
static uint32_t
utf8_next(const char *p, size_t n, size_t *i)
{
	size_t len = 1;
	int32_t cp = utf8_decode((const unsigned char *)p + *i, n - *i, &len);

	*i += len;
	return cp < 0 ? 0xfffd : (uint32_t)cp;
}

static size_t
utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool
utf8_valid(const char *p, size_t n)
{
	size_t i = 0, len;

	while (i < n) {
		if (utf8_decode((const unsigned char *)p + i, n - i, &len) < 0)
			return false;
		i += len;
	}
	return true;
}

static size_t
utf8_count(const char *p, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)p[i] & 0xc0) != 0x80)
			c++;
	return c;
}

/* is_py_space: Python's str.isspace(), which is also what `\s` and str.strip() use. */
static bool
is_py_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
	       c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202f || c == 0x205f || c == 0x3000;
}

/* space_len: the byte length of the whitespace character at p[i], 0 if none. */
static size_t
space_len(const char *p, size_t n, size_t i)
{
	size_t j = i;
	uint32_t c;

	if (i >= n)
		return 0;
	c = utf8_next(p, n, &j);
	return is_py_space(c) ? j - i : 0;
}

/* rstrip_len: the length of p[0..n) without trailing whitespace (str.rstrip()). */
static size_t
rstrip_len(const char *p, size_t n)
{
	size_t i = 0, keep = 0;

	while (i < n) {
		uint32_t c = utf8_next(p, n, &i);
		if (!is_py_space(c))
			keep = i;
	}
	return keep;
}

/* is_py_printable: an approximation of str.isprintable() for repr(): the controls and
 * the separators and format characters mail text can meet are not printable. */
static bool
is_py_printable(uint32_t c)
{
	if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad)
		return false;
	if (c == 0x1680 || (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
	    (c >= 0x205f && c <= 0x206f) || c == 0x3000 || c == 0xfeff)
		return false;
	if ((c >= 0xe000 && c <= 0xf8ff) || c >= 0xf0000 || (c & 0xfffe) == 0xfffe)
		return false;
	return true;
}

/* ------------------------------------------------------------------------------ */
/* Values */

enum tv_type { TV_UNDEF, TV_NONE, TV_BOOL, TV_INT, TV_STR, TV_LIST, TV_LOOP };

struct loop_state;

struct tv {
	unsigned char type;
	bool markup; /* a TV_STR that is markupsafe.Markup (the result of |e) */
	union {
		bool b;
		long long i;
		struct {
			const char *p;
			size_t n;
		} s;
		const struct template_list *l;
		const struct loop_state *loop;
		const char *undef_name; /* the variable whose lookup failed, or NULL */
	} u;
};

struct template_list {
	struct tv *items;
	size_t n, cap;
};

struct loop_state {
	const struct template_list *seq;
	long long index0;
};

struct var {
	char *name;
	struct tv val;
};

struct template_vars {
	struct var *v;
	size_t n, cap;
};

static struct tv
tv_undef(const char *name)
{
	struct tv v = {.type = TV_UNDEF};
	v.u.undef_name = name;
	return v;
}

static struct tv
tv_int(long long i)
{
	struct tv v = {.type = TV_INT};
	v.u.i = i;
	return v;
}

static struct tv
tv_bool(bool b)
{
	struct tv v = {.type = TV_BOOL};
	v.u.b = b;
	return v;
}

static struct tv
tv_str(const char *p, size_t n, bool markup)
{
	struct tv v = {.type = TV_STR, .markup = markup};
	v.u.s.p = p;
	v.u.s.n = n;
	return v;
}

/* Owned values (caller variables and list items) free their strings and lists. */
static void
tv_release(struct tv *v)
{
	if (v->type == TV_STR)
		free((char *)v->u.s.p);
	else if (v->type == TV_LIST)
		template_list_free((struct template_list *)v->u.l);
	v->type = TV_NONE;
}

static int
tv_owned_str(struct tv *out, const char *value)
{
	size_t n;
	char *p;

	if (!value)
		return ERR_INVAL;
	n = strlen(value);
	if (n > TEMPLATE_MAX_VAR_BYTES)
		return ERR_TOOBIG;
	if (!utf8_valid(value, n))
		return ERR_INVAL;
	p = malloc(n + 1);
	if (!p)
		return ERR_NOMEM;
	memcpy(p, value, n + 1);
	*out = tv_str(p, n, false);
	return 0;
}

/* ------------------------------------------------------------------------------ */
/* Public: variables and lists */

struct template_list *
template_list_new(void)
{
	return calloc(1, sizeof(struct template_list));
}

void
template_list_free(struct template_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		tv_release(&l->items[i]);
	free(l->items);
	free(l);
}

static int
list_push(struct template_list *l, struct tv v)
{
	if (!l) {
		tv_release(&v);
		return ERR_INVAL;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct tv *items = reallocarray(l->items, cap, sizeof(*items));
		if (!items) {
			tv_release(&v);
			return ERR_NOMEM;
		}
		l->items = items;
		l->cap = cap;
	}
	l->items[l->n++] = v;
	return 0;
}

int
template_list_add_str(struct template_list *l, const char *value)
{
	struct tv v;
	int rc = tv_owned_str(&v, value);

	return rc ? rc : list_push(l, v);
}

int
template_list_add_int(struct template_list *l, long long value)
{
	return list_push(l, tv_int(value));
}

int
template_list_add_bool(struct template_list *l, bool value)
{
	return list_push(l, tv_bool(value));
}

int
template_list_add_none(struct template_list *l)
{
	struct tv v = {.type = TV_NONE};
	return list_push(l, v);
}

int
template_list_add_list(struct template_list *l, struct template_list *item)
{
	struct tv v = {.type = TV_LIST};

	if (!item)
		return ERR_INVAL;
	v.u.l = item;
	return list_push(l, v);
}

struct template_vars *
template_vars_new(void)
{
	return calloc(1, sizeof(struct template_vars));
}

void
template_vars_free(struct template_vars *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		free(v->v[i].name);
		tv_release(&v->v[i].val);
	}
	free(v->v);
	free(v);
}

static bool
is_ident(const char *s)
{
	if (!s || !*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static struct var *
vars_find(const struct template_vars *v, const char *name)
{
	for (size_t i = 0; v && i < v->n; i++)
		if (strcmp(v->v[i].name, name) == 0)
			return &v->v[i];
	return NULL;
}

/* vars_set: stores `val` (ownership passes in, also on failure) under `name`. */
static int
vars_set(struct template_vars *v, const char *name, struct tv val)
{
	struct var *slot;

	if (!v || !is_ident(name) || strlen(name) > 255) {
		tv_release(&val);
		return ERR_INVAL;
	}
	slot = vars_find(v, name);
	if (slot) {
		tv_release(&slot->val);
		slot->val = val;
		return 0;
	}
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		struct var *nv = reallocarray(v->v, cap, sizeof(*nv));
		if (!nv) {
			tv_release(&val);
			return ERR_NOMEM;
		}
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n].name = strdup(name);
	if (!v->v[v->n].name) {
		tv_release(&val);
		return ERR_NOMEM;
	}
	v->v[v->n++].val = val;
	return 0;
}

int
template_vars_set_str(struct template_vars *v, const char *name, const char *value)
{
	struct tv val;
	int rc = tv_owned_str(&val, value);

	return rc ? rc : vars_set(v, name, val);
}

int
template_vars_set_int(struct template_vars *v, const char *name, long long value)
{
	return vars_set(v, name, tv_int(value));
}

int
template_vars_set_bool(struct template_vars *v, const char *name, bool value)
{
	return vars_set(v, name, tv_bool(value));
}

int
template_vars_set_none(struct template_vars *v, const char *name)
{
	struct tv val = {.type = TV_NONE};
	return vars_set(v, name, val);
}

int
template_vars_set_list(struct template_vars *v, const char *name, struct template_list *list)
{
	struct tv val = {.type = TV_LIST};

	if (!list)
		return ERR_INVAL;
	val.u.l = list;
	return vars_set(v, name, val);
}

int
template_vars_unset(struct template_vars *v, const char *name)
{
	struct var *slot = name ? vars_find(v, name) : NULL;

	if (!slot)
		return 0;
	free(slot->name);
	tv_release(&slot->val);
	*slot = v->v[--v->n];
	return 0;
}

/* ------------------------------------------------------------------------------ */
/* Tokens and the lexer (jinja2.lexer.Lexer.tokeniter) */

enum tok_type {
	TK_EOF,
	TK_DATA,
	TK_VAR_BEGIN,
	TK_VAR_END,
	TK_BLOCK_BEGIN,
	TK_BLOCK_END,
	TK_NAME,
	TK_STRING,
	TK_INT,
	TK_OP
};

enum op {
	OP_ADD,
	OP_SUB,
	OP_DIV,
	OP_FLOORDIV,
	OP_MUL,
	OP_MOD,
	OP_POW,
	OP_TILDE,
	OP_LBRACKET,
	OP_RBRACKET,
	OP_LPAREN,
	OP_RPAREN,
	OP_LBRACE,
	OP_RBRACE,
	OP_EQ,
	OP_NE,
	OP_GT,
	OP_GTEQ,
	OP_LT,
	OP_LTEQ,
	OP_ASSIGN,
	OP_DOT,
	OP_COLON,
	OP_PIPE,
	OP_COMMA,
	OP_SEMICOLON,
	OP_IN, /* comparison operators that are names in the source */
	OP_NOTIN
};

/* Longest first, as jinja2's operator_re sorts them. */
static const struct {
	const char *text;
	enum op op;
} operators[] = {
	{"//", OP_FLOORDIV}, {"**", OP_POW},	  {"==", OP_EQ},    {"!=", OP_NE},
	{">=", OP_GTEQ},     {"<=", OP_LTEQ},	  {"+", OP_ADD},    {"-", OP_SUB},
	{"/", OP_DIV},	     {"*", OP_MUL},	  {"%", OP_MOD},    {"~", OP_TILDE},
	{"[", OP_LBRACKET},  {"]", OP_RBRACKET},  {"(", OP_LPAREN}, {")", OP_RPAREN},
	{"{", OP_LBRACE},    {"}", OP_RBRACE},	  {">", OP_GT},	    {"<", OP_LT},
	{"=", OP_ASSIGN},    {".", OP_DOT},	  {":", OP_COLON},  {"|", OP_PIPE},
	{",", OP_COMMA},     {";", OP_SEMICOLON},
};

struct token {
	enum tok_type type;
	enum op op;
	int line;
	const char *p; /* NAME/DATA: into the source; STRING: decoded, in the arena */
	size_t n;
	long long ival;
};

struct template
{
	char *name;
	struct arena arena;
	struct stmt *body;
	const char **syms; /* interned variable names, indexed by symbol id */
	size_t nsyms;
	const int *root_prebound;
	size_t nroot_prebound;
	int loop_sym; /* the symbol id of `loop` */
};

struct lexer {
	struct template *t;
	const char *src;
	size_t len, pos;
	int line;
	enum { LX_ROOT, LX_VAR, LX_BLOCK } mode;
	char brackets[TEMPLATE_MAX_DEPTH]; /* the closers we wait for */
	int depth;
	struct token *toks;
	size_t ntok, cap;
	char *err;
	size_t errlen;
};

static int fail_at(const char *tname, int line, char *err, size_t errlen, int rc, const char *fmt,
		   ...) __attribute__((format(printf, 6, 7)));

static int
fail_at(const char *tname, int line, char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || errlen == 0)
		return rc;
	n = snprintf(err, errlen, "%s:%d: ", tname, line);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

#define lex_fail(lx, ...)                                                                          \
	fail_at((lx)->t->name, (lx)->line, (lx)->err, (lx)->errlen, ERR_INVAL, __VA_ARGS__)

static int
lex_nomem(struct lexer *lx)
{
	int rc = lx->t->arena.err ? lx->t->arena.err : ERR_NOMEM;

	return fail_at(lx->t->name, lx->line, lx->err, lx->errlen, rc, "%s", err_str(rc));
}

static struct token *
lex_push(struct lexer *lx, enum tok_type type, const char *p, size_t n)
{
	struct token *tk;

	if (lx->ntok == lx->cap) {
		size_t cap = lx->cap ? lx->cap * 2 : 256;
		struct token *nt = arena_alloc(&lx->t->arena, cap * sizeof(*nt));
		if (!nt)
			return NULL;
		if (lx->ntok)
			memcpy(nt, lx->toks, lx->ntok * sizeof(*nt));
		lx->toks = nt;
		lx->cap = cap;
	}
	tk = &lx->toks[lx->ntok++];
	memset(tk, 0, sizeof(*tk));
	tk->type = type;
	tk->line = lx->line;
	tk->p = p;
	tk->n = n;
	return tk;
}

static void
count_lines(struct lexer *lx, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (lx->src[i] == '\n')
			lx->line++;
}

/* skip_space: advances over whitespace (\s*), counting lines. */
static void
skip_space(struct lexer *lx)
{
	size_t k;

	while ((k = space_len(lx->src, lx->len, lx->pos)) > 0) {
		if (lx->src[lx->pos] == '\n')
			lx->line++;
		lx->pos += k;
	}
}

static bool
at(const struct lexer *lx, size_t i, const char *s)
{
	size_t n = strlen(s);
	return i <= lx->len && lx->len - i >= n && memcmp(lx->src + i, s, n) == 0;
}

/* emit_data: a data token of src[from..to), right-stripped if the next tag says '-'. */
static int
emit_data(struct lexer *lx, size_t from, size_t to, bool strip)
{
	size_t n = to - from;
	int line = lx->line;

	if (strip)
		n = rstrip_len(lx->src + from, n);
	count_lines(lx, from, to);
	if (n == 0)
		return 0;
	struct token *tk = lex_push(lx, TK_DATA, lx->src + from, n);
	if (!tk)
		return lex_nomem(lx);
	tk->line = line;
	return 0;
}

/* match_block_end: the length of "+%}", "-%}" or "%}" at i (0 if none); *strip for '-'. */
static size_t
match_block_end(const struct lexer *lx, size_t i, bool *strip)
{
	*strip = false;
	if (at(lx, i, "+%}"))
		return 3;
	if (at(lx, i, "-%}")) {
		*strip = true;
		return 3;
	}
	return at(lx, i, "%}") ? 2 : 0;
}

/* match_word_tag: "{%[-+]?\s*WORD\s*" at i; returns the end position or 0; *sign gets
 * the sign character. Used for {% raw %} and {% endraw %}. */
static size_t
match_word_tag(const struct lexer *lx, size_t i, const char *word, char *sign)
{
	size_t k;

	if (!at(lx, i, "{%"))
		return 0;
	i += 2;
	*sign = 0;
	if (i < lx->len && (lx->src[i] == '-' || lx->src[i] == '+'))
		*sign = lx->src[i++];
	while ((k = space_len(lx->src, lx->len, i)) > 0)
		i += k;
	if (!at(lx, i, word))
		return 0;
	i += strlen(word);
	while ((k = space_len(lx->src, lx->len, i)) > 0)
		i += k;
	return i;
}

/* lex_raw: {% raw %}...{% endraw %} starting at i (the '{'); returns 1 if it was raw. */
static int
lex_raw(struct lexer *lx, size_t text_from, size_t i, int *rc)
{
	char sign, esign;
	size_t j = match_word_tag(lx, i, "raw", &sign), body, k, end;
	bool strip = false;

	*rc = 0;
	if (!j)
		return 0;
	if (at(lx, j, "-%}"))
		end = j + 3, strip = true;
	else if (at(lx, j, "%}"))
		end = j + 2;
	else
		return 0;
	if ((*rc = emit_data(lx, text_from, i, sign == '-')) != 0)
		return 1;
	count_lines(lx, i, end);
	lx->pos = end;
	if (strip)
		skip_space(lx);
	body = lx->pos;
	for (k = body; k < lx->len; k++) {
		size_t e = match_word_tag(lx, k, "endraw", &esign), elen;
		bool estrip;
		if (!e || !(elen = match_block_end(lx, e, &estrip)))
			continue;
		if ((*rc = emit_data(lx, body, k, esign == '-')) != 0)
			return 1;
		count_lines(lx, k, e + elen);
		lx->pos = e + elen;
		if (estrip)
			skip_space(lx);
		return 1;
	}
	if (body < lx->len) /* as for comments, an empty rest of the source is accepted */
		*rc = lex_fail(lx, "Missing end of raw directive");
	lx->pos = lx->len;
	return 1;
}

/* lex_comment: skips a comment whose body starts at lx->pos. */
static int
lex_comment(struct lexer *lx)
{
	for (size_t k = lx->pos; k < lx->len; k++) {
		size_t end = 0;
		bool strip = false;
		if (at(lx, k, "+#}"))
			end = k + 3;
		else if (at(lx, k, "-#}"))
			end = k + 3, strip = true;
		else if (at(lx, k, "#}"))
			end = k + 2;
		if (!end)
			continue;
		count_lines(lx, lx->pos, end);
		lx->pos = end;
		if (strip)
			skip_space(lx);
		return 0;
	}
	/* Jinja's "(.)" failure rule needs one more character: at the very end of the
	 * source an unclosed comment is silently accepted. */
	if (lx->pos >= lx->len)
		return 0;
	return lex_fail(lx, "Missing end of comment tag");
}

/* lex_root: data up to the next tag, then the tag opener. */
static int
lex_root(struct lexer *lx)
{
	size_t i, from = lx->pos;
	char kind, sign = 0;
	int rc;

	for (i = from; i + 1 < lx->len; i++)
		if (lx->src[i] == '{' &&
		    (lx->src[i + 1] == '{' || lx->src[i + 1] == '%' || lx->src[i + 1] == '#'))
			break;
	if (i + 1 >= lx->len) {
		lx->pos = lx->len;
		return emit_data(lx, from, lx->len, false);
	}
	if (lx->src[i + 1] == '%' && lex_raw(lx, from, i, &rc))
		return rc;
	kind = lx->src[i + 1];
	if (i + 2 < lx->len && (lx->src[i + 2] == '-' || lx->src[i + 2] == '+'))
		sign = lx->src[i + 2];
	if ((rc = emit_data(lx, from, i, sign == '-')) != 0)
		return rc;
	lx->pos = i + 2 + (sign ? 1 : 0);
	if (kind == '#')
		return lex_comment(lx);
	if (!lex_push(lx, kind == '{' ? TK_VAR_BEGIN : TK_BLOCK_BEGIN, NULL, 0))
		return lex_nomem(lx);
	lx->mode = kind == '{' ? LX_VAR : LX_BLOCK;
	lx->depth = 0;
	return 0;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_name_char(char c)
{
	return is_name_start(c) || is_digit(c);
}

/* digits_: "(\d+_)*\d+" at i; returns the end or i when nothing matched. */
static size_t
digits_(const struct lexer *lx, size_t i)
{
	size_t j = i, last = i;

	while (j < lx->len && is_digit(lx->src[j])) {
		while (j < lx->len && is_digit(lx->src[j]))
			j++;
		last = j;
		if (j + 1 < lx->len && lx->src[j] == '_' && is_digit(lx->src[j + 1]))
			j++;
		else
			break;
	}
	return last;
}

/* is_float: jinja2's float_re at i (we refuse floats, but must recognise them). */
static bool
is_float(const struct lexer *lx, size_t i)
{
	size_t j = digits_(lx, i), k;

	if (j == i || (i > 0 && lx->src[i - 1] == '.'))
		return false;
	if (j < lx->len && lx->src[j] == '.' && (k = digits_(lx, j + 1)) > j + 1) {
		j = k;
		if (j < lx->len && (lx->src[j] == 'e' || lx->src[j] == 'E'))
			goto exponent;
		return true;
	}
	if (j < lx->len && (lx->src[j] == 'e' || lx->src[j] == 'E'))
		goto exponent;
	return false;
exponent:
	k = j + 1;
	if (k < lx->len && (lx->src[k] == '+' || lx->src[k] == '-'))
		k++;
	return digits_(lx, k) > k || lx->src[j - 1] != '.';
}

static int
digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/* lex_int: jinja2's integer_re: 0b/0o/0x with optional '_' between digits, decimal
 * without leading zeros, or zeros. */
static int
lex_int(struct lexer *lx)
{
	size_t i = lx->pos;
	int base = 10;
	unsigned long long v = 0;
	bool any = false;
	struct token *tk;

	if (lx->src[i] == '0' && i + 1 < lx->len) {
		char c = lx->src[i + 1];
		base = (c == 'b' || c == 'B')	? 2
		       : (c == 'o' || c == 'O') ? 8
		       : (c == 'x' || c == 'X') ? 16
						: 10;
	}
	if (base != 10) {
		size_t j = i + 2;
		for (;;) {
			size_t k = j;
			if (k < lx->len && lx->src[k] == '_')
				k++;
			if (k >= lx->len || digit_value(lx->src[k]) >= base)
				break;
			if (v > (unsigned long long)LLONG_MAX / (unsigned)base)
				return lex_fail(lx, "integer literal too large");
			v = v * (unsigned)base + (unsigned)digit_value(lx->src[k]);
			if (v > (unsigned long long)LLONG_MAX)
				return lex_fail(lx, "integer literal too large");
			j = k + 1;
			any = true;
		}
		if (any) {
			i = j;
			goto done;
		}
		base = 10; /* "0x" without digits: the integer 0, then the name "x" */
	}
	if (lx->src[i] == '0') {
		/* 0(_?0)* */
		i++;
		while (i < lx->len && (lx->src[i] == '0' || (lx->src[i] == '_' && i + 1 < lx->len &&
							     lx->src[i + 1] == '0')))
			i += lx->src[i] == '_' ? 2 : 1;
		goto done;
	}
	while (i < lx->len) {
		size_t k = i;
		if (lx->src[k] == '_' && k > lx->pos)
			k++;
		if (k >= lx->len || !is_digit(lx->src[k]))
			break;
		if (v > ((unsigned long long)LLONG_MAX - 9) / 10)
			return lex_fail(lx, "integer literal too large");
		v = v * 10 + (unsigned)(lx->src[k] - '0');
		i = k + 1;
	}
done:
	tk = lex_push(lx, TK_INT, lx->src + lx->pos, i - lx->pos);
	if (!tk)
		return lex_nomem(lx);
	tk->ival = (long long)v;
	lx->pos = i;
	return 0;
}

/* hex_escape: `count` hex digits at p; -1 if not all are hex. */
static long
hex_escape(const char *p, size_t avail, size_t count)
{
	long v = 0;

	if (avail < count)
		return -1;
	for (size_t i = 0; i < count; i++) {
		int d = digit_value(p[i]);
		if (d > 15)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* unescape_one: one backslash escape at s[i] (after the backslash), like Python's
 * unicode-escape codec; appends to out, advances *i. */
static int
unescape_one(struct lexer *lx, const char *s, size_t n, size_t *i, struct buf *out)
{
	static const char simple_in[] = "\\'\"abfnrtv", simple_out[] = "\\'\"\a\b\f\n\r\t\v";
	char c = s[*i], u8[4];
	const char *hit = c ? strchr(simple_in, c) : NULL;
	long cp;
	size_t k;

	if (hit) {
		(*i)++;
		return buf_addc(out, simple_out[hit - simple_in]);
	}
	if (c == '\n') { /* a backslash-newline is a line continuation */
		(*i)++;
		return 0;
	}
	if (c >= '0' && c <= '7') {
		cp = 0;
		for (k = 0; k < 3 && *i < n && s[*i] >= '0' && s[*i] <= '7'; k++, (*i)++)
			cp = cp * 8 + (s[*i] - '0');
		return buf_add(out, u8, utf8_encode((uint32_t)cp, u8));
	}
	if (c == 'x' || c == 'u' || c == 'U') {
		size_t count = c == 'x' ? 2 : c == 'u' ? 4 : 8;
		cp = hex_escape(s + *i + 1, n - *i - 1, count);
		if (cp < 0)
			return lex_fail(lx, "truncated \\%cXX escape", c);
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return lex_fail(lx, "illegal Unicode character");
		*i += 1 + count;
		return buf_add(out, u8, utf8_encode((uint32_t)cp, u8));
	}
	if (c == 'N')
		return lex_fail(lx, "\\N{...} escapes are not supported");
	if ((unsigned char)c >= 0x80) {
		/* Jinja first applies backslashreplace: "\é" becomes "\\xe9". */
		uint32_t ch = utf8_next(s, n, i);
		char tmp[16];
		int m = ch <= 0xff     ? snprintf(tmp, sizeof(tmp), "\\x%02x", ch)
			: ch <= 0xffff ? snprintf(tmp, sizeof(tmp), "\\u%04x", ch)
				       : snprintf(tmp, sizeof(tmp), "\\U%08x", ch);
		return buf_add(out, tmp, (size_t)m);
	}
	(*i)++; /* an unknown escape stays as it is */
	int rc = buf_addc(out, '\\');
	return rc ? rc : buf_addc(out, c);
}

/* lex_string: a quoted string; returns 1 (and *rc) if there was one, 0 if unterminated
 * (then the quote is an unexpected character, as in Jinja). */
static int
lex_string(struct lexer *lx, int *rc)
{
	char q = lx->src[lx->pos];
	size_t i = lx->pos + 1, end;
	struct buf out;
	struct token *tk;

	for (end = i; end < lx->len && lx->src[end] != q; end++)
		if (lx->src[end] == '\\')
			end++;
	if (end >= lx->len)
		return 0;
	buf_init(&out, TEMPLATE_MAX_SIZE * 4);
	*rc = 0;
	while (i < end && !*rc) {
		size_t j = i;
		while (j < end && lx->src[j] != '\\')
			j++;
		*rc = buf_add(&out, lx->src + i, j - i);
		i = j;
		if (!*rc && i < end) {
			i++;
			*rc = unescape_one(lx, lx->src, end, &i, &out);
		}
	}
	if (!*rc) {
		tk = lex_push(lx, TK_STRING, NULL, 0);
		if (tk) {
			tk->n = out.len;
			tk->p = arena_dup(&lx->t->arena, buf_str(&out), out.len);
		}
		if (!tk || !tk->p)
			*rc = lex_nomem(lx);
	} else if (*rc != ERR_INVAL) {
		*rc = lex_nomem(lx);
	}
	count_lines(lx, lx->pos, end + 1);
	lx->pos = end + 1;
	buf_free(&out);
	return 1;
}

/* lex_operator: the longest operator at pos, with bracket balancing. */
static int
lex_operator(struct lexer *lx)
{
	for (size_t k = 0; k < sizeof(operators) / sizeof(operators[0]); k++) {
		struct token *tk;
		enum op op = operators[k].op;
		if (!at(lx, lx->pos, operators[k].text))
			continue;
		if (op == OP_LPAREN || op == OP_LBRACKET || op == OP_LBRACE) {
			if (lx->depth >= TEMPLATE_MAX_DEPTH)
				return lex_fail(lx, "brackets nested too deeply");
			lx->brackets[lx->depth++] = op == OP_LPAREN	? ')'
						    : op == OP_LBRACKET ? ']'
									: '}';
		} else if (op == OP_RPAREN || op == OP_RBRACKET || op == OP_RBRACE) {
			char c = operators[k].text[0];
			if (lx->depth == 0)
				return lex_fail(lx, "unexpected '%c'", c);
			if (lx->brackets[--lx->depth] != c)
				return lex_fail(lx, "unexpected '%c', expected '%c'", c,
						lx->brackets[lx->depth]);
		}
		tk = lex_push(lx, TK_OP, lx->src + lx->pos, strlen(operators[k].text));
		if (!tk)
			return lex_nomem(lx);
		tk->op = op;
		lx->pos += tk->n;
		return 0;
	}
	if ((unsigned char)lx->src[lx->pos] >= 0x80)
		return lex_fail(lx, "unexpected character (non-ASCII names are not supported)");
	return lex_fail(lx, "unexpected char '%c'", lx->src[lx->pos]);
}

/* lex_tag_end: the end of the current {{ }} or {% %} at pos, if there is one. */
static int
lex_tag_end(struct lexer *lx, bool *done)
{
	bool strip = false;
	size_t n = 0;

	*done = false;
	if (lx->depth > 0)
		return 0;
	if (lx->mode == LX_VAR) {
		if (at(lx, lx->pos, "-}}"))
			n = 3, strip = true;
		else if (at(lx, lx->pos, "}}"))
			n = 2;
	} else {
		n = match_block_end(lx, lx->pos, &strip);
	}
	if (!n)
		return 0;
	if (!lex_push(lx, lx->mode == LX_VAR ? TK_VAR_END : TK_BLOCK_END, NULL, 0))
		return lex_nomem(lx);
	lx->pos += n;
	if (strip)
		skip_space(lx);
	lx->mode = LX_ROOT;
	*done = true;
	return 0;
}

/* lex_tag: one token inside {{ }} or {% %}, tried in jinja2's order. */
static int
lex_tag(struct lexer *lx)
{
	bool done;
	char c;
	int rc = lex_tag_end(lx, &done);

	if (rc || done)
		return rc;
	if (space_len(lx->src, lx->len, lx->pos)) {
		skip_space(lx);
		return 0;
	}
	c = lx->src[lx->pos];
	if (is_digit(c)) {
		if (is_float(lx, lx->pos))
			return lex_fail(lx, "floating point numbers are not supported");
		return lex_int(lx);
	}
	if (is_name_start(c)) {
		size_t i = lx->pos;
		struct token *tk;
		while (i < lx->len && is_name_char(lx->src[i]))
			i++;
		if (i < lx->len && (unsigned char)lx->src[i] >= 0x80)
			return lex_fail(lx, "non-ASCII names are not supported");
		tk = lex_push(lx, TK_NAME, lx->src + lx->pos, i - lx->pos);
		if (!tk)
			return lex_nomem(lx);
		lx->pos = i;
		return 0;
	}
	if ((c == '\'' || c == '"') && lex_string(lx, &rc))
		return rc;
	return lex_operator(lx);
}

static int
lex_all(struct lexer *lx)
{
	int rc = 0;

	while (!rc && lx->pos < lx->len)
		rc = lx->mode == LX_ROOT ? lex_root(lx) : lex_tag(lx);
	if (!rc && !lex_push(lx, TK_EOF, NULL, 0))
		rc = lex_nomem(lx);
	return rc;
}

/* ------------------------------------------------------------------------------ */
/* The syntax tree */

enum ex_kind {
	EX_CONST,
	EX_NAME,
	EX_LIST,
	EX_ATTR,
	EX_ITEM,
	EX_NOT,
	EX_NEG,
	EX_POS,
	EX_AND,
	EX_OR,
	EX_BIN,
	EX_CONCAT,
	EX_CMP,
	EX_FILTER,
	EX_TEST,
	EX_COND
};

struct expr {
	enum ex_kind kind;
	int line;
	int depth;	  /* height of this subtree, bounded by TEMPLATE_MAX_DEPTH */
	int op;		  /* EX_BIN: enum op; EX_FILTER/EX_TEST: table index */
	bool negated;	  /* EX_TEST: `is not` */
	struct tv val;	  /* EX_CONST */
	int sym;	  /* EX_NAME */
	const char *attr; /* EX_ATTR (NUL-terminated, in the arena) */
	struct expr *a, *b, *c;
	struct expr **args; /* EX_LIST items, EX_CONCAT/EX_CMP operands, filter/test slots */
	size_t nargs;
	enum op *ops; /* EX_CMP: nargs - 1 operators */
};

enum st_kind { ST_TEXT, ST_OUTPUT, ST_IF, ST_FOR, ST_SET, ST_SETBLOCK };

/* The names a frame binds to "undefined" on entry (see analyze_frame). */
struct frame {
	const int *prebound;
	size_t n;
};

struct stmt {
	enum st_kind kind;
	int line;
	struct stmt *next;
	const char *text; /* ST_TEXT */
	size_t len;
	struct expr *e;		    /* OUTPUT, SET value, IF test, FOR sequence */
	int sym;		    /* SET/SETBLOCK/FOR target */
	bool uses_loop;		    /* FOR: the body mentions `loop` */
	struct stmt *body, *orelse; /* IF: else chain; an elif is an IF with is_elif */
	bool is_elif;
	struct frame fbody, felse; /* FOR body/else, SETBLOCK body */
};

/* ------------------------------------------------------------------------------ */
/* The parser (jinja2.parser.Parser) */

struct parser {
	struct template *t;
	struct token *toks;
	size_t ntok, i;
	int depth;     /* statement nesting */
	int for_depth; /* inside how many for loops */
	int loop_sym;  /* symbol id of "loop" */
	char *err;
	size_t errlen;
};

static int parse_fail(struct parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
parse_fail(struct parser *p, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail_at(p->t->name, line, p->err, p->errlen, ERR_INVAL, "%s", msg);
}

static int
parse_nomem(struct parser *p)
{
	int rc = p->t->arena.err ? p->t->arena.err : ERR_NOMEM;
	return fail_at(p->t->name, p->toks[p->i].line, p->err, p->errlen, rc, "%s", err_str(rc));
}

static struct token *
cur(struct parser *p)
{
	return &p->toks[p->i];
}

static struct token *
peek(struct parser *p)
{
	return p->i + 1 < p->ntok ? &p->toks[p->i + 1] : &p->toks[p->i];
}

static void
advance(struct parser *p)
{
	if (p->toks[p->i].type != TK_EOF)
		p->i++;
}

static bool
tok_is_name(const struct token *tk, const char *name)
{
	return tk->type == TK_NAME && tk->n == strlen(name) && memcmp(tk->p, name, tk->n) == 0;
}

static bool
tok_is_op(const struct token *tk, enum op op)
{
	return tk->type == TK_OP && tk->op == op;
}

/* describe: Jinja's describe_token, for messages. */
static void
describe(const struct token *tk, char *out, size_t n)
{
	switch (tk->type) {
	case TK_EOF: snprintf(out, n, "end of template"); break;
	case TK_VAR_END: snprintf(out, n, "end of print statement"); break;
	case TK_BLOCK_END: snprintf(out, n, "end of statement block"); break;
	case TK_VAR_BEGIN: snprintf(out, n, "begin of print statement"); break;
	case TK_BLOCK_BEGIN: snprintf(out, n, "begin of statement block"); break;
	case TK_DATA: snprintf(out, n, "template data"); break;
	case TK_STRING: snprintf(out, n, "string"); break;
	default: snprintf(out, n, "%.*s", (int)(tk->n > 40 ? 40 : tk->n), tk->p); break;
	}
}

static int
unexpected(struct parser *p, const char *what)
{
	char d[64];

	describe(cur(p), d, sizeof(d));
	if (cur(p)->type == TK_EOF)
		return parse_fail(p, cur(p)->line, "unexpected end of template, expected %s", what);
	return parse_fail(p, cur(p)->line, "expected %s, got '%s'", what, d);
}

static int
expect_op(struct parser *p, enum op op, const char *what)
{
	if (!tok_is_op(cur(p), op))
		return unexpected(p, what);
	advance(p);
	return 0;
}

static int
expect_type(struct parser *p, enum tok_type type, const char *what)
{
	if (cur(p)->type != type)
		return unexpected(p, what);
	advance(p);
	return 0;
}

/* intern: the symbol id of a variable name. */
static int
intern(struct parser *p, const char *name, size_t n, int *sym)
{
	struct template *t = p->t;
	const char **syms;
	char *copy;

	for (size_t k = 0; k < t->nsyms; k++)
		if (strlen(t->syms[k]) == n && memcmp(t->syms[k], name, n) == 0) {
			*sym = (int)k;
			return 0;
		}
	if (t->nsyms >= TEMPLATE_MAX_NAMES)
		return fail_at(t->name, cur(p)->line, p->err, p->errlen, ERR_TOOBIG,
			       "more than %d distinct names", TEMPLATE_MAX_NAMES);
	if (t->nsyms % 64 == 0) {
		syms = arena_alloc(&t->arena, (t->nsyms + 64) * sizeof(*syms));
		if (!syms)
			return parse_nomem(p);
		if (t->nsyms)
			memcpy(syms, t->syms, t->nsyms * sizeof(*syms));
		t->syms = syms;
	}
	copy = arena_dup(&t->arena, name, n);
	if (!copy)
		return parse_nomem(p);
	t->syms[t->nsyms] = copy;
	*sym = (int)t->nsyms++;
	return 0;
}

static struct expr *
new_expr(struct parser *p, enum ex_kind kind, int line)
{
	struct expr *e = arena_alloc(&p->t->arena, sizeof(*e));

	if (e) {
		e->kind = kind;
		e->line = line;
		e->depth = 1;
	}
	return e;
}

/* grow: accounts a child's height; refuses trees deeper than TEMPLATE_MAX_DEPTH, because
 * the evaluator recurses along them. */
static int
grow(struct parser *p, struct expr *e, const struct expr *child)
{
	if (child && child->depth + 1 > e->depth)
		e->depth = child->depth + 1;
	if (e->depth > TEMPLATE_MAX_DEPTH)
		return parse_fail(p, e->line, "expression nested too deeply");
	return 0;
}

static int
push_arg(struct parser *p, struct expr *e, struct expr *arg)
{
	if (e->nargs % 8 == 0) {
		struct expr **na = arena_alloc(&p->t->arena, (e->nargs + 8) * sizeof(*na));
		if (!na)
			return parse_nomem(p);
		if (e->nargs)
			memcpy(na, e->args, e->nargs * sizeof(*na));
		e->args = na;
	}
	e->args[e->nargs++] = arg;
	return grow(p, e, arg);
}

static int parse_expression(struct parser *p, bool with_condexpr, struct expr **out);
static int parse_or(struct parser *p, struct expr **out);
static int parse_unary(struct parser *p, bool with_filter, struct expr **out);
static int parse_primary(struct parser *p, struct expr **out);
static int parse_postfix(struct parser *p, struct expr **node);

#define NEW(var, kind, line)                                                                       \
	do {                                                                                       \
		if (!((var) = new_expr(p, (kind), (line))))                                        \
			return parse_nomem(p);                                                     \
	} while (0)
#define TRY(x)                                                                                     \
	do {                                                                                       \
		int rc_ = (x);                                                                     \
		if (rc_)                                                                           \
			return rc_;                                                                \
	} while (0)

static int
enter(struct parser *p)
{
	if (++p->depth > TEMPLATE_MAX_DEPTH)
		return parse_fail(p, cur(p)->line, "template nested too deeply");
	return 0;
}

/* binary: a node with two operands. */
static int
binary(struct parser *p, enum ex_kind kind, int op, int line, struct expr *a, struct expr *b,
       struct expr **out)
{
	struct expr *e;

	NEW(e, kind, line);
	e->op = op;
	e->a = a;
	e->b = b;
	TRY(grow(p, e, a));
	TRY(grow(p, e, b));
	*out = e;
	return 0;
}

/* parse_tuple: an expression where Jinja accepts a tuple; we accept exactly one. */
static int
parse_tuple(struct parser *p, bool with_condexpr, bool explicit_parens, struct expr **out)
{
	struct token *tk = cur(p);

	if (tk->type == TK_VAR_END || tk->type == TK_BLOCK_END || tok_is_op(tk, OP_RPAREN)) {
		if (explicit_parens)
			return parse_fail(p, tk->line, "tuples are not supported");
		return unexpected(p, "an expression");
	}
	TRY(parse_expression(p, with_condexpr, out));
	if (tok_is_op(cur(p), OP_COMMA))
		return parse_fail(p, cur(p)->line, "tuples are not supported");
	return 0;
}

static int
parse_list(struct parser *p, struct expr **out)
{
	struct expr *e, *item;

	NEW(e, EX_LIST, cur(p)->line);
	advance(p); /* [ */
	while (!tok_is_op(cur(p), OP_RBRACKET)) {
		if (e->nargs) {
			TRY(expect_op(p, OP_COMMA, "','"));
			if (tok_is_op(cur(p), OP_RBRACKET))
				break;
		}
		TRY(parse_expression(p, true, &item));
		TRY(push_arg(p, e, item));
	}
	TRY(expect_op(p, OP_RBRACKET, "']'"));
	*out = e;
	return 0;
}

static int
parse_string_const(struct parser *p, struct expr **out)
{
	struct expr *e;
	struct buf b;
	int line = cur(p)->line, rc = 0;

	NEW(e, EX_CONST, line);
	if (peek(p)->type != TK_STRING) { /* the common case: one literal */
		e->val = tv_str(cur(p)->p, cur(p)->n, false);
		advance(p);
		*out = e;
		return 0;
	}
	/* Adjacent literals are concatenated, as in Python. */
	buf_init(&b, TEMPLATE_MAX_SIZE * 4);
	while (!rc && cur(p)->type == TK_STRING) {
		rc = buf_add(&b, cur(p)->p, cur(p)->n);
		advance(p);
	}
	if (!rc) {
		char *s = arena_dup(&p->t->arena, buf_str(&b), b.len);
		rc = s ? 0 : ERR_NOMEM;
		e->val = tv_str(s, b.len, false);
	}
	buf_free(&b);
	if (rc)
		return parse_nomem(p);
	*out = e;
	return 0;
}

static int
parse_name_const(struct parser *p, struct expr **out)
{
	struct token *tk = cur(p);
	struct expr *e;

	NEW(e, EX_CONST, tk->line);
	if (tok_is_name(tk, "true") || tok_is_name(tk, "True")) {
		e->val = tv_bool(true);
	} else if (tok_is_name(tk, "false") || tok_is_name(tk, "False")) {
		e->val = tv_bool(false);
	} else if (tok_is_name(tk, "none") || tok_is_name(tk, "None")) {
		e->val.type = TV_NONE;
	} else {
		e->kind = EX_NAME;
		TRY(intern(p, tk->p, tk->n, &e->sym));
	}
	advance(p);
	*out = e;
	return 0;
}

static int
parse_primary(struct parser *p, struct expr **out)
{
	struct token *tk = cur(p);
	struct expr *e;

	switch (tk->type) {
	case TK_NAME: return parse_name_const(p, out);
	case TK_STRING: return parse_string_const(p, out);
	case TK_INT:
		NEW(e, EX_CONST, tk->line);
		e->val = tv_int(tk->ival);
		advance(p);
		*out = e;
		return 0;
	case TK_OP:
		if (tk->op == OP_LPAREN) {
			TRY(enter(p));
			advance(p);
			TRY(parse_tuple(p, true, true, out));
			TRY(expect_op(p, OP_RPAREN, "')'"));
			p->depth--;
			return 0;
		}
		if (tk->op == OP_LBRACKET) {
			TRY(enter(p));
			TRY(parse_list(p, out));
			p->depth--;
			return 0;
		}
		if (tk->op == OP_LBRACE)
			return parse_fail(p, tk->line, "dict literals are not supported");
		break;
	default: break;
	}
	char d[64];
	describe(tk, d, sizeof(d));
	if (tk->type == TK_EOF)
		return parse_fail(p, tk->line, "unexpected end of template");
	return parse_fail(p, tk->line, "unexpected '%s'", d);
}

/* parse_subscript: .name, .0 or [expr]. */
static int
parse_subscript(struct parser *p, struct expr **node)
{
	struct token *tk = cur(p);
	struct expr *e, *idx;

	if (tok_is_op(tk, OP_DOT)) {
		advance(p);
		tk = cur(p);
		if (tk->type == TK_NAME) {
			NEW(e, EX_ATTR, tk->line);
			e->attr = arena_dup(&p->t->arena, tk->p, tk->n);
			if (!e->attr)
				return parse_nomem(p);
			e->a = *node;
			TRY(grow(p, e, *node));
			advance(p);
			*node = e;
			return 0;
		}
		if (tk->type != TK_INT)
			return parse_fail(p, tk->line, "expected name or number");
		NEW(idx, EX_CONST, tk->line);
		idx->val = tv_int(tk->ival);
		advance(p);
		return binary(p, EX_ITEM, 0, tk->line, *node, idx, node);
	}
	TRY(enter(p));
	advance(p); /* [ */
	if (tok_is_op(cur(p), OP_COLON))
		return parse_fail(p, tk->line, "slices are not supported");
	TRY(parse_expression(p, true, &idx));
	if (tok_is_op(cur(p), OP_COLON))
		return parse_fail(p, tk->line, "slices are not supported");
	if (tok_is_op(cur(p), OP_COMMA))
		return parse_fail(p, tk->line, "tuples are not supported");
	TRY(expect_op(p, OP_RBRACKET, "']'"));
	p->depth--;
	return binary(p, EX_ITEM, 0, tk->line, *node, idx, node);
}

static int
parse_postfix(struct parser *p, struct expr **node)
{
	for (;;) {
		struct token *tk = cur(p);
		if (tok_is_op(tk, OP_DOT) || tok_is_op(tk, OP_LBRACKET))
			TRY(parse_subscript(p, node));
		else if (tok_is_op(tk, OP_LPAREN))
			return parse_fail(p, tk->line,
					  "function and method calls are not supported");
		else
			return 0;
	}
}

/* Filters: name, Jinja's parameter names after the value, and how many are required. */
enum filter_id {
	F_DEFAULT,
	F_UPPER,
	F_LOWER,
	F_CAPITALIZE,
	F_TITLE,
	F_TRIM,
	F_ESCAPE,
	F_REPLACE,
	F_LENGTH,
	F_INT,
	F_STRING,
	F_JOIN,
	F_FIRST,
	F_LAST
};

struct callable_def {
	const char *name;
	int id;
	int nparams, nrequired;
	const char *params[3];
};

static const struct callable_def filters[] = {
	{"default", F_DEFAULT, 2, 0, {"default_value", "boolean"}},
	{"d", F_DEFAULT, 2, 0, {"default_value", "boolean"}},
	{"upper", F_UPPER, 0, 0, {NULL}},
	{"lower", F_LOWER, 0, 0, {NULL}},
	{"capitalize", F_CAPITALIZE, 0, 0, {NULL}},
	{"title", F_TITLE, 0, 0, {NULL}},
	{"trim", F_TRIM, 1, 0, {"chars"}},
	{"escape", F_ESCAPE, 0, 0, {NULL}},
	{"e", F_ESCAPE, 0, 0, {NULL}},
	{"replace", F_REPLACE, 3, 2, {"old", "new", "count"}},
	{"length", F_LENGTH, 0, 0, {NULL}},
	{"count", F_LENGTH, 0, 0, {NULL}},
	{"int", F_INT, 2, 0, {"default", "base"}},
	{"string", F_STRING, 0, 0, {NULL}},
	{"join", F_JOIN, 1, 0, {"d"}},
	{"first", F_FIRST, 0, 0, {NULL}},
	{"last", F_LAST, 0, 0, {NULL}},
};

enum test_id {
	T_DEFINED,
	T_UNDEFINED,
	T_NONE,
	T_BOOLEAN,
	T_TRUE,
	T_FALSE,
	T_INTEGER,
	T_NUMBER,
	T_STRING,
	T_EVEN,
	T_ODD,
	T_DIVISIBLEBY,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_IN
};

static const struct callable_def tests[] = {
	{"defined", T_DEFINED, 0, 0, {NULL}},
	{"undefined", T_UNDEFINED, 0, 0, {NULL}},
	{"none", T_NONE, 0, 0, {NULL}},
	{"boolean", T_BOOLEAN, 0, 0, {NULL}},
	{"true", T_TRUE, 0, 0, {NULL}},
	{"false", T_FALSE, 0, 0, {NULL}},
	{"integer", T_INTEGER, 0, 0, {NULL}},
	{"number", T_NUMBER, 0, 0, {NULL}},
	{"string", T_STRING, 0, 0, {NULL}},
	{"even", T_EVEN, 0, 0, {NULL}},
	{"odd", T_ODD, 0, 0, {NULL}},
	{"divisibleby", T_DIVISIBLEBY, 1, 1, {"num"}},
	{"eq", T_EQ, 1, 1, {"b"}},
	{"equalto", T_EQ, 1, 1, {"b"}},
	{"ne", T_NE, 1, 1, {"b"}},
	{"lt", T_LT, 1, 1, {"b"}},
	{"lessthan", T_LT, 1, 1, {"b"}},
	{"le", T_LE, 1, 1, {"b"}},
	{"gt", T_GT, 1, 1, {"b"}},
	{"greaterthan", T_GT, 1, 1, {"b"}},
	{"ge", T_GE, 1, 1, {"b"}},
	{"in", T_IN, 1, 1, {"seq"}},
};

/* parse_dotted_name: NAME(.NAME)* as filters and tests are named. */
static int
parse_dotted_name(struct parser *p, char *out, size_t outlen)
{
	size_t n = 0;

	for (;;) {
		struct token *tk = cur(p);
		if (tk->type != TK_NAME)
			return unexpected(p, "a name");
		if (n + tk->n + 2 > outlen)
			return parse_fail(p, tk->line, "name too long");
		memcpy(out + n, tk->p, tk->n);
		n += tk->n;
		out[n] = 0;
		advance(p);
		if (!tok_is_op(cur(p), OP_DOT))
			return 0;
		out[n++] = '.';
		advance(p);
	}
}

/* parse_call_args: (positional..., keyword=...) mapped onto the slots of `def`. Jinja
 * checks arity when calling; we do it here, so such mistakes fail at compile time. */
static int
parse_call_args(struct parser *p, const struct callable_def *def, struct expr *e)
{
	struct expr *slots[3] = {NULL, NULL, NULL}, *arg;
	int npos = 0, nread = 0;
	bool kw = false;

	TRY(enter(p));
	advance(p); /* ( */
	while (!tok_is_op(cur(p), OP_RPAREN)) {
		int slot = -1;
		if (nread) {
			TRY(expect_op(p, OP_COMMA, "','"));
			if (tok_is_op(cur(p), OP_RPAREN))
				break;
		}
		if (tok_is_op(cur(p), OP_MUL) || tok_is_op(cur(p), OP_POW))
			return parse_fail(p, cur(p)->line, "*args and **kwargs are not supported");
		if (cur(p)->type == TK_NAME && tok_is_op(peek(p), OP_ASSIGN)) {
			for (int k = 0; k < def->nparams; k++)
				if (tok_is_name(cur(p), def->params[k]))
					slot = k;
			if (slot < 0)
				return parse_fail(p, cur(p)->line,
						  "'%s' got an unexpected keyword argument",
						  def->name);
			advance(p);
			advance(p);
			kw = true;
		} else {
			if (kw)
				return parse_fail(p, cur(p)->line,
						  "invalid syntax for function call expression");
			slot = npos++;
			if (slot >= def->nparams)
				return parse_fail(p, cur(p)->line, "too many arguments for '%s'",
						  def->name);
		}
		TRY(parse_expression(p, true, &arg));
		if (slots[slot])
			return parse_fail(p, arg->line,
					  "'%s' got multiple values for argument '%s'", def->name,
					  def->params[slot]);
		slots[slot] = arg;
		nread++;
	}
	TRY(expect_op(p, OP_RPAREN, "')'"));
	p->depth--;
	for (int k = 0; k < def->nrequired; k++)
		if (!slots[k])
			return parse_fail(p, e->line, "'%s' is missing the argument '%s'",
					  def->name, def->params[k]);
	for (int k = 0; k < def->nparams; k++)
		TRY(push_arg(p, e, slots[k]));
	return 0;
}

static const struct callable_def *
find_def(const struct callable_def *tab, size_t n, const char *name)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(tab[k].name, name) == 0)
			return &tab[k];
	return NULL;
}

/* default_slots: a filter/test used without parentheses gets empty slots. */
static int
default_slots(struct parser *p, const struct callable_def *def, struct expr *e)
{
	if (def->nrequired)
		return parse_fail(p, e->line, "'%s' is missing the argument '%s'", def->name,
				  def->params[0]);
	for (int k = 0; k < def->nparams; k++)
		TRY(push_arg(p, e, NULL));
	return 0;
}

static int
parse_filter(struct parser *p, struct expr **node)
{
	const struct callable_def *def;
	char name[128];
	struct expr *e;
	int line = cur(p)->line;

	advance(p); /* | */
	TRY(parse_dotted_name(p, name, sizeof(name)));
	def = find_def(filters, sizeof(filters) / sizeof(filters[0]), name);
	if (!def)
		return parse_fail(p, line, "No filter named '%s'.", name);
	NEW(e, EX_FILTER, line);
	e->op = def->id;
	e->a = *node;
	TRY(grow(p, e, *node));
	if (tok_is_op(cur(p), OP_LPAREN))
		TRY(parse_call_args(p, def, e));
	else
		TRY(default_slots(p, def, e));
	*node = e;
	return 0;
}

/* test_has_bare_arg: Jinja's rule for `x is divisibleby 3` without parentheses. */
static bool
test_has_bare_arg(const struct token *tk)
{
	if (tk->type == TK_NAME)
		return !tok_is_name(tk, "else") && !tok_is_name(tk, "or") &&
		       !tok_is_name(tk, "and");
	return tk->type == TK_STRING || tk->type == TK_INT || tok_is_op(tk, OP_LPAREN) ||
	       tok_is_op(tk, OP_LBRACKET) || tok_is_op(tk, OP_LBRACE);
}

static int
parse_test(struct parser *p, struct expr **node)
{
	const struct callable_def *def;
	char name[128];
	struct expr *e, *arg;
	int line = cur(p)->line;
	bool negated = false;

	advance(p); /* is */
	if (tok_is_name(cur(p), "not")) {
		negated = true;
		advance(p);
	}
	TRY(parse_dotted_name(p, name, sizeof(name)));
	def = find_def(tests, sizeof(tests) / sizeof(tests[0]), name);
	if (!def)
		return parse_fail(p, line, "No test named '%s'.", name);
	NEW(e, EX_TEST, line);
	e->op = def->id;
	e->negated = negated;
	e->a = *node;
	TRY(grow(p, e, *node));
	if (tok_is_op(cur(p), OP_LPAREN)) {
		TRY(parse_call_args(p, def, e));
	} else if (test_has_bare_arg(cur(p))) {
		if (tok_is_name(cur(p), "is"))
			return parse_fail(p, cur(p)->line,
					  "You cannot chain multiple tests with is");
		TRY(parse_primary(p, &arg));
		TRY(parse_postfix(p, &arg));
		if (def->nparams < 1)
			return parse_fail(p, line, "too many arguments for '%s'", def->name);
		TRY(push_arg(p, e, arg));
	} else {
		TRY(default_slots(p, def, e));
	}
	*node = e;
	return 0;
}

static int
parse_filter_expr(struct parser *p, struct expr **node)
{
	for (;;) {
		struct token *tk = cur(p);
		if (tok_is_op(tk, OP_PIPE))
			TRY(parse_filter(p, node));
		else if (tok_is_name(tk, "is"))
			TRY(parse_test(p, node));
		else if (tok_is_op(tk, OP_LPAREN))
			return parse_fail(p, tk->line,
					  "function and method calls are not supported");
		else
			return 0;
	}
}

static int
parse_unary(struct parser *p, bool with_filter, struct expr **out)
{
	struct token *tk = cur(p);
	struct expr *e, *inner;

	if (tok_is_op(tk, OP_SUB) || tok_is_op(tk, OP_ADD)) {
		TRY(enter(p));
		advance(p);
		TRY(parse_unary(p, false, &inner));
		p->depth--;
		NEW(e, tk->op == OP_SUB ? EX_NEG : EX_POS, tk->line);
		e->a = inner;
		TRY(grow(p, e, inner));
	} else {
		TRY(parse_primary(p, &e));
	}
	TRY(parse_postfix(p, &e));
	if (with_filter)
		TRY(parse_filter_expr(p, &e));
	*out = e;
	return 0;
}

static int
parse_pow(struct parser *p, struct expr **out)
{
	TRY(parse_unary(p, true, out));
	if (tok_is_op(cur(p), OP_POW))
		return parse_fail(p, cur(p)->line, "the ** operator is not supported");
	return 0;
}

static int
parse_math2(struct parser *p, struct expr **out)
{
	struct expr *right;

	TRY(parse_pow(p, out));
	for (;;) {
		struct token *tk = cur(p);
		if (tok_is_op(tk, OP_DIV))
			return parse_fail(p, tk->line, "the / operator (floats) is not supported");
		if (!tok_is_op(tk, OP_MUL) && !tok_is_op(tk, OP_FLOORDIV) && !tok_is_op(tk, OP_MOD))
			return 0;
		advance(p);
		TRY(parse_pow(p, &right));
		TRY(binary(p, EX_BIN, tk->op, tk->line, *out, right, out));
	}
}

static int
parse_concat(struct parser *p, struct expr **out)
{
	struct expr *first, *e, *next;

	TRY(parse_math2(p, &first));
	if (!tok_is_op(cur(p), OP_TILDE)) {
		*out = first;
		return 0;
	}
	NEW(e, EX_CONCAT, cur(p)->line);
	TRY(push_arg(p, e, first));
	while (tok_is_op(cur(p), OP_TILDE)) {
		advance(p);
		TRY(parse_math2(p, &next));
		TRY(push_arg(p, e, next));
	}
	*out = e;
	return 0;
}

static int
parse_math1(struct parser *p, struct expr **out)
{
	struct expr *right;

	TRY(parse_concat(p, out));
	for (;;) {
		struct token *tk = cur(p);
		if (!tok_is_op(tk, OP_ADD) && !tok_is_op(tk, OP_SUB))
			return 0;
		advance(p);
		TRY(parse_concat(p, &right));
		TRY(binary(p, EX_BIN, tk->op, tk->line, *out, right, out));
	}
}

/* cmp_op: the comparison operator at the cursor (consumed), or -1. */
static int
cmp_op(struct parser *p)
{
	struct token *tk = cur(p);

	if (tk->type == TK_OP && (tk->op == OP_EQ || tk->op == OP_NE || tk->op == OP_LT ||
				  tk->op == OP_LTEQ || tk->op == OP_GT || tk->op == OP_GTEQ)) {
		advance(p);
		return tk->op;
	}
	if (tok_is_name(tk, "in")) {
		advance(p);
		return OP_IN;
	}
	if (tok_is_name(tk, "not") && tok_is_name(peek(p), "in")) {
		advance(p);
		advance(p);
		return OP_NOTIN;
	}
	return -1;
}

static int
parse_compare(struct parser *p, struct expr **out)
{
	struct expr *first, *e = NULL, *next;
	int line = cur(p)->line, op;
	size_t nops = 0;

	TRY(parse_math1(p, &first));
	while ((op = cmp_op(p)) >= 0) {
		if (!e) {
			NEW(e, EX_CMP, line);
			TRY(push_arg(p, e, first));
		}
		TRY(parse_math1(p, &next));
		TRY(push_arg(p, e, next));
		if (nops % 8 == 0) {
			enum op *no = arena_alloc(&p->t->arena, (nops + 8) * sizeof(*no));
			if (!no)
				return parse_nomem(p);
			if (nops)
				memcpy(no, e->ops, nops * sizeof(*no));
			e->ops = no;
		}
		e->ops[nops++] = (enum op)op;
	}
	*out = e ? e : first;
	return 0;
}

static int
parse_not(struct parser *p, struct expr **out)
{
	struct token *tk = cur(p);
	struct expr *e, *inner;

	if (!tok_is_name(tk, "not"))
		return parse_compare(p, out);
	TRY(enter(p));
	advance(p);
	TRY(parse_not(p, &inner));
	p->depth--;
	NEW(e, EX_NOT, tk->line);
	e->a = inner;
	TRY(grow(p, e, inner));
	*out = e;
	return 0;
}

static int
parse_and(struct parser *p, struct expr **out)
{
	struct expr *right;

	TRY(parse_not(p, out));
	while (tok_is_name(cur(p), "and")) {
		int line = cur(p)->line;
		advance(p);
		TRY(parse_not(p, &right));
		TRY(binary(p, EX_AND, 0, line, *out, right, out));
	}
	return 0;
}

static int
parse_or(struct parser *p, struct expr **out)
{
	struct expr *right;

	TRY(parse_and(p, out));
	while (tok_is_name(cur(p), "or")) {
		int line = cur(p)->line;
		advance(p);
		TRY(parse_and(p, &right));
		TRY(binary(p, EX_OR, 0, line, *out, right, out));
	}
	return 0;
}

/* parse_condexpr: `a if cond else b`; without else the result is undefined. */
static int
parse_condexpr(struct parser *p, struct expr **out)
{
	struct expr *e, *test, *other = NULL;

	TRY(parse_or(p, out));
	while (tok_is_name(cur(p), "if")) {
		int line = cur(p)->line;
		advance(p);
		TRY(parse_or(p, &test));
		if (tok_is_name(cur(p), "else")) {
			advance(p);
			TRY(enter(p));
			TRY(parse_condexpr(p, &other));
			p->depth--;
		}
		NEW(e, EX_COND, line);
		e->a = test;
		e->b = *out;
		e->c = other;
		TRY(grow(p, e, test));
		TRY(grow(p, e, *out));
		TRY(grow(p, e, other));
		*out = e;
	}
	return 0;
}

static int
parse_expression(struct parser *p, bool with_condexpr, struct expr **out)
{
	int rc;

	TRY(enter(p));
	rc = with_condexpr ? parse_condexpr(p, out) : parse_or(p, out);
	p->depth--;
	return rc;
}

/* Statements */

static int subparse(struct parser *p, const char *const *end_tokens, struct stmt **out);

static struct stmt *
new_stmt(struct parser *p, enum st_kind kind, int line)
{
	struct stmt *s = arena_alloc(&p->t->arena, sizeof(*s));

	if (s) {
		s->kind = kind;
		s->line = line;
	}
	return s;
}

#define NEWST(var, kind, line)                                                                     \
	do {                                                                                       \
		if (!((var) = new_stmt(p, (kind), (line))))                                        \
			return parse_nomem(p);                                                     \
	} while (0)

static bool
at_end_token(struct parser *p, const char *const *end_tokens)
{
	for (; end_tokens && *end_tokens; end_tokens++)
		if (tok_is_name(cur(p), *end_tokens))
			return true;
	return false;
}

/* parse_statements: ':'? '%}' body, up to one of end_tokens (left at the cursor). */
static int
parse_statements(struct parser *p, const char *const *end_tokens, struct stmt **out)
{
	if (tok_is_op(cur(p), OP_COLON))
		advance(p);
	TRY(expect_type(p, TK_BLOCK_END, "end of statement block"));
	TRY(subparse(p, end_tokens, out));
	if (cur(p)->type == TK_EOF) {
		char want[160] = "";
		for (const char *const *e = end_tokens; *e; e++) {
			size_t n = strlen(want);
			snprintf(want + n, sizeof(want) - n, "%s'%s'", n ? " or " : "", *e);
		}
		return parse_fail(p, cur(p)->line,
				  "Unexpected end of template. Jinja was looking for the following "
				  "tags: %s.",
				  want);
	}
	return 0;
}

/* assign_target: the single name of {% set %} and {% for %}. */
static int
assign_target(struct parser *p, int *sym)
{
	struct token *tk = cur(p);

	if (tk->type != TK_NAME)
		return unexpected(p, "a name");
	if (tok_is_name(tk, "true") || tok_is_name(tk, "false") || tok_is_name(tk, "none") ||
	    tok_is_name(tk, "True") || tok_is_name(tk, "False") || tok_is_name(tk, "None"))
		return parse_fail(p, tk->line, "can't assign to 'Const'");
	TRY(intern(p, tk->p, tk->n, sym));
	advance(p);
	if (tok_is_op(cur(p), OP_COMMA))
		return parse_fail(p, cur(p)->line, "tuple assignment is not supported");
	if (tok_is_op(cur(p), OP_DOT))
		return parse_fail(p, cur(p)->line, "namespace assignment is not supported");
	return 0;
}

static int
parse_if(struct parser *p, struct stmt **out)
{
	static const char *const ends[] = {"elif", "else", "endif", NULL};
	static const char *const endif[] = {"endif", NULL};
	struct stmt *s, *node;

	NEWST(s, ST_IF, cur(p)->line);
	advance(p); /* if */
	node = s;
	for (;;) {
		TRY(parse_tuple(p, false, false, &node->e));
		TRY(parse_statements(p, ends, &node->body));
		if (tok_is_name(cur(p), "elif")) {
			struct stmt *elif;
			NEWST(elif, ST_IF, cur(p)->line);
			elif->is_elif = true;
			advance(p);
			node->orelse = elif;
			node = elif;
			continue;
		}
		if (tok_is_name(cur(p), "else")) {
			advance(p);
			TRY(parse_statements(p, endif, &node->orelse));
		}
		advance(p); /* endif */
		break;
	}
	*out = s;
	return 0;
}

/* body_uses_loop: does any expression under these statements name `loop`? (Jinja only
 * makes a loop context when it does, which matters for nested loops' else.) */
static int
parse_for(struct parser *p, struct stmt **out)
{
	static const char *const ends[] = {"endfor", "else", NULL};
	static const char *const endfor[] = {"endfor", NULL};
	struct stmt *s;

	NEWST(s, ST_FOR, cur(p)->line);
	advance(p); /* for */
	if (tok_is_name(cur(p), "loop"))
		return parse_fail(p, cur(p)->line,
				  "Can't assign to special loop variable in for-loop target");
	TRY(assign_target(p, &s->sym));
	if (!tok_is_name(cur(p), "in"))
		return unexpected(p, "'in'");
	advance(p);
	TRY(parse_tuple(p, false, false, &s->e));
	if (tok_is_name(cur(p), "if"))
		return parse_fail(p, cur(p)->line,
				  "loop filters ({%% for x in y if z %%}) are not supported");
	if (tok_is_name(cur(p), "recursive"))
		return parse_fail(p, cur(p)->line, "recursive loops are not supported");
	p->for_depth++;
	TRY(parse_statements(p, ends, &s->body));
	if (tok_is_name(cur(p), "else")) {
		advance(p);
		TRY(parse_statements(p, endfor, &s->orelse));
	}
	advance(p); /* endfor */
	p->for_depth--;
	*out = s;
	return 0;
}

static int
parse_set(struct parser *p, struct stmt **out)
{
	static const char *const endset[] = {"endset", NULL};
	struct stmt *s;
	int line = cur(p)->line;

	advance(p); /* set */
	if (p->for_depth > 0 && tok_is_name(cur(p), "loop"))
		return parse_fail(p, line,
				  "Can't assign to special loop variable in for-loop target");
	NEWST(s, ST_SET, line);
	TRY(assign_target(p, &s->sym));
	if (tok_is_op(cur(p), OP_ASSIGN)) {
		advance(p);
		TRY(parse_tuple(p, true, false, &s->e));
		*out = s;
		return 0;
	}
	if (tok_is_op(cur(p), OP_PIPE))
		return parse_fail(p, cur(p)->line, "filtered {%% set %%} blocks are not supported");
	s->kind = ST_SETBLOCK;
	TRY(parse_statements(p, endset, &s->body));
	advance(p); /* endset */
	*out = s;
	return 0;
}

/* parse_print: {% print a, b %} prints each expression; {% print %} prints nothing. */
static int
parse_print(struct parser *p, struct stmt **out)
{
	struct stmt **tail = out;

	*out = NULL;
	advance(p);
	while (cur(p)->type != TK_BLOCK_END) {
		struct stmt *s;
		if (*out)
			TRY(expect_op(p, OP_COMMA, "','"));
		NEWST(s, ST_OUTPUT, cur(p)->line);
		TRY(parse_expression(p, true, &s->e));
		*tail = s;
		tail = &s->next;
	}
	if (!*out)
		NEWST(*out, ST_TEXT, cur(p)->line);
	return 0;
}

static int
parse_statement(struct parser *p, struct stmt **out)
{
	static const char *const unsupported[] = {
		"block",      "extends", "macro", "include", "import", "from",	   "with",
		"autoescape", "filter",	 "call",  "do",	     "break",  "continue", NULL};
	struct token *tk = cur(p);
	int rc;

	if (tk->type != TK_NAME)
		return parse_fail(p, tk->line, "tag name expected");
	TRY(enter(p));
	if (tok_is_name(tk, "if"))
		rc = parse_if(p, out);
	else if (tok_is_name(tk, "for"))
		rc = parse_for(p, out);
	else if (tok_is_name(tk, "set"))
		rc = parse_set(p, out);
	else if (tok_is_name(tk, "print"))
		rc = parse_print(p, out);
	else {
		for (const char *const *u = unsupported; *u; u++)
			if (tok_is_name(tk, *u))
				return parse_fail(p, tk->line, "the '%s' tag is not supported", *u);
		return parse_fail(p, tk->line, "Encountered unknown tag '%.*s'.",
				  (int)(tk->n > 40 ? 40 : tk->n), tk->p);
	}
	p->depth--;
	return rc;
}

/* subparse: statements until EOF or a block whose tag is one of end_tokens. */
static int
subparse(struct parser *p, const char *const *end_tokens, struct stmt **out)
{
	struct stmt **tail = out, *s = NULL;

	*out = NULL;
	for (;;) {
		struct token *tk = cur(p);
		if (tk->type == TK_EOF)
			return 0;
		if (tk->type == TK_DATA) {
			NEWST(s, ST_TEXT, tk->line);
			s->text = tk->p;
			s->len = tk->n;
			advance(p);
		} else if (tk->type == TK_VAR_BEGIN) {
			NEWST(s, ST_OUTPUT, tk->line);
			advance(p);
			TRY(parse_tuple(p, true, false, &s->e));
			TRY(expect_type(p, TK_VAR_END, "end of print statement"));
		} else if (tk->type == TK_BLOCK_BEGIN) {
			advance(p);
			if (at_end_token(p, end_tokens))
				return 0;
			TRY(parse_statement(p, &s));
			TRY(expect_type(p, TK_BLOCK_END, "end of statement block"));
		} else {
			return unexpected(p, "template data or a tag");
		}
		*tail = s;
		while (s->next) /* {% print a, b %} is several statements */
			s = s->next;
		tail = &s->next;
	}
}

/* ------------------------------------------------------------------------------ */
/* Scoping (jinja2.idtracking): which names a frame binds to "undefined" on entry.
 *
 * Jinja resolves names statically per frame (the template, a for body, a for else, a
 * {% set %} block). A name assigned in a frame whose first mention there is the
 * assignment, and that no enclosing frame mentions, starts out undefined in that frame
 * even when the caller passed a variable of that name; every other lookup behaves like
 * a plain scope chain. So `{% for %}{{ x }}{% endfor %}{% set x = 1 %}` prints nothing
 * for x. We compute those names here and bind them when a frame is entered. */

enum { REF_NONE, REF_LOAD, REF_UNDEF };

struct frame_state {
	unsigned char *ref;    /* per symbol: REF_* */
	unsigned char *stored; /* per symbol: assigned in this frame */
	const struct frame_state *parent;
};

struct analyzer {
	struct template *t;
	size_t nsyms;
	int loop_sym;
	int rc;
};

static bool
ancestor_has(const struct frame_state *f, int sym)
{
	for (; f; f = f->parent)
		if (f->ref[sym] != REF_NONE)
			return true;
	return false;
}

static void
note_load(struct frame_state *f, int sym)
{
	if (f->ref[sym] == REF_NONE && !ancestor_has(f->parent, sym))
		f->ref[sym] = REF_LOAD;
}

static void
note_store(struct frame_state *f, int sym)
{
	f->stored[sym] = 1;
	if (f->ref[sym] == REF_NONE)
		f->ref[sym] = ancestor_has(f->parent, sym) ? REF_LOAD : REF_UNDEF;
}

static void
note_expr(struct frame_state *f, const struct expr *e)
{
	if (!e)
		return;
	if (e->kind == EX_NAME)
		note_load(f, e->sym);
	note_expr(f, e->a);
	note_expr(f, e->b);
	note_expr(f, e->c);
	for (size_t k = 0; k < e->nargs; k++)
		note_expr(f, e->args[k]);
}

static int frame_stmts(struct analyzer *an, struct frame_state *f, const struct stmt *s);

static int
state_copy(struct analyzer *an, const struct frame_state *src, struct frame_state *dst)
{
	dst->ref = malloc(an->nsyms ? an->nsyms * 2 : 1);
	if (!dst->ref)
		return ERR_NOMEM;
	dst->stored = dst->ref + an->nsyms;
	memcpy(dst->ref, src->ref, an->nsyms * 2 > 0 ? an->nsyms : 0);
	memcpy(dst->stored, src->stored, an->nsyms);
	dst->parent = src->parent;
	return 0;
}

/* branch_update: merges the body, elif and else branches of an if (Symbols.branch_update):
 * a name assigned in only some branches is looked up normally afterwards. */
static void
branch_update(struct analyzer *an, struct frame_state *f, struct frame_state br[3])
{
	for (size_t sym = 0; sym < an->nsyms; sym++) {
		int count = 0;
		for (int k = 0; k < 3; k++) {
			if (br[k].stored[sym] && !f->stored[sym])
				count++;
			if (br[k].ref[sym] != REF_NONE)
				f->ref[sym] = br[k].ref[sym];
		}
		for (int k = 0; k < 3; k++)
			f->stored[sym] |= br[k].stored[sym];
		if (count > 0 && count < 3 && f->ref[sym] == REF_UNDEF)
			f->ref[sym] = REF_LOAD;
	}
}

static int
frame_if(struct analyzer *an, struct frame_state *f, const struct stmt *s)
{
	struct frame_state br[3] = {{0}};
	int rc = 0;

	note_expr(f, s->e);
	for (int k = 0; k < 3 && !rc; k++)
		rc = state_copy(an, f, &br[k]);
	if (!rc)
		rc = frame_stmts(an, &br[0], s->body);
	if (!rc && s->orelse && s->orelse->is_elif)
		rc = frame_if(an, &br[1], s->orelse);
	else if (!rc)
		rc = frame_stmts(an, &br[2], s->orelse);
	if (!rc)
		branch_update(an, f, br);
	for (int k = 0; k < 3; k++)
		free(br[k].ref);
	return rc;
}

static int
frame_stmts(struct analyzer *an, struct frame_state *f, const struct stmt *s)
{
	int rc = 0;

	for (; s && !rc; s = s->next) {
		switch (s->kind) {
		case ST_TEXT: break;
		case ST_OUTPUT: note_expr(f, s->e); break;
		case ST_SET:
			note_expr(f, s->e);
			note_store(f, s->sym);
			break;
		case ST_SETBLOCK: note_store(f, s->sym); break;
		case ST_FOR: note_expr(f, s->e); break;
		case ST_IF: rc = frame_if(an, f, s); break;
		}
	}
	return rc;
}

static int analyze_frame(struct analyzer *an, const struct frame_state *parent, struct stmt *body,
			 int param, int param2, struct frame *out);

/* nested_frames: analyzes the frames nested in these statements, `f` being their parent. */
static int
nested_frames(struct analyzer *an, const struct frame_state *f, struct stmt *s)
{
	int rc = 0;

	for (; s && !rc; s = s->next) {
		if (s->kind == ST_IF) {
			rc = nested_frames(an, f, s->body);
			if (!rc)
				rc = nested_frames(an, f, s->orelse);
		} else if (s->kind == ST_FOR) {
			rc = analyze_frame(an, f, s->body, s->sym, s->uses_loop ? an->loop_sym : -1,
					   &s->fbody);
			if (!rc)
				rc = analyze_frame(an, f, s->orelse, -1, -1, &s->felse);
		} else if (s->kind == ST_SETBLOCK) {
			rc = analyze_frame(an, f, s->body, -1, -1, &s->fbody);
		}
	}
	return rc;
}

static int
analyze_frame(struct analyzer *an, const struct frame_state *parent, struct stmt *body, int param,
	      int param2, struct frame *out)
{
	struct frame_state f = {.parent = parent};
	size_t n = 0;
	int *pre;
	int rc;

	f.ref = calloc(an->nsyms ? an->nsyms * 2 : 1, 1);
	if (!f.ref)
		return ERR_NOMEM;
	f.stored = f.ref + an->nsyms;
	if (param >= 0)
		f.ref[param] = REF_LOAD;
	if (param2 >= 0)
		f.ref[param2] = REF_LOAD;
	rc = frame_stmts(an, &f, body);
	for (size_t k = 0; !rc && k < an->nsyms; k++)
		n += f.ref[k] == REF_UNDEF;
	out->n = 0;
	if (!rc && n) {
		pre = arena_alloc(&an->t->arena, n * sizeof(*pre));
		if (!pre)
			rc = an->t->arena.err;
		for (size_t k = 0; !rc && k < an->nsyms; k++)
			if (f.ref[k] == REF_UNDEF)
				pre[out->n++] = (int)k;
		out->prebound = pre;
	}
	if (!rc)
		rc = nested_frames(an, &f, body);
	free(f.ref);
	return rc;
}

/* mark_loop_use: sets uses_loop on every for whose body (including nested loops, as
 * Jinja's find_undeclared does) names `loop`. */
static bool expr_names(const struct expr *e, int sym);

static bool
stmts_name(struct stmt *s, int sym)
{
	bool any = false;

	for (; s; s = s->next) {
		if (expr_names(s->e, sym))
			any = true;
		if (s->kind == ST_FOR) {
			s->uses_loop = stmts_name(s->body, sym);
			if (s->uses_loop)
				any = true;
			if (stmts_name(s->orelse, sym))
				any = true;
		} else {
			/* Both branches are walked: nested loops need their flag set. */
			bool in_body = stmts_name(s->body, sym);
			bool in_else = stmts_name(s->orelse, sym);
			if (in_body || in_else)
				any = true;
		}
	}
	return any;
}

static bool
expr_names(const struct expr *e, int sym)
{
	if (!e)
		return false;
	if (e->kind == EX_NAME && e->sym == sym)
		return true;
	if (expr_names(e->a, sym) || expr_names(e->b, sym) || expr_names(e->c, sym))
		return true;
	for (size_t k = 0; k < e->nargs; k++)
		if (expr_names(e->args[k], sym))
			return true;
	return false;
}

/* ------------------------------------------------------------------------------ */
/* Compiling */

/* normalize: Jinja reads \r\n and \r as \n and drops one trailing newline. */
static char *
normalize(struct arena *a, const char *src, size_t len, size_t *outlen)
{
	char *out = arena_alloc(a, len + 1);
	size_t n = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (src[i] == '\r') {
			out[n++] = '\n';
			if (i + 1 < len && src[i + 1] == '\n')
				i++;
		} else {
			out[n++] = src[i];
		}
	}
	if (n > 0 && out[n - 1] == '\n')
		n--;
	out[n] = 0;
	*outlen = n;
	return out;
}

static int
compile_body(struct template *t, const char *src, size_t len, char *err, size_t errlen)
{
	struct lexer lx = {.t = t, .line = 1, .err = err, .errlen = errlen};
	struct parser p = {.t = t, .err = err, .errlen = errlen};
	struct analyzer an = {.t = t};
	struct frame root = {0};
	int rc;

	lx.src = normalize(&t->arena, src, len, &lx.len);
	if (!lx.src)
		return fail_at(t->name, 1, err, errlen, t->arena.err, "%s", err_str(t->arena.err));
	if ((rc = lex_all(&lx)) != 0)
		return rc;
	p.toks = lx.toks;
	p.ntok = lx.ntok;
	if ((rc = subparse(&p, NULL, &t->body)) != 0)
		return rc;
	if ((rc = intern(&p, "loop", 4, &an.loop_sym)) != 0)
		return rc;
	an.nsyms = t->nsyms;
	t->loop_sym = an.loop_sym;
	stmts_name(t->body, an.loop_sym);
	rc = analyze_frame(&an, NULL, t->body, -1, -1, &root);
	if (rc)
		return fail_at(t->name, 1, err, errlen, rc, "%s", err_str(rc));
	t->root_prebound = root.prebound;
	t->nroot_prebound = root.n;
	return 0;
}

int
template_compile(const char *name, const char *src, size_t len, struct template **out, char *err,
		 size_t errlen)
{
	struct template *t;
	int rc;

	if (err && errlen)
		err[0] = 0;
	*out = NULL;
	if (!name)
		name = "<template>";
	if (!src && len)
		return fail_at(name, 0, err, errlen, ERR_INVAL, "no template source");
	if (len > TEMPLATE_MAX_SIZE)
		return fail_at(name, 0, err, errlen, ERR_TOOBIG, "template larger than %d bytes",
			       TEMPLATE_MAX_SIZE);
	if (len && !utf8_valid(src, len))
		return fail_at(name, 0, err, errlen, ERR_INVAL, "template is not valid UTF-8");
	t = calloc(1, sizeof(*t));
	if (!t)
		return ERR_NOMEM;
	t->name = strdup(name);
	arena_init(&t->arena, COMPILE_MAX_MEMORY);
	if (!t->name) {
		template_free(t);
		return ERR_NOMEM;
	}
	rc = compile_body(t, src ? src : "", len, err, errlen);
	if (rc) {
		template_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int
template_compile_file(const char *path, struct template **out, char *err, size_t errlen)
{
	struct buf b;
	char chunk[8192];
	ssize_t n;
	int fd, rc = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_at(path, 0, err, errlen, ERR_IO, "%s", strerror(errno));
	buf_init(&b, TEMPLATE_MAX_SIZE);
	while (!rc && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = fail_at(path, 0, err, errlen, ERR_IO, "%s", strerror(errno));
		else if ((rc = buf_add(&b, chunk, (size_t)n)) != 0)
			rc = fail_at(path, 0, err, errlen, rc, "template larger than %d bytes",
				     TEMPLATE_MAX_SIZE);
	}
	close(fd);
	if (!rc)
		rc = template_compile(path, buf_str(&b), b.len, out, err, errlen);
	buf_free(&b);
	return rc;
}

void
template_free(struct template *t)
{
	if (!t)
		return;
	arena_free(&t->arena);
	free(t->name);
	free(t);
}

/* ------------------------------------------------------------------------------ */
/* Rendering */

struct binding {
	int sym;
	struct tv val;
};

struct scope {
	struct scope *parent;
	struct binding *b;
	size_t n, cap;
};

struct render {
	const struct template *t;
	const struct tv *globals; /* per symbol: the caller's variable or undefined */
	struct scope *scope;
	struct arena arena;
	size_t max_out;
	unsigned long steps;
	char *err;
	size_t errlen;
};

static int rfail(struct render *r, int line, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
rfail(struct render *r, int line, int rc, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail_at(r->t->name, line, r->err, r->errlen, rc, "%s", msg);
}

static int
rnomem(struct render *r, int line)
{
	int rc = r->arena.err ? r->arena.err : ERR_NOMEM;
	return rfail(r, line, rc, "%s",
		     rc == ERR_TOOBIG ? "render memory limit reached" : err_str(rc));
}

static int
step(struct render *r, int line)
{
	if (++r->steps > TEMPLATE_MAX_STEPS)
		return rfail(r, line, ERR_TOOBIG, "render step limit reached");
	return 0;
}

static int
undefined_error(struct render *r, int line, const struct tv *v)
{
	if (v->u.undef_name)
		return rfail(r, line, ERR_INVAL, "'%s' is undefined", v->u.undef_name);
	return rfail(r, line, ERR_INVAL, "an undefined value was used");
}

static int
bind(struct render *r, struct scope *s, int sym, struct tv val, int line)
{
	for (size_t k = 0; k < s->n; k++)
		if (s->b[k].sym == sym) {
			s->b[k].val = val;
			return 0;
		}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct binding *nb = arena_alloc(&r->arena, cap * sizeof(*nb));
		if (!nb)
			return rnomem(r, line);
		if (s->n)
			memcpy(nb, s->b, s->n * sizeof(*nb));
		s->b = nb;
		s->cap = cap;
	}
	s->b[s->n].sym = sym;
	s->b[s->n++].val = val;
	return 0;
}

static int
bind_prebound(struct render *r, struct scope *s, const int *syms, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		int rc = bind(r, s, syms[k], tv_undef(r->t->syms[syms[k]]), 0);
		if (rc)
			return rc;
	}
	return 0;
}

static struct tv
lookup(const struct render *r, int sym)
{
	for (const struct scope *s = r->scope; s; s = s->parent)
		for (size_t k = s->n; k-- > 0;)
			if (s->b[k].sym == sym)
				return s->b[k].val;
	return r->globals[sym];
}

/* Python truthiness. */
static bool
truthy(const struct tv *v)
{
	switch (v->type) {
	case TV_UNDEF:
	case TV_NONE: return false;
	case TV_BOOL: return v->u.b;
	case TV_INT: return v->u.i != 0;
	case TV_STR: return v->u.s.n != 0;
	case TV_LIST: return v->u.l->n != 0;
	default: return true;
	}
}

static long long
loop_length(const struct loop_state *ls)
{
	return (long long)ls->seq->n;
}

static int emit_str(struct buf *b, const struct tv *v);

/* emit_repr: Python's repr() of a string. */
static int
emit_repr_str(struct buf *b, const char *p, size_t n)
{
	bool has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
	char q = (has_sq && !has_dq) ? '"' : '\'', tmp[16];
	size_t i = 0;
	int rc = buf_addc(b, q);

	while (!rc && i < n) {
		size_t start = i;
		uint32_t c = utf8_next(p, n, &i);
		if (c == (uint32_t)q || c == '\\')
			rc = buf_addc(b, '\\') ? ERR_TOOBIG : buf_addc(b, (char)c);
		else if (c == '\t')
			rc = buf_adds(b, "\\t");
		else if (c == '\n')
			rc = buf_adds(b, "\\n");
		else if (c == '\r')
			rc = buf_adds(b, "\\r");
		else if (is_py_printable(c))
			rc = buf_add(b, p + start, i - start);
		else if (c <= 0xff)
			rc = buf_add(b, tmp, (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c));
		else if (c <= 0xffff)
			rc = buf_add(b, tmp, (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c));
		else
			rc = buf_add(b, tmp, (size_t)snprintf(tmp, sizeof(tmp), "\\U%08x", c));
	}
	return rc ? rc : buf_addc(b, q);
}

static int
emit_repr(struct buf *b, const struct tv *v)
{
	if (v->type == TV_STR)
		return emit_repr_str(b, v->u.s.p, v->u.s.n);
	if (v->type == TV_UNDEF)
		return buf_adds(b, "Undefined");
	return emit_str(b, v);
}

/* emit_str: appends Python's str() of a value (what {{ }} prints). */
static int
emit_str(struct buf *b, const struct tv *v)
{
	int rc = 0;

	switch (v->type) {
	case TV_UNDEF: return 0;
	case TV_NONE: return buf_adds(b, "None");
	case TV_BOOL: return buf_adds(b, v->u.b ? "True" : "False");
	case TV_INT: return buf_printf(b, "%lld", v->u.i);
	case TV_STR: return buf_add(b, v->u.s.p, v->u.s.n);
	case TV_LOOP:
		return buf_printf(b, "<LoopContext %lld/%lld>", v->u.loop->index0 + 1,
				  loop_length(v->u.loop));
	case TV_LIST:
		rc = buf_addc(b, '[');
		for (size_t k = 0; !rc && k < v->u.l->n; k++) {
			if (k)
				rc = buf_adds(b, ", ");
			if (!rc)
				rc = emit_repr(b, &v->u.l->items[k]);
		}
		return rc ? rc : buf_addc(b, ']');
	}
	return ERR_INTERNAL;
}

/* to_str: str() of a value as a string value (plain, not markup). */
static int
to_str(struct render *r, int line, const struct tv *v, struct tv *out)
{
	struct buf b;
	char *p;
	int rc;

	if (v->type == TV_STR) {
		*out = tv_str(v->u.s.p, v->u.s.n, false);
		return 0;
	}
	buf_init(&b, TEMPLATE_MAX_WORK);
	rc = emit_str(&b, v);
	if (rc) {
		buf_free(&b);
		return rfail(r, line, rc, "value too large to convert to a string");
	}
	p = arena_dup(&r->arena, buf_str(&b), b.len);
	*out = tv_str(p, b.len, false);
	buf_free(&b);
	return p ? 0 : rnomem(r, line);
}

/* soft_str: like to_str, but a string keeps its markup flag (jinja2's soft_str). */
static int
soft_str(struct render *r, int line, const struct tv *v, struct tv *out)
{
	if (v->type == TV_STR) {
		*out = *v;
		return 0;
	}
	return to_str(r, line, v, out);
}

static const char *
type_name(const struct tv *v)
{
	switch (v->type) {
	case TV_UNDEF: return "Undefined";
	case TV_NONE: return "NoneType";
	case TV_BOOL: return "bool";
	case TV_INT: return "int";
	case TV_STR: return "str";
	case TV_LIST: return "list";
	default: return "LoopContext";
	}
}

static bool
is_num(const struct tv *v)
{
	return v->type == TV_INT || v->type == TV_BOOL;
}

static long long
num(const struct tv *v)
{
	return v->type == TV_BOOL ? (long long)v->u.b : v->u.i;
}

static bool
str_eq(const struct tv *a, const struct tv *b)
{
	return a->u.s.n == b->u.s.n && memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
}

/* py_eq: Python's == (1 == True; Undefined equals only Undefined). */
static bool
py_eq(const struct tv *a, const struct tv *b)
{
	if (is_num(a) && is_num(b))
		return num(a) == num(b);
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case TV_UNDEF:
	case TV_NONE: return true;
	case TV_STR: return str_eq(a, b);
	case TV_LOOP: return a->u.loop == b->u.loop;
	case TV_LIST:
		if (a->u.l->n != b->u.l->n)
			return false;
		for (size_t k = 0; k < a->u.l->n; k++)
			if (!py_eq(&a->u.l->items[k], &b->u.l->items[k]))
				return false;
		return true;
	default: return false;
	}
}

/* py_order: Python's ordering; *cmp < 0, 0, > 0. Fails like Python for mixed types. */
static int
py_order(struct render *r, int line, const struct tv *a, const struct tv *b, int *cmp)
{
	if (a->type == TV_UNDEF)
		return undefined_error(r, line, a);
	if (b->type == TV_UNDEF)
		return undefined_error(r, line, b);
	if (is_num(a) && is_num(b)) {
		*cmp = num(a) < num(b) ? -1 : num(a) > num(b);
		return 0;
	}
	if (a->type == TV_STR && b->type == TV_STR) {
		size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
		int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
		*cmp = c ? c : (a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n);
		return 0;
	}
	if (a->type == TV_LIST && b->type == TV_LIST) {
		size_t n = a->u.l->n < b->u.l->n ? a->u.l->n : b->u.l->n;
		for (size_t k = 0; k < n; k++)
			if (!py_eq(&a->u.l->items[k], &b->u.l->items[k]))
				return py_order(r, line, &a->u.l->items[k], &b->u.l->items[k], cmp);
		*cmp = a->u.l->n < b->u.l->n ? -1 : a->u.l->n > b->u.l->n;
		return 0;
	}
	return rfail(r, line, ERR_INVAL, "'<' not supported between instances of '%s' and '%s'",
		     type_name(a), type_name(b));
}

/* py_in: Python's `a in b`. */
static int
py_in(struct render *r, int line, const struct tv *a, const struct tv *b, bool *res)
{
	*res = false;
	switch (b->type) {
	case TV_UNDEF: return 0; /* iterating Undefined yields nothing */
	case TV_STR:
		if (a->type != TV_STR)
			return rfail(r, line, ERR_INVAL,
				     "'in <string>' requires string as left operand, not %s",
				     type_name(a));
		if (a->u.s.n == 0)
			*res = true;
		else if (a->u.s.n <= b->u.s.n)
			*res = memmem(b->u.s.p, b->u.s.n, a->u.s.p, a->u.s.n) != NULL;
		return 0;
	case TV_LIST:
		for (size_t k = 0; k < b->u.l->n && !*res; k++)
			*res = py_eq(a, &b->u.l->items[k]);
		return 0;
	default:
		return rfail(r, line, ERR_INVAL, "argument of type '%s' is not iterable",
			     type_name(b));
	}
}

static int
compare(struct render *r, int line, enum op op, const struct tv *a, const struct tv *b, bool *res)
{
	int cmp = 0, rc;

	switch (op) {
	case OP_EQ: *res = py_eq(a, b); return 0;
	case OP_NE: *res = !py_eq(a, b); return 0;
	case OP_IN: return py_in(r, line, a, b, res);
	case OP_NOTIN:
		rc = py_in(r, line, a, b, res);
		*res = !*res;
		return rc;
	default: break;
	}
	if ((rc = py_order(r, line, a, b, &cmp)) != 0)
		return rc;
	*res = op == OP_LT ? cmp < 0 : op == OP_LTEQ ? cmp <= 0 : op == OP_GT ? cmp > 0 : cmp >= 0;
	return 0;
}

/* new_str: an arena string of n bytes to fill. */
static char *
new_str(struct render *r, size_t n)
{
	return arena_alloc(&r->arena, n + 1);
}

/* escape_html: markupsafe.escape of a string. */
static int
escape_html(struct render *r, int line, const struct tv *s, struct tv *out)
{
	struct buf b;
	char *p;
	int rc = 0;

	buf_init(&b, TEMPLATE_MAX_WORK);
	for (size_t k = 0; k < s->u.s.n && !rc; k++) {
		char c = s->u.s.p[k];
		switch (c) {
		case '&': rc = buf_adds(&b, "&amp;"); break;
		case '<': rc = buf_adds(&b, "&lt;"); break;
		case '>': rc = buf_adds(&b, "&gt;"); break;
		case '"': rc = buf_adds(&b, "&#34;"); break;
		case '\'': rc = buf_adds(&b, "&#39;"); break;
		default: rc = buf_addc(&b, c); break;
		}
	}
	p = rc ? NULL : arena_dup(&r->arena, buf_str(&b), b.len);
	*out = tv_str(p, b.len, true);
	buf_free(&b);
	if (rc)
		return rfail(r, line, rc, "string too large");
	return p ? 0 : rnomem(r, line);
}

static int
overflow(struct render *r, int line)
{
	return rfail(r, line, ERR_INVAL,
		     "integer overflow (numbers beyond 64 bits are not supported)");
}

/* repeat: s * count (strings and lists). */
static int
repeat(struct render *r, int line, const struct tv *s, long long count, struct tv *out)
{
	size_t unit, total;

	if (count < 0)
		count = 0;
	if (s->type == TV_STR) {
		char *p;
		unit = s->u.s.n;
		if (unit && (unsigned long long)count > TEMPLATE_MAX_WORK / unit)
			return rfail(r, line, ERR_TOOBIG, "string repetition too large");
		total = unit * (size_t)count;
		if (!(p = new_str(r, total)))
			return rnomem(r, line);
		for (long long k = 0; k < count; k++)
			memcpy(p + (size_t)k * unit, s->u.s.p, unit);
		*out = tv_str(p, total, s->markup);
		return 0;
	}
	struct template_list *l = arena_alloc(&r->arena, sizeof(*l));
	unit = s->u.l->n;
	if (unit && (unsigned long long)count > TEMPLATE_MAX_WORK / sizeof(struct tv) / unit)
		return rfail(r, line, ERR_TOOBIG, "list repetition too large");
	total = unit * (size_t)count;
	if (!l || !(l->items = arena_alloc(&r->arena, (total ? total : 1) * sizeof(struct tv))))
		return rnomem(r, line);
	for (size_t k = 0; k < total; k++)
		l->items[k] = s->u.l->items[k % unit];
	l->n = l->cap = total;
	out->type = TV_LIST;
	out->markup = false;
	out->u.l = l;
	return 0;
}

static int
concat2(struct render *r, int line, const struct tv *a, const struct tv *b, struct tv *out)
{
	if (a->type == TV_STR) {
		char *p;
		struct tv ea = *a, eb = *b;
		int rc = 0;
		/* Markup + str escapes the str (markupsafe.Markup.__add__/__radd__). */
		if (a->markup && !b->markup)
			rc = escape_html(r, line, b, &eb);
		else if (b->markup && !a->markup)
			rc = escape_html(r, line, a, &ea);
		if (rc)
			return rc;
		if (ea.u.s.n + eb.u.s.n > TEMPLATE_MAX_WORK)
			return rfail(r, line, ERR_TOOBIG, "string too large");
		if (!(p = new_str(r, ea.u.s.n + eb.u.s.n)))
			return rnomem(r, line);
		if (ea.u.s.n)
			memcpy(p, ea.u.s.p, ea.u.s.n);
		if (eb.u.s.n)
			memcpy(p + ea.u.s.n, eb.u.s.p, eb.u.s.n);
		*out = tv_str(p, ea.u.s.n + eb.u.s.n, a->markup || b->markup);
		return 0;
	}
	struct template_list *l = arena_alloc(&r->arena, sizeof(*l));
	size_t n = a->u.l->n + b->u.l->n;
	if (!l || !(l->items = arena_alloc(&r->arena, (n ? n : 1) * sizeof(struct tv))))
		return rnomem(r, line);
	for (size_t k = 0; k < a->u.l->n; k++)
		l->items[k] = a->u.l->items[k];
	for (size_t k = 0; k < b->u.l->n; k++)
		l->items[a->u.l->n + k] = b->u.l->items[k];
	l->n = l->cap = n;
	out->type = TV_LIST;
	out->markup = false;
	out->u.l = l;
	return 0;
}

static const char *
op_text(enum op op)
{
	switch (op) {
	case OP_ADD: return "+";
	case OP_SUB: return "-";
	case OP_MUL: return "*";
	case OP_FLOORDIV: return "//";
	default: return "%";
	}
}

static int
arith(struct render *r, int line, enum op op, const struct tv *a, const struct tv *b,
      struct tv *out)
{
	long long x, y, z;

	if (a->type == TV_UNDEF)
		return undefined_error(r, line, a);
	if (b->type == TV_UNDEF)
		return undefined_error(r, line, b);
	if (is_num(a) && is_num(b)) {
		x = num(a);
		y = num(b);
		switch (op) {
		case OP_ADD:
			if (__builtin_add_overflow(x, y, &z))
				return overflow(r, line);
			break;
		case OP_SUB:
			if (__builtin_sub_overflow(x, y, &z))
				return overflow(r, line);
			break;
		case OP_MUL:
			if (__builtin_mul_overflow(x, y, &z))
				return overflow(r, line);
			break;
		default:
			if (y == 0)
				return rfail(r, line, ERR_INVAL,
					     "integer division or modulo by zero");
			if (x == LLONG_MIN && y == -1)
				return overflow(r, line);
			z = op == OP_FLOORDIV ? x / y : x % y;
			/* Python floors; C truncates toward zero. */
			if ((x % y != 0) && ((x < 0) != (y < 0)))
				z = op == OP_FLOORDIV ? z - 1 : z + y;
			break;
		}
		*out = tv_int(z);
		return 0;
	}
	if (op == OP_ADD && ((a->type == TV_STR && b->type == TV_STR) ||
			     (a->type == TV_LIST && b->type == TV_LIST)))
		return concat2(r, line, a, b, out);
	if (op == OP_MUL && (a->type == TV_STR || a->type == TV_LIST) && is_num(b))
		return repeat(r, line, a, num(b), out);
	if (op == OP_MUL && is_num(a) && (b->type == TV_STR || b->type == TV_LIST))
		return repeat(r, line, b, num(a), out);
	return rfail(r, line, ERR_INVAL, "unsupported operand type(s) for %s: '%s' and '%s'",
		     op_text(op), type_name(a), type_name(b));
}

static int eval(struct render *r, const struct expr *e, struct tv *out);

/* getattr: x.name (jinja2 Environment.getattr): loop attributes; on anything else a
 * missing attribute is undefined, and on undefined it is an error. */
static int
getattr_(struct render *r, int line, const struct tv *obj, const char *name, struct tv *out)
{
	const struct loop_state *ls;
	long long i0, len;

	if (obj->type == TV_UNDEF)
		return undefined_error(r, line, obj);
	*out = tv_undef(NULL);
	if (obj->type != TV_LOOP)
		return 0;
	ls = obj->u.loop;
	i0 = ls->index0;
	len = loop_length(ls);
	if (strcmp(name, "index") == 0)
		*out = tv_int(i0 + 1);
	else if (strcmp(name, "index0") == 0)
		*out = tv_int(i0);
	else if (strcmp(name, "revindex") == 0)
		*out = tv_int(len - i0);
	else if (strcmp(name, "revindex0") == 0)
		*out = tv_int(len - i0 - 1);
	else if (strcmp(name, "first") == 0)
		*out = tv_bool(i0 == 0);
	else if (strcmp(name, "last") == 0)
		*out = tv_bool(i0 == len - 1);
	else if (strcmp(name, "length") == 0)
		*out = tv_int(len);
	else if (strcmp(name, "depth") == 0)
		*out = tv_int(1);
	else if (strcmp(name, "depth0") == 0)
		*out = tv_int(0);
	else if (strcmp(name, "previtem") == 0 && i0 > 0)
		*out = ls->seq->items[i0 - 1];
	else if (strcmp(name, "nextitem") == 0 && i0 + 1 < len)
		*out = ls->seq->items[i0 + 1];
	return 0;
}

/* nth_char: the k-th code point of a string as a string. */
static int
nth_char(struct render *r, const struct tv *s, long long k, struct tv *out)
{
	size_t i = 0, count = 0, start;

	while (i < s->u.s.n) {
		start = i;
		utf8_next(s->u.s.p, s->u.s.n, &i);
		if ((long long)count++ == k) {
			*out = tv_str(s->u.s.p + start, i - start, false);
			return 0;
		}
	}
	*out = tv_undef(NULL);
	(void)r;
	return 0;
}

/* getitem: x[i] (jinja2 Environment.getitem): out of range is undefined. */
static int
getitem(struct render *r, int line, const struct tv *obj, const struct tv *idx, struct tv *out)
{
	long long k, len;

	if (obj->type == TV_UNDEF)
		return undefined_error(r, line, obj);
	*out = tv_undef(NULL);
	if ((obj->type != TV_LIST && obj->type != TV_STR) || !is_num(idx))
		return 0;
	k = num(idx);
	len = obj->type == TV_LIST ? (long long)obj->u.l->n
				   : (long long)utf8_count(obj->u.s.p, obj->u.s.n);
	if (k < 0)
		k += len;
	if (k < 0 || k >= len)
		return 0;
	if (obj->type == TV_LIST) {
		*out = obj->u.l->items[k];
		return 0;
	}
	return nth_char(r, obj, k, out);
}

/* Iteration over a value, as Python's iter(): lists, strings (code points), Undefined
 * (nothing). The items are materialised as a list so that loop.length works. */
static int
as_sequence(struct render *r, int line, const struct tv *v, const struct template_list **out)
{
	static const struct template_list empty = {0};
	struct template_list *l;
	size_t n, i = 0, k = 0;

	if (v->type == TV_LIST) {
		*out = v->u.l;
		return 0;
	}
	if (v->type == TV_UNDEF) {
		*out = &empty;
		return 0;
	}
	if (v->type != TV_STR)
		return rfail(r, line, ERR_INVAL, "'%s' object is not iterable", type_name(v));
	n = utf8_count(v->u.s.p, v->u.s.n);
	l = arena_alloc(&r->arena, sizeof(*l));
	if (!l || !(l->items = arena_alloc(&r->arena, (n ? n : 1) * sizeof(struct tv))))
		return rnomem(r, line);
	while (i < v->u.s.n) {
		size_t start = i;
		utf8_next(v->u.s.p, v->u.s.n, &i);
		l->items[k++] = tv_str(v->u.s.p + start, i - start, false);
	}
	l->n = l->cap = n;
	*out = l;
	return 0;
}

/* ---- filters ---- */

enum case_mode { CASE_UPPER, CASE_LOWER, CASE_TITLE };

static uint32_t
ascii_lower(uint32_t c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* latin_ext_a_upper: the Latin Extended-A block pairs upper and lower case letters, some
 * runs starting on even code points, others on odd ones. */
static bool
latin_ext_a_lower_odd(uint32_t c)
{
	return (c >= 0x100 && c <= 0x12f) || (c >= 0x132 && c <= 0x137) ||
	       (c >= 0x14a && c <= 0x177);
}

static bool
latin_ext_a_lower_even(uint32_t c)
{
	return (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e);
}

/* case_map: Python's str.upper()/lower()/title-case of one character for ASCII, Latin-1,
 * Latin Extended-A, basic Greek and basic Cyrillic (other scripts are left unchanged). Writes up to
 * two code points; returns how many. */
static size_t
case_map(uint32_t c, enum case_mode m, uint32_t out[2])
{
	out[0] = c;
	if (m == CASE_LOWER) {
		if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7) ||
		    (c >= 0x410 && c <= 0x42f) || (c >= 0x391 && c <= 0x3a9 && c != 0x3a2))
			out[0] = c + 0x20;
		else if (c >= 0x400 && c <= 0x40f)
			out[0] = c + 0x50;
		else if (c == 0x130) {
			out[0] = 'i';
			out[1] = 0x307;
			return 2;
		} else if (c == 0x178)
			out[0] = 0xff;
		else if ((latin_ext_a_lower_odd(c) && c % 2 == 0) ||
			 (latin_ext_a_lower_even(c) && c % 2 == 1))
			out[0] = c + 1;
		return 1;
	}
	if (c == 0xdf) { /* sharp s: "SS", or "Ss" as title case */
		out[0] = 'S';
		out[1] = m == CASE_TITLE ? 's' : 'S';
		return 2;
	}
	if (c == 0x149) {
		out[0] = 0x2bc;
		out[1] = 'N';
		return 2;
	}
	if ((c >= 'a' && c <= 'z') || (c >= 0xe0 && c <= 0xfe && c != 0xf7) ||
	    (c >= 0x430 && c <= 0x44f) || (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2))
		out[0] = c - 0x20;
	else if (c == 0x3c2)
		out[0] = 0x3a3;
	else if (c >= 0x450 && c <= 0x45f)
		out[0] = c - 0x50;
	else if (c == 0xb5)
		out[0] = 0x39c;
	else if (c == 0xff)
		out[0] = 0x178;
	else if (c == 0x131)
		out[0] = 'I';
	else if (c == 0x17f)
		out[0] = 'S';
	else if ((latin_ext_a_lower_odd(c) && c % 2 == 1) ||
		 (latin_ext_a_lower_even(c) && c % 2 == 0))
		out[0] = c - 1;
	return 1;
}

static int
add_mapped(struct buf *b, uint32_t c, enum case_mode m)
{
	uint32_t mapped[2];
	size_t n = case_map(c, m, mapped);
	char u8[4];
	int rc = 0;

	for (size_t k = 0; k < n && !rc; k++)
		rc = buf_add(b, u8, utf8_encode(mapped[k], u8));
	return rc;
}

static bool
is_cased(uint32_t c)
{
	uint32_t u[2], l[2];

	case_map(c, CASE_UPPER, u);
	case_map(c, CASE_LOWER, l);
	return u[0] != c || l[0] != c || c == 0xdf;
}

/* is_case_ignorable: an approximation of Unicode's Case_Ignorable (apostrophes, periods,
 * colons, modifier letters, combining marks), for the final sigma rule. */
static bool
is_case_ignorable(uint32_t c)
{
	return c == '\'' || c == '.' || c == ':' || c == '^' || c == '`' || c == 0xa8 ||
	       c == 0xad || c == 0xaf || c == 0xb4 || c == 0xb7 || c == 0xb8 ||
	       (c >= 0x2b0 && c <= 0x36f) || c == 0x374 || c == 0x375 || c == 0x37a || c == 0x384 ||
	       c == 0x385 || c == 0x387 || c == 0x2018 || c == 0x2019 || c == 0x2024 || c == 0x2027;
}

/* is_final_sigma: CPython's handle_capital_sigma: the capital sigma at p[i..next) of the
 * string p[from..to) lowercases to final sigma when a cased letter precedes it and none
 * follows, case-ignorable characters skipped. */
static bool
is_final_sigma(const char *p, size_t from, size_t to, size_t i, size_t next)
{
	bool cased_before = false;
	size_t j = i;

	while (j > from) {
		size_t k = j - 1;
		while (k > from && ((unsigned char)p[k] & 0xc0) == 0x80)
			k--;
		size_t tmp = k;
		uint32_t c = utf8_next(p, to, &tmp);
		j = k;
		if (!is_case_ignorable(c)) {
			cased_before = is_cased(c);
			break;
		}
	}
	if (!cased_before)
		return false;
	for (j = next; j < to;) {
		uint32_t c = utf8_next(p, to, &j);
		if (!is_case_ignorable(c))
			return !is_cased(c);
	}
	return true;
}

/* lower_at: appends the lowercase of the character at p[i..next) in context p[from..to). */
static int
lower_at(struct buf *b, const char *p, size_t from, size_t to, size_t i, size_t next, uint32_t c)
{
	if (c == 0x3a3 && is_final_sigma(p, from, to, i, next))
		return buf_adds(b, "\u03c2");
	return add_mapped(b, c, CASE_LOWER);
}

/* finish_str: turns a scratch buffer into an arena string value. */
static int
finish_str(struct render *r, int line, struct buf *b, int rc, bool markup, struct tv *out)
{
	char *p = rc ? NULL : arena_dup(&r->arena, buf_str(b), b->len);

	*out = tv_str(p, b->len, markup);
	buf_free(b);
	if (rc)
		return rfail(r, line, rc, "string too large");
	return p ? 0 : rnomem(r, line);
}

/* map_case: upper/lower (first == rest), or capitalize (title case, then lower). */
static int
map_case(struct render *r, int line, const struct tv *s, enum case_mode first, enum case_mode rest,
	 struct tv *out)
{
	struct buf b;
	size_t i = 0;
	int rc = 0;

	buf_init(&b, TEMPLATE_MAX_WORK);
	while (!rc && i < s->u.s.n) {
		size_t start = i;
		uint32_t c = utf8_next(s->u.s.p, s->u.s.n, &i);
		enum case_mode m = start == 0 ? first : rest;
		if (m == CASE_LOWER)
			rc = lower_at(&b, s->u.s.p, 0, s->u.s.n, start, i, c);
		else
			rc = add_mapped(&b, c, m);
	}
	return finish_str(r, line, &b, rc, s->markup, out);
}

/* is_title_sep: jinja2's _word_beginning_split_re = r"([-\s({\[<]+)". */
static bool
is_title_sep(uint32_t c)
{
	return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_py_space(c);
}

/* filter_title: jinja2's do_title: every item of the split gets item[0].upper() and
 * item[1:].lower(); separator runs are items too, which upper() leaves alone. */
static int
filter_title(struct render *r, int line, const struct tv *s, struct tv *out)
{
	const char *p = s->u.s.p;
	size_t n = s->u.s.n, i = 0, item_rest = 0;
	bool word_start = true;
	struct buf b;
	int rc = 0;

	buf_init(&b, TEMPLATE_MAX_WORK);
	while (!rc && i < n) {
		size_t start = i, end;
		uint32_t c = utf8_next(p, n, &i);
		bool sep = is_title_sep(c);
		if (sep || word_start) {
			rc = add_mapped(&b, c, CASE_UPPER);
			item_rest = i;
		} else {
			/* The lowercased rest of a word ends where the next separator begins;
			 * only a capital sigma needs to know where that is. */
			for (end = c == 0x3a3 ? i : n; end < n;) {
				size_t k = end;
				if (is_title_sep(utf8_next(p, n, &k)))
					break;
				end = k;
			}
			rc = lower_at(&b, p, item_rest, end, start, i, c);
		}
		word_start = sep;
	}
	return finish_str(r, line, &b, rc, false, out);
}

static bool
in_chars(uint32_t c, const struct tv *chars)
{
	size_t i = 0;

	if (!chars)
		return is_py_space(c);
	while (i < chars->u.s.n)
		if (utf8_next(chars->u.s.p, chars->u.s.n, &i) == c)
			return true;
	return false;
}

static int
filter_trim(struct render *r, int line, const struct tv *s, const struct tv *chars, struct tv *out)
{
	size_t i = 0, from = s->u.s.n, to = 0;

	if (chars && chars->type == TV_NONE)
		chars = NULL;
	else if (chars && chars->type != TV_STR)
		return rfail(r, line, ERR_INVAL, "strip arg must be None or str");
	while (i < s->u.s.n) {
		size_t start = i;
		uint32_t c = utf8_next(s->u.s.p, s->u.s.n, &i);
		if (!in_chars(c, chars)) {
			if (from == s->u.s.n)
				from = start;
			to = i;
		}
	}
	if (from > to)
		from = to = 0;
	*out = tv_str(s->u.s.p + from, to - from, s->markup);
	return 0;
}

/* filter_replace: str.replace(old, new, count) with Python's rules for an empty old. */
static int
filter_replace(struct render *r, int line, const struct tv *s, const struct tv *old,
	       const struct tv *new, long long count, struct tv *out)
{
	struct buf b;
	size_t i = 0;
	char *p;
	int rc = 0;

	buf_init(&b, TEMPLATE_MAX_WORK);
	if (old->u.s.n == 0) {
		/* Inserts `new` before every character and at the end. */
		while (!rc && count != 0) {
			rc = buf_add(&b, new->u.s.p, new->u.s.n);
			count--;
			if (rc || i >= s->u.s.n)
				break;
			size_t start = i;
			utf8_next(s->u.s.p, s->u.s.n, &i);
			rc = buf_add(&b, s->u.s.p + start, i - start);
		}
	} else {
		while (!rc && count != 0 && i < s->u.s.n) {
			const char *hit =
				memmem(s->u.s.p + i, s->u.s.n - i, old->u.s.p, old->u.s.n);
			if (!hit)
				break;
			rc = buf_add(&b, s->u.s.p + i, (size_t)(hit - (s->u.s.p + i)));
			if (!rc)
				rc = buf_add(&b, new->u.s.p, new->u.s.n);
			i = (size_t)(hit - s->u.s.p) + old->u.s.n;
			count--;
		}
	}
	if (!rc && i < s->u.s.n)
		rc = buf_add(&b, s->u.s.p + i, s->u.s.n - i);
	p = rc ? NULL : arena_dup(&r->arena, buf_str(&b), b.len);
	*out = tv_str(p, b.len, false);
	buf_free(&b);
	if (rc)
		return rfail(r, line, rc, "string too large");
	return p ? 0 : rnomem(r, line);
}

/* is_num_space: the whitespace int() and float() ignore around a number: ASCII
 * \t\n\v\f\r and space (not \x1c-\x1f, unlike str.strip()), and Unicode spaces. */
static bool
is_num_space(uint32_t c)
{
	if (c < 0x80)
		return c == ' ' || (c >= 0x09 && c <= 0x0d);
	return is_py_space(c);
}

/* num_strip: narrows p[*from..*to) to exclude the whitespace around a number. */
static void
num_strip(const char *p, size_t *from, size_t *to)
{
	while (*from < *to) {
		size_t i = *from;
		if (!is_num_space(utf8_next(p, *to, &i)))
			break;
		*from = i;
	}
	while (*to > *from) {
		size_t k = *to - 1, i;
		while (k > *from && ((unsigned char)p[k] & 0xc0) == 0x80)
			k--;
		i = k;
		if (!is_num_space(utf8_next(p, *to, &i)))
			break;
		*to = k;
	}
}

/* parse_py_int: Python's int(str, base) for bases 2..36 (ASCII digits only). */
static bool
parse_py_int(const char *p, size_t n, int base, long long *out, bool *too_big)
{
	size_t i = 0, end = n;
	bool neg = false, any = false, last_us = false;
	unsigned long long v = 0;

	*too_big = false;
	num_strip(p, &i, &end);
	if (i < end && (p[i] == '+' || p[i] == '-'))
		neg = p[i++] == '-';
	if (base == 0) { /* the base comes from the prefix; "010" is not allowed */
		char c = end - i >= 2 && p[i] == '0' ? (char)ascii_lower((unsigned char)p[i + 1])
						     : 0;
		base = c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 10;
		if (base == 10 && end - i >= 2 && p[i] == '0') {
			for (size_t j = i; j < end; j++)
				if (p[j] != '0' && p[j] != '_')
					return false;
		}
	}
	if (end - i >= 2 && p[i] == '0') {
		char c = (char)ascii_lower((unsigned char)p[i + 1]);
		if ((base == 16 && c == 'x') || (base == 8 && c == 'o') ||
		    (base == 2 && c == 'b')) {
			i += 2;
			last_us = true; /* "0x_1f" is allowed */
			any = false;
		}
	}
	for (; i < end; i++) {
		int d = digit_value(p[i]);
		if (p[i] == '_' && any && !last_us) {
			last_us = true;
			continue;
		}
		if (p[i] == '_' && !any && last_us && i >= 2) {
			last_us = false;
			continue;
		}
		if (d >= base)
			return false;
		if (v > (ULLONG_MAX - (unsigned)d) / (unsigned)base)
			*too_big = true;
		else
			v = v * (unsigned)base + (unsigned)d;
		any = true;
		last_us = false;
	}
	if (!any || last_us)
		return false;
	if (v > (unsigned long long)LLONG_MAX + (neg ? 1 : 0))
		*too_big = true;
	*out = neg ? (long long)(0 - v) : (long long)v;
	return true;
}

/* parse_py_float_int: int(float(s)) for Python float syntax; 1 = ok, 0 = ValueError,
 * -1 = OverflowError (inf) or beyond 64 bits. */
static int
parse_py_float_int(const char *p, size_t n, long long *out)
{
	char tmp[128];
	size_t i = 0, end = n, k = 0;
	bool digit = false, prev_digit = false;
	double d;
	char *stop;

	num_strip(p, &i, &end);
	if (end - i >= sizeof(tmp) || end == i)
		return 0;
	for (size_t j = i; j < end; j++) {
		char c = p[j];
		if (c == '_') { /* only between digits */
			if (!prev_digit || j + 1 >= end || !is_digit(p[j + 1]))
				return 0;
			prev_digit = false;
			continue;
		}
		if (!(is_digit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' ||
		      is_name_start(c)))
			return 0;
		if (c == 'x' || c == 'X' || c == 'p' || c == 'P')
			return 0; /* strtod knows hex floats, Python does not */
		prev_digit = is_digit(c);
		digit |= prev_digit;
		tmp[k++] = c;
	}
	tmp[k] = 0;
	errno = 0;
	d = strtod(tmp, &stop);
	if (*stop)
		return 0;
	if (d != d)
		return 0; /* NaN: int() raises ValueError */
	if (d >= 9.2233720368547758e18 || d <= -9.2233720368547758e18)
		return -1;
	(void)digit;
	*out = (long long)d;
	return 1;
}

/* filter_int: jinja2's do_int: int(value, base) for strings, int(value) otherwise, then
 * int(float(value)), then the default. A bad base is a ValueError/TypeError of the first
 * step, so the float fallback still applies. */
static int
filter_int(struct render *r, int line, const struct tv *v, const struct tv *dflt,
	   const struct tv *base_v, struct tv *out)
{
	long long base = 10, val;
	bool too_big, base_ok = true;
	int f;

	if (base_v) {
		base = is_num(base_v) ? num(base_v) : -1;
		base_ok = base == 0 || (base >= 2 && base <= 36);
	}
	*out = dflt ? *dflt : tv_int(0);
	switch (v->type) {
	case TV_UNDEF: return undefined_error(r, line, v);
	case TV_INT:
	case TV_BOOL: *out = tv_int(num(v)); return 0;
	case TV_STR:
		if (base_ok && parse_py_int(v->u.s.p, v->u.s.n, (int)base, &val, &too_big)) {
			if (too_big)
				return overflow(r, line);
			*out = tv_int(val);
			return 0;
		}
		f = parse_py_float_int(v->u.s.p, v->u.s.n, &val);
		if (f < 0)
			return overflow(r, line);
		if (f > 0)
			*out = tv_int(val);
		return 0;
	default: return 0; /* None, lists: TypeError, so the default */
	}
}

static int
filter_length(struct render *r, int line, const struct tv *v, struct tv *out)
{
	switch (v->type) {
	case TV_UNDEF: *out = tv_int(0); return 0;
	case TV_STR: *out = tv_int((long long)utf8_count(v->u.s.p, v->u.s.n)); return 0;
	case TV_LIST: *out = tv_int((long long)v->u.l->n); return 0;
	case TV_LOOP: *out = tv_int(loop_length(v->u.loop)); return 0;
	default: return rfail(r, line, ERR_INVAL, "object of type '%s' has no len()", type_name(v));
	}
}

static int
filter_join(struct render *r, int line, const struct tv *v, const struct tv *d, struct tv *out)
{
	const struct template_list *seq;
	struct tv sep = tv_str("", 0, false), item;
	struct buf b;
	char *p;
	int rc;

	if ((rc = as_sequence(r, line, v, &seq)) != 0)
		return rc;
	if (d && (rc = to_str(r, line, d, &sep)) != 0)
		return rc;
	buf_init(&b, TEMPLATE_MAX_WORK);
	for (size_t k = 0; !rc && k < seq->n; k++) {
		if (k)
			rc = buf_add(&b, sep.u.s.p, sep.u.s.n);
		item = seq->items[k];
		if (!rc)
			rc = emit_str(&b, &item);
	}
	p = rc ? NULL : arena_dup(&r->arena, buf_str(&b), b.len);
	*out = tv_str(p, b.len, false);
	buf_free(&b);
	if (rc)
		return rfail(r, line, rc, "string too large");
	return p ? 0 : rnomem(r, line);
}

static int
filter_first_last(struct render *r, int line, const struct tv *v, bool last, struct tv *out)
{
	const struct template_list *seq;
	int rc;

	if (v->type == TV_STR) {
		size_t count = utf8_count(v->u.s.p, v->u.s.n);
		if (count == 0) {
			*out = tv_undef(NULL);
			return 0;
		}
		return nth_char(r, v, last ? (long long)count - 1 : 0, out);
	}
	if ((rc = as_sequence(r, line, v, &seq)) != 0)
		return rc;
	*out = seq->n == 0 ? tv_undef(NULL) : seq->items[last ? seq->n - 1 : 0];
	return 0;
}

static int
apply_filter(struct render *r, const struct expr *e, const struct tv *v, const struct tv *args[3],
	     struct tv *out)
{
	struct tv s, old, new;
	long long count = -1;
	int rc = 0, line = e->line;

	switch ((enum filter_id)e->op) {
	case F_DEFAULT:
		if (v->type == TV_UNDEF || (args[1] && truthy(args[1]) && !truthy(v)))
			*out = args[0] ? *args[0] : tv_str("", 0, false);
		else
			*out = *v;
		return 0;
	case F_ESCAPE:
		if (v->type == TV_STR && v->markup) {
			*out = *v;
			return 0;
		}
		if ((rc = to_str(r, line, v, &s)) != 0)
			return rc;
		return escape_html(r, line, &s, out);
	case F_STRING: return soft_str(r, line, v, out);
	case F_LENGTH: return filter_length(r, line, v, out);
	case F_INT: return filter_int(r, line, v, args[0], args[1], out);
	case F_JOIN: return filter_join(r, line, v, args[0], out);
	case F_FIRST: return filter_first_last(r, line, v, false, out);
	case F_LAST: return filter_first_last(r, line, v, true, out);
	default: break;
	}
	if ((rc = soft_str(r, line, v, &s)) != 0)
		return rc;
	switch ((enum filter_id)e->op) {
	case F_UPPER: return map_case(r, line, &s, CASE_UPPER, CASE_UPPER, out);
	case F_LOWER: return map_case(r, line, &s, CASE_LOWER, CASE_LOWER, out);
	case F_CAPITALIZE: return map_case(r, line, &s, CASE_TITLE, CASE_LOWER, out);
	case F_TITLE: return filter_title(r, line, &s, out);
	case F_TRIM: return filter_trim(r, line, &s, args[0], out);
	case F_REPLACE:
		if (args[2]) {
			if (!is_num(args[2]))
				return rfail(r, line, ERR_INVAL,
					     "'%s' object cannot be interpreted as an integer",
					     type_name(args[2]));
			count = num(args[2]);
		}
		s.markup = false;
		if ((rc = to_str(r, line, args[0], &old)) != 0 ||
		    (rc = to_str(r, line, args[1], &new)) != 0)
			return rc;
		return filter_replace(r, line, &s, &old, &new, count < 0 ? -1 : count, out);
	default: return rfail(r, line, ERR_INTERNAL, "unknown filter");
	}
}

static int
apply_test(struct render *r, const struct expr *e, const struct tv *v, const struct tv *arg,
	   bool *res)
{
	int line = e->line, rc;
	bool ok = false;

	switch ((enum test_id)e->op) {
	case T_DEFINED: *res = v->type != TV_UNDEF; return 0;
	case T_UNDEFINED: *res = v->type == TV_UNDEF; return 0;
	case T_NONE: *res = v->type == TV_NONE; return 0;
	case T_BOOLEAN: *res = v->type == TV_BOOL; return 0;
	case T_TRUE: *res = v->type == TV_BOOL && v->u.b; return 0;
	case T_FALSE: *res = v->type == TV_BOOL && !v->u.b; return 0;
	case T_INTEGER: *res = v->type == TV_INT; return 0;
	case T_NUMBER: *res = is_num(v); return 0;
	case T_STRING: *res = v->type == TV_STR; return 0;
	case T_EVEN:
	case T_ODD:
	case T_DIVISIBLEBY: {
		long long d = e->op == T_DIVISIBLEBY ? 0 : 2, m;
		if (v->type == TV_UNDEF)
			return undefined_error(r, line, v);
		if (e->op == T_DIVISIBLEBY) {
			if (arg->type == TV_UNDEF)
				return undefined_error(r, line, arg);
			if (!is_num(arg))
				return rfail(r, line, ERR_INVAL, "unsupported operand for %%");
			d = num(arg);
		}
		if (!is_num(v))
			return rfail(r, line, ERR_INVAL, "unsupported operand type for %%: '%s'",
				     type_name(v));
		if (d == 0)
			return rfail(r, line, ERR_INVAL, "integer division or modulo by zero");
		m = d == -1 ? 0 : num(v) % d;
		*res = e->op == T_ODD ? m != 0 : m == 0;
		return 0;
	}
	case T_EQ: *res = py_eq(v, arg); return 0;
	case T_NE: *res = !py_eq(v, arg); return 0;
	case T_IN: return py_in(r, line, v, arg, res);
	case T_LT: rc = compare(r, line, OP_LT, v, arg, &ok); break;
	case T_LE: rc = compare(r, line, OP_LTEQ, v, arg, &ok); break;
	case T_GT: rc = compare(r, line, OP_GT, v, arg, &ok); break;
	case T_GE: rc = compare(r, line, OP_GTEQ, v, arg, &ok); break;
	default: return rfail(r, line, ERR_INTERNAL, "unknown test");
	}
	*res = ok;
	return rc;
}

static int
eval_call(struct render *r, const struct expr *e, struct tv *out)
{
	struct tv v, argv[3];
	const struct tv *args[3] = {NULL, NULL, NULL};
	bool res;
	int rc;

	if ((rc = eval(r, e->a, &v)) != 0)
		return rc;
	for (size_t k = 0; k < e->nargs && k < 3; k++) {
		if (!e->args[k])
			continue;
		if ((rc = eval(r, e->args[k], &argv[k])) != 0)
			return rc;
		args[k] = &argv[k];
	}
	if (e->kind == EX_FILTER)
		return apply_filter(r, e, &v, args, out);
	if ((rc = apply_test(r, e, &v, args[0], &res)) != 0)
		return rc;
	*out = tv_bool(e->negated ? !res : res);
	return 0;
}

static int
eval_concat(struct render *r, const struct expr *e, struct tv *out)
{
	struct buf b;
	struct tv v;
	char *p;
	int rc = 0;

	buf_init(&b, TEMPLATE_MAX_WORK);
	for (size_t k = 0; !rc && k < e->nargs; k++) {
		if ((rc = eval(r, e->args[k], &v)) != 0)
			break;
		if ((rc = emit_str(&b, &v)) != 0)
			rc = rfail(r, e->line, rc, "string too large");
	}
	p = rc ? NULL : arena_dup(&r->arena, buf_str(&b), b.len);
	*out = tv_str(p, b.len, false);
	buf_free(&b);
	if (rc)
		return rc;
	return p ? 0 : rnomem(r, e->line);
}

static int
eval_cmp(struct render *r, const struct expr *e, struct tv *out)
{
	struct tv left, right;
	bool res = true;
	int rc = eval(r, e->args[0], &left);

	/* a < b < c is (a < b) and (b < c), evaluating each operand at most once. */
	for (size_t k = 1; !rc && k < e->nargs && res; k++) {
		if ((rc = eval(r, e->args[k], &right)) != 0)
			break;
		rc = compare(r, e->line, e->ops[k - 1], &left, &right, &res);
		left = right;
	}
	*out = tv_bool(res);
	return rc;
}

static int
eval_list(struct render *r, const struct expr *e, struct tv *out)
{
	struct template_list *l = arena_alloc(&r->arena, sizeof(*l));
	int rc;

	if (!l ||
	    !(l->items = arena_alloc(&r->arena, (e->nargs ? e->nargs : 1) * sizeof(struct tv))))
		return rnomem(r, e->line);
	for (size_t k = 0; k < e->nargs; k++)
		if ((rc = eval(r, e->args[k], &l->items[k])) != 0)
			return rc;
	l->n = l->cap = e->nargs;
	out->type = TV_LIST;
	out->markup = false;
	out->u.l = l;
	return 0;
}

static int
eval_unary(struct render *r, const struct expr *e, struct tv *out)
{
	struct tv v;
	int rc = eval(r, e->a, &v);

	if (rc)
		return rc;
	if (e->kind == EX_NOT) {
		*out = tv_bool(!truthy(&v));
		return 0;
	}
	if (v.type == TV_UNDEF)
		return undefined_error(r, e->line, &v);
	if (!is_num(&v))
		return rfail(r, e->line, ERR_INVAL, "bad operand type for unary %c: '%s'",
			     e->kind == EX_NEG ? '-' : '+', type_name(&v));
	if (e->kind == EX_NEG && num(&v) == LLONG_MIN)
		return overflow(r, e->line);
	*out = tv_int(e->kind == EX_NEG ? -num(&v) : num(&v));
	return 0;
}

static int
eval(struct render *r, const struct expr *e, struct tv *out)
{
	struct tv a, b;
	int rc = step(r, e->line);

	if (rc)
		return rc;
	switch (e->kind) {
	case EX_CONST: *out = e->val; return 0;
	case EX_NAME: *out = lookup(r, e->sym); return 0;
	case EX_LIST: return eval_list(r, e, out);
	case EX_ATTR:
		if ((rc = eval(r, e->a, &a)) != 0)
			return rc;
		return getattr_(r, e->line, &a, e->attr, out);
	case EX_ITEM:
		if ((rc = eval(r, e->a, &a)) != 0 || (rc = eval(r, e->b, &b)) != 0)
			return rc;
		return getitem(r, e->line, &a, &b, out);
	case EX_NOT:
	case EX_NEG:
	case EX_POS: return eval_unary(r, e, out);
	case EX_AND:
	case EX_OR:
		/* Python returns the deciding operand itself. */
		if ((rc = eval(r, e->a, out)) != 0)
			return rc;
		if (truthy(out) == (e->kind == EX_OR))
			return 0;
		return eval(r, e->b, out);
	case EX_BIN:
		if ((rc = eval(r, e->a, &a)) != 0 || (rc = eval(r, e->b, &b)) != 0)
			return rc;
		return arith(r, e->line, (enum op)e->op, &a, &b, out);
	case EX_CONCAT: return eval_concat(r, e, out);
	case EX_CMP: return eval_cmp(r, e, out);
	case EX_FILTER:
	case EX_TEST: return eval_call(r, e, out);
	case EX_COND:
		if ((rc = eval(r, e->a, &a)) != 0)
			return rc;
		if (truthy(&a))
			return eval(r, e->b, out);
		if (e->c)
			return eval(r, e->c, out);
		*out = tv_undef(NULL);
		return 0;
	}
	return rfail(r, e->line, ERR_INTERNAL, "bad expression");
}

/* ---- statements ---- */

static int exec_stmts(struct render *r, const struct stmt *s, struct buf *out);

static int
out_fail(struct render *r, int line, int rc)
{
	if (rc == ERR_TOOBIG)
		return rfail(r, line, rc, "output larger than %zu bytes", r->max_out);
	return rfail(r, line, rc, "%s", err_str(rc));
}

/* exec_frame: runs `body` in a new scope with the frame's prebound names. */
static int
exec_frame(struct render *r, const struct frame *f, const struct stmt *body, struct buf *out)
{
	struct scope sc = {.parent = r->scope};
	int rc = bind_prebound(r, &sc, f->prebound, f->n);

	if (rc)
		return rc;
	r->scope = &sc;
	rc = exec_stmts(r, body, out);
	r->scope = sc.parent;
	return rc;
}

static int
exec_for(struct render *r, const struct stmt *s, struct buf *out)
{
	const struct template_list *seq;
	struct loop_state ls;
	struct tv v, lv = {.type = TV_LOOP};
	struct scope sc = {.parent = r->scope};
	int rc;

	if ((rc = eval(r, s->e, &v)) != 0 || (rc = as_sequence(r, s->line, &v, &seq)) != 0)
		return rc;
	if (seq->n == 0)
		return exec_frame(r, &s->felse, s->orelse, out);
	ls.seq = seq;
	lv.u.loop = &ls;
	for (size_t k = 0; k < seq->n; k++) {
		/* Each iteration is a fresh scope, as in Jinja: a {% set %} in the body does
		 * not carry over to the next iteration. The bindings array is reused, so a
		 * long loop does not eat the render's memory budget. */
		sc.n = 0;
		ls.index0 = (long long)k;
		if ((rc = step(r, s->line)) != 0 ||
		    (rc = bind_prebound(r, &sc, s->fbody.prebound, s->fbody.n)) != 0 ||
		    (rc = bind(r, &sc, s->sym, seq->items[k], s->line)) != 0 ||
		    (s->uses_loop && (rc = bind(r, &sc, r->t->loop_sym, lv, s->line)) != 0))
			return rc;
		r->scope = &sc;
		rc = exec_stmts(r, s->body, out);
		r->scope = sc.parent;
		if (rc)
			return rc;
	}
	return 0;
}

static int
exec_setblock(struct render *r, const struct stmt *s)
{
	struct buf b;
	char *p;
	int rc;

	buf_init(&b, r->max_out);
	rc = exec_frame(r, &s->fbody, s->body, &b);
	p = rc ? NULL : arena_dup(&r->arena, buf_str(&b), b.len);
	if (!rc && !p)
		rc = rnomem(r, s->line);
	if (!rc)
		rc = bind(r, r->scope, s->sym, tv_str(p, b.len, false), s->line);
	buf_free(&b);
	return rc;
}

static int
exec_stmt(struct render *r, const struct stmt *s, struct buf *out)
{
	struct tv v;
	int rc = step(r, s->line);

	if (rc)
		return rc;
	switch (s->kind) {
	case ST_TEXT: rc = buf_add(out, s->text, s->len); return rc ? out_fail(r, s->line, rc) : 0;
	case ST_OUTPUT:
		if ((rc = eval(r, s->e, &v)) != 0)
			return rc;
		rc = emit_str(out, &v);
		return rc ? out_fail(r, s->line, rc) : 0;
	case ST_IF:
		for (; s && s->kind == ST_IF; s = s->orelse) {
			if ((rc = eval(r, s->e, &v)) != 0)
				return rc;
			if (truthy(&v))
				return exec_stmts(r, s->body, out);
			if (!s->orelse || !s->orelse->is_elif)
				return exec_stmts(r, s->orelse, out);
		}
		return 0;
	case ST_FOR: return exec_for(r, s, out);
	case ST_SET:
		if ((rc = eval(r, s->e, &v)) != 0)
			return rc;
		return bind(r, r->scope, s->sym, v, s->line);
	case ST_SETBLOCK: return exec_setblock(r, s);
	}
	return rfail(r, s->line, ERR_INTERNAL, "bad statement");
}

static int
exec_stmts(struct render *r, const struct stmt *s, struct buf *out)
{
	int rc = 0;

	for (; s && !rc; s = s->next)
		rc = exec_stmt(r, s, out);
	return rc;
}

int
template_render(const struct template *t, const struct template_vars *vars, size_t max_out,
		char **out, size_t *outlen, char *err, size_t errlen)
{
	struct render r = {.t = t, .max_out = max_out, .err = err, .errlen = errlen};
	struct scope root = {0};
	struct frame rootf = {t->root_prebound, t->nroot_prebound};
	struct tv *globals;
	struct buf b;
	int rc;

	if (err && errlen)
		err[0] = 0;
	*out = NULL;
	if (outlen)
		*outlen = 0;
	globals = calloc(t->nsyms ? t->nsyms : 1, sizeof(*globals));
	if (!globals)
		return ERR_NOMEM;
	for (size_t k = 0; k < t->nsyms; k++) {
		const struct var *v = vars_find(vars, t->syms[k]);
		globals[k] = v ? v->val : tv_undef(t->syms[k]);
	}
	r.globals = globals;
	arena_init(&r.arena, TEMPLATE_MAX_WORK);
	buf_init(&b, max_out);
	rc = bind_prebound(&r, &root, rootf.prebound, rootf.n);
	r.scope = &root;
	if (!rc)
		rc = exec_stmts(&r, t->body, &b);
	if (!rc && !b.data && !(b.data = calloc(1, 1)))
		rc = ERR_NOMEM;
	if (!rc) {
		if (outlen)
			*outlen = b.len;
		*out = buf_steal(&b);
		if (!*out)
			rc = ERR_NOMEM;
	}
	buf_free(&b);
	arena_free(&r.arena);
	free(globals);
	return rc;
}
