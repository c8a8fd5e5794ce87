/* SPDX-License-Identifier: MIT */
/* The template lexer: source text to tokens, as jinja2.lexer does it. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "template_int.h"

/* ------------------------------------------------------------------------------ */
/* Tokens and the lexer (jinja2.lexer.Lexer.tokeniter) */

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
		struct token *nt = arena_grow(&lx->t->arena, lx->toks, lx->ntok, cap, sizeof(*nt));
		if (!nt)
			return NULL;
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

bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool
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

int
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

/* int_base: 2, 8 or 16 for a 0b/0o/0x prefix at i, else 10. */
static int
int_base(const struct lexer *lx, size_t i)
{
	char c;

	if (lx->src[i] != '0' || i + 1 >= lx->len)
		return 10;
	c = lx->src[i + 1];
	return (c == 'b' || c == 'B')	? 2
	       : (c == 'o' || c == 'O') ? 8
	       : (c == 'x' || c == 'X') ? 16
					: 10;
}

/* based_digits: the digits after the 0b/0o/0x prefix at lx->pos, each optionally
 * preceded by '_', added to *v; *end is where they stop (lx->pos when there are none). */
static int
based_digits(struct lexer *lx, int base, size_t *end, unsigned long long *v)
{
	size_t j = lx->pos + 2;

	*end = lx->pos;
	for (;;) {
		size_t k = j;
		if (k < lx->len && lx->src[k] == '_')
			k++;
		if (k >= lx->len || digit_value(lx->src[k]) >= base)
			return 0;
		if (*v > (unsigned long long)LLONG_MAX / (unsigned)base)
			return lex_fail(lx, "integer literal too large");
		*v = *v * (unsigned)base + (unsigned)digit_value(lx->src[k]);
		if (*v > (unsigned long long)LLONG_MAX)
			return lex_fail(lx, "integer literal too large");
		j = k + 1;
		*end = j;
	}
}

/* decimal_digits: zeros "0(_?0)*" or a decimal without leading zeros "[1-9](_?[0-9])*"
 * at lx->pos, added to *v; *end is where it stops. */
static int
decimal_digits(struct lexer *lx, size_t *end, unsigned long long *v)
{
	size_t i = lx->pos;

	if (lx->src[i] == '0') {
		i++;
		while (i < lx->len && (lx->src[i] == '0' || (lx->src[i] == '_' && i + 1 < lx->len &&
							     lx->src[i + 1] == '0')))
			i += lx->src[i] == '_' ? 2 : 1;
		*end = i;
		return 0;
	}
	while (i < lx->len) {
		size_t k = i;
		if (lx->src[k] == '_' && k > lx->pos)
			k++;
		if (k >= lx->len || !is_digit(lx->src[k]))
			break;
		unsigned d = (unsigned)(lx->src[k] - '0');
		if (*v > ((unsigned long long)LLONG_MAX - d) / 10)
			return lex_fail(lx, "integer literal too large");
		*v = *v * 10 + d;
		i = k + 1;
	}
	*end = i;
	return 0;
}

/* lex_int: jinja2's integer_re: 0b/0o/0x with optional '_' between digits, decimal
 * without leading zeros, or zeros. */
static int
lex_int(struct lexer *lx)
{
	int base = int_base(lx, lx->pos), rc = 0;
	unsigned long long v = 0;
	size_t end = lx->pos;
	struct token *tk;

	if (base != 10)
		rc = based_digits(lx, base, &end, &v);
	/* "0x" without digits is the integer 0, then the name "x". */
	if (!rc && end == lx->pos)
		rc = decimal_digits(lx, &end, &v);
	if (rc)
		return rc;
	tk = lex_push(lx, TK_INT, lx->src + lx->pos, end - lx->pos);
	if (!tk)
		return lex_nomem(lx);
	tk->ival = (long long)v;
	lx->pos = end;
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
	char c = s[*i], u8[UTF8_SEQ_MAX];
	const char *hit = c ? strchr(simple_in, c) : NULL;
	long cp;
	size_t k, len;

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
		len = utf8_encode((uint32_t)cp, u8); /* 0: a surrogate or past U+10FFFF */
		if (len == 0)
			return lex_fail(lx, "illegal Unicode character");
		*i += 1 + count;
		return buf_add(out, u8, len);
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

int
lex_all(struct lexer *lx)
{
	int rc = 0;

	while (!rc && lx->pos < lx->len)
		rc = lx->mode == LX_ROOT ? lex_root(lx) : lex_tag(lx);
	if (!rc && !lex_push(lx, TK_EOF, NULL, 0))
		rc = lex_nomem(lx);
	return rc;
}
