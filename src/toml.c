/* SPDX-License-Identifier: MIT */
/* A TOML 1.0 parser: one pass over the text with a cursor, building a tree of values. */
#include "toml.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "utf8.h"

/*
 * The rules on redefinition are the subtle part of TOML. Each table remembers how it came
 * to be, and that decides who may add to it later (the same decisions as Python's tomllib):
 * - a table named by a [header] may not be named by another header nor entered by dotted
 *   keys;
 * - a table created or entered by dotted keys may never get a [header]; more dotted keys
 *   may extend it, which can only happen under the same header (no table is the current
 *   one of two sections, so nothing needs to remember the section);
 * - a table created only as the prefix of a header ([a] in [a.b]) is open to one later
 *   [a] header and to dotted keys;
 * - inline tables and arrays written as values are frozen, with everything inside them;
 * - an array made by [[header]] can only grow by more [[header]]s of the same name.
 */
enum node_flag {
	NODE_EXPLICIT = 1 << 0, /* table named by a [header] or [[header]] element */
	NODE_DOTTED = 1 << 1,	/* table created or entered by dotted keys */
	NODE_FROZEN = 1 << 2,	/* inline table or array value: immutable */
	NODE_AOT = 1 << 3,	/* array built by [[header]] */
};

/* Tables with more keys than this get a hash index, so that hostile input with many keys
 * in one table does not make duplicate detection quadratic. */
#define INDEX_MIN_KEYS 8

/* A value with the bookkeeping the parser needs; callers only see the first member. */
struct node {
	struct toml_value v;
	unsigned flags;
	int depth;	 /* root is 0; every table, array and element adds one */
	size_t cap;	 /* allocated slots of v.u.arr.items or v.u.tab.items */
	uint32_t *index; /* open addressing: slot + 1 of each key, 0 = free; or NULL */
	size_t index_cap;
};

/* One part of a (dotted) key, with where it was written. `s` is owned until it is handed
 * to a table. */
struct key_part {
	char *s;
	size_t len;
	int line, col;
};

struct key_path {
	struct key_part parts[TOML_MAX_DEPTH];
	int n;
};

struct cursor {
	const char *p;	 /* next byte */
	const char *end; /* one past the last byte */
	int line, col;	 /* of *p, 1-based; col counts characters */
	size_t nvalues;	 /* nodes allocated, against TOML_MAX_VALUES */
	struct node *root;
	struct node *cur;  /* the table that key/value lines go into */
	struct buf str;	   /* scratch: string contents and number tokens */
	locale_t c_locale; /* for strtod_l, created on the first float */
	struct toml_error *err;
};

/* ---- errors ---- */

/* Control characters are banned from strings and comments; tab is the exception. */
static bool
is_control(int ch)
{
	return (ch >= 0 && ch < 0x20 && ch != '\t') || ch == 0x7f;
}

static int fail_at(struct cursor *c, int line, int col, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int fail(struct cursor *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int vfail_at(struct cursor *c, int line, int col, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

static int
vfail_at(struct cursor *c, int line, int col, int code, const char *fmt, va_list ap)
{
	c->err->line = line;
	c->err->col = col;
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	return code;
}

/* The one error path: records position and message; returns `code` to pass up. */
static int
fail_at(struct cursor *c, int line, int col, int code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail_at(c, line, col, code, fmt, ap);
	va_end(ap);
	return rc;
}

static int
fail(struct cursor *c, int code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail_at(c, c->line, c->col, code, fmt, ap);
	va_end(ap);
	return rc;
}

/* Keys and tokens quoted in messages: at most 48 bytes, cut at a character boundary,
 * control characters as '?'. */
struct shown {
	char s[52];
};

static struct shown
show(const char *s, size_t len)
{
	struct shown out;
	size_t i, n = len;

	if (n > 48)
		for (n = 48; n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; n--)
			;
	for (i = 0; i < n; i++)
		out.s[i] = is_control((unsigned char)s[i]) ? '?' : s[i];
	if (n < len) {
		memcpy(out.s + n, "...", 3);
		n += 3;
	}
	out.s[n] = '\0';
	return out;
}

/* A byte as a message shows it: 'x' or U+XXXX for controls. */
static struct shown
show_char(int ch)
{
	struct shown out;

	if (ch < 0)
		snprintf(out.s, sizeof(out.s), "end of document");
	else if (ch == '\n')
		snprintf(out.s, sizeof(out.s), "end of line");
	else if (ch >= 0x20 && ch < 0x7f)
		snprintf(out.s, sizeof(out.s), "'%c'", ch);
	else if (ch < 0x80)
		snprintf(out.s, sizeof(out.s), "U+%04X", (unsigned)ch);
	else
		snprintf(out.s, sizeof(out.s), "a non-ASCII character");
	return out;
}

/* ---- the cursor ---- */

static int
peek_at(const struct cursor *c, size_t k)
{
	return (size_t)(c->end - c->p) > k ? (unsigned char)c->p[k] : -1;
}

static int
peek(const struct cursor *c)
{
	return peek_at(c, 0);
}

static bool
at_end(const struct cursor *c)
{
	return c->p >= c->end;
}

static bool
starts_with(const struct cursor *c, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(c->end - c->p) >= n && memcmp(c->p, s, n) == 0;
}

/* Moves n bytes on, keeping line and column (in characters) up to date. */
static void
advance(struct cursor *c, size_t n)
{
	for (; n > 0 && c->p < c->end; n--, c->p++) {
		unsigned char b = (unsigned char)*c->p;

		if (b == '\n') {
			c->line++;
			c->col = 1;
		} else if ((b & 0xc0) != 0x80) {
			c->col++;
		}
	}
}

static bool
is_ws(int ch)
{
	return ch == ' ' || ch == '\t';
}

static bool
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static bool
is_bare_key_char(int ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '_' ||
	       ch == '-';
}

/* Length of the newline at the cursor: 1 for LF, 2 for CRLF, 0 otherwise. */
static size_t
newline_len(const struct cursor *c)
{
	if (peek(c) == '\n')
		return 1;
	return peek(c) == '\r' && peek_at(c, 1) == '\n' ? 2 : 0;
}

static void
skip_ws(struct cursor *c)
{
	while (is_ws(peek(c)))
		advance(c, 1);
}

/* Skips a comment up to (not including) its newline; controls in it are errors. */
static int
skip_comment(struct cursor *c)
{
	if (peek(c) != '#')
		return 0;
	advance(c, 1);
	while (!at_end(c) && peek(c) != '\n') {
		if (newline_len(c))
			return 0;
		if (is_control(peek(c)))
			return fail(c, ERR_INVAL, "%s is not allowed in a comment",
				    show_char(peek(c)).s);
		advance(c, 1);
	}
	return 0;
}

/* Inside arrays: whitespace, newlines and comments, in any number. */
static int
skip_ws_newlines(struct cursor *c)
{
	for (;;) {
		size_t nl;
		int rc;

		skip_ws(c);
		if ((rc = skip_comment(c)) != 0)
			return rc;
		if ((nl = newline_len(c)) == 0)
			return 0;
		advance(c, nl);
	}
}

/* ---- UTF-8 ---- */

/* Checks the whole document up front, so the parser can treat non-ASCII as opaque. */
static int
check_utf8(struct cursor *c)
{
	struct cursor scan = *c;
	size_t n = (size_t)(c->end - c->p), good = utf8_valid_len(c->p, n);

	if (good < n) {
		advance(&scan, good); /* for the line and column of the bad byte */
		return fail_at(c, scan.line, scan.col, ERR_INVAL, "invalid UTF-8");
	}
	if (starts_with(c, "\xef\xbb\xbf"))
		return fail(c, ERR_INVAL, "a byte order mark is not allowed");
	return 0;
}

/* ---- nodes and tables ---- */

static void
node_free(struct node *n)
{
	size_t i;

	if (!n)
		return;
	switch (n->v.type) {
	case TOML_STRING: free(n->v.u.s.ptr); break;
	case TOML_ARRAY:
		for (i = 0; i < n->v.u.arr.len; i++)
			node_free((struct node *)n->v.u.arr.items[i]);
		free(n->v.u.arr.items);
		break;
	case TOML_TABLE:
		for (i = 0; i < n->v.u.tab.len; i++) {
			free(n->v.u.tab.items[i].key);
			node_free((struct node *)n->v.u.tab.items[i].value);
		}
		free(n->v.u.tab.items);
		free(n->index);
		break;
	default: break;
	}
	free(n);
}

/* A new node at `depth`, written at line:col. The limits on depth and count live here. */
static int
node_new(struct cursor *c, enum toml_type type, int depth, int line, int col, struct node **out)
{
	struct node *n;

	if (depth > TOML_MAX_DEPTH)
		return fail_at(c, line, col, ERR_TOOBIG, "nesting deeper than %d levels",
			       TOML_MAX_DEPTH);
	if (c->nvalues >= TOML_MAX_VALUES)
		return fail_at(c, line, col, ERR_TOOBIG, "more than %u values", TOML_MAX_VALUES);
	n = calloc(1, sizeof(*n));
	if (!n)
		return fail_at(c, line, col, ERR_NOMEM, "out of memory");
	c->nvalues++;
	n->v.type = type;
	n->v.line = line;
	n->v.col = col;
	n->depth = depth;
	*out = n;
	return 0;
}

/* Makes room for one more item in an array of `size`-byte items with *cap slots: returns
 * the (maybe moved) items, or NULL when out of memory (the old items stay valid). */
static void *
grow(void *items, size_t len, size_t *cap, size_t size)
{
	size_t ncap;
	void *p;

	if (len < *cap)
		return items;
	ncap = *cap ? *cap * 2 : 4;
	p = reallocarray(items, ncap, size);
	if (p)
		*cap = ncap;
	return p;
}

/* FNV-1a, finished by a mixer keyed with the table's address: which keys collide differs
 * from run to run (ASLR), so crafted input cannot easily make one table's index quadratic. */
static uint32_t
key_hash(const struct node *t, const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	while (len--)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	h ^= (uint32_t)((uintptr_t)t >> 4);
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

static bool
key_eq(const struct toml_kv *kv, const char *key, size_t len)
{
	return kv->key_len == len && memcmp(kv->key, key, len) == 0;
}

/* Slot of `key` in table t, or -1. */
static long
table_slot(const struct node *t, const char *key, size_t len)
{
	const struct toml_kv *items = t->v.u.tab.items;
	size_t i;

	if (!t->index) {
		for (i = 0; i < t->v.u.tab.len; i++)
			if (key_eq(&items[i], key, len))
				return (long)i;
		return -1;
	}
	for (i = key_hash(t, key, len) & (t->index_cap - 1); t->index[i];
	     i = (i + 1) & (t->index_cap - 1))
		if (key_eq(&items[t->index[i] - 1], key, len))
			return (long)t->index[i] - 1;
	return -1;
}

static void
index_put(struct node *t, size_t slot)
{
	const struct toml_kv *kv = &t->v.u.tab.items[slot];
	size_t i = key_hash(t, kv->key, kv->key_len) & (t->index_cap - 1);

	while (t->index[i])
		i = (i + 1) & (t->index_cap - 1);
	t->index[i] = (uint32_t)slot + 1;
}

/* Keeps the hash index at most half full, building it once the table gets big. */
static int
index_update(struct node *t)
{
	size_t len = t->v.u.tab.len, cap, i;
	uint32_t *idx;

	if (len < INDEX_MIN_KEYS)
		return 0;
	if (t->index && len * 2 <= t->index_cap) {
		index_put(t, len - 1);
		return 0;
	}
	for (cap = 16; cap < len * 4; cap *= 2)
		;
	idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return ERR_NOMEM;
	free(t->index);
	t->index = idx;
	t->index_cap = cap;
	for (i = 0; i < len; i++)
		index_put(t, i);
	return 0;
}

static struct node *
table_find(const struct node *t, const struct key_part *k)
{
	long slot = table_slot(t, k->s, k->len);

	return slot < 0 ? NULL : (struct node *)t->v.u.tab.items[slot].value;
}

/* Adds key k (taking its string) with value v to table t. On failure v is freed. */
static int
table_add(struct cursor *c, struct node *t, struct key_part *k, struct node *v)
{
	struct toml_kv *items = grow(t->v.u.tab.items, t->v.u.tab.len, &t->cap, sizeof(*items));
	struct toml_kv *kv;

	if (!items) {
		node_free(v);
		return fail_at(c, k->line, k->col, ERR_NOMEM, "out of memory");
	}
	t->v.u.tab.items = items;
	kv = &items[t->v.u.tab.len++];
	kv->key = k->s;
	kv->key_len = k->len;
	kv->line = k->line;
	kv->col = k->col;
	kv->value = &v->v;
	k->s = NULL;
	if (index_update(t) != 0)
		return fail_at(c, k->line, k->col, ERR_NOMEM, "out of memory");
	return 0;
}

/* Appends v to array a. On failure v is freed. */
static int
array_push(struct cursor *c, struct node *a, struct node *v)
{
	struct toml_value **items = grow(a->v.u.arr.items, a->v.u.arr.len, &a->cap, sizeof(*items));

	if (!items) {
		node_free(v);
		return fail(c, ERR_NOMEM, "out of memory");
	}
	a->v.u.arr.items = items;
	items[a->v.u.arr.len++] = &v->v;
	return 0;
}

/* Creates an empty table under key k of t. */
static int
table_add_table(struct cursor *c, struct node *t, struct key_part *k, unsigned flags,
		struct node **out)
{
	struct node *n;
	int rc = node_new(c, TOML_TABLE, t->depth + 1, k->line, k->col, &n);

	if (rc)
		return rc;
	n->flags = flags;
	if ((rc = table_add(c, t, k, n)) != 0)
		return rc;
	*out = n;
	return 0;
}

static const char *
kind_of(const struct node *n)
{
	if (n->v.type == TOML_ARRAY)
		return n->flags & NODE_AOT ? "an array of tables" : "an array";
	if (n->v.type == TOML_TABLE)
		return n->flags & NODE_FROZEN ? "an inline table" : "a table";
	return "a value";
}

/* ---- strings ---- */

static int
add_byte(struct cursor *c, int ch)
{
	if (buf_addc(&c->str, (char)ch) != 0)
		return fail(c, ERR_NOMEM, "out of memory");
	return 0;
}

/* One character of string content (not a quote or backslash). A newline is content
 * only in multi-line strings, where CRLF becomes LF. */
static int
string_char(struct cursor *c, bool multiline)
{
	size_t nl = newline_len(c);
	int ch = peek(c);

	if (nl && multiline) {
		advance(c, nl);
		return add_byte(c, '\n');
	}
	if (nl)
		return fail(c, ERR_INVAL, "newline in a single-line string");
	if (is_control(ch))
		return fail(c, ERR_INVAL, "%s is not allowed in a string (escape it)",
			    show_char(ch).s);
	advance(c, 1);
	return add_byte(c, ch);
}

static int
hex_value(int ch)
{
	if (is_digit(ch))
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* \uXXXX or \UXXXXXXXX, the cursor after the 'u'/'U'. */
static int
unicode_escape(struct cursor *c, int digits, int line, int col)
{
	char u8[UTF8_SEQ_MAX];
	uint32_t cp = 0;
	size_t len;

	for (int i = 0; i < digits; i++) {
		int h = hex_value(peek(c));

		if (h < 0)
			return fail(c, ERR_INVAL, "\\%c needs %d hex digits",
				    digits == 4 ? 'u' : 'U', digits);
		cp = cp << 4 | (uint32_t)h;
		advance(c, 1);
	}
	len = utf8_encode(cp, u8); /* 0: a surrogate or past U+10FFFF */
	if (len == 0)
		return fail_at(c, line, col, ERR_INVAL, "escape is not a Unicode scalar value");
	if (buf_add(&c->str, u8, len) != 0)
		return fail(c, ERR_NOMEM, "out of memory");
	return 0;
}

/* A backslash at the end of a line in a multi-line basic string swallows the newline and
 * all whitespace (and newlines) after it. Only whitespace may sit between it and the
 * newline. */
static int
line_ending_backslash(struct cursor *c, int line, int col)
{
	skip_ws(c);
	if (!newline_len(c) && !at_end(c))
		return fail_at(c, line, col, ERR_INVAL,
			       "a line-ending backslash must be followed only by whitespace");
	for (size_t nl; (nl = newline_len(c)) != 0 || is_ws(peek(c));)
		advance(c, nl ? nl : 1);
	return 0;
}

static int
escape(struct cursor *c, bool multiline)
{
	static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
	int line = c->line, col = c->col, e = peek_at(c, 1);
	const char *hit;

	advance(c, 1);
	if (multiline && (is_ws(e) || e == '\n' || e == '\r'))
		return line_ending_backslash(c, line, col);
	if (e == 'u' || e == 'U') {
		advance(c, 1);
		return unicode_escape(c, e == 'u' ? 4 : 8, line, col);
	}
	hit = e > 0 ? strchr(from, e) : NULL;
	if (!hit)
		return fail_at(c, line, col, ERR_INVAL, "invalid escape: backslash followed by %s",
			       show_char(e).s);
	advance(c, 1);
	return add_byte(c, to[hit - from]);
}

/* At a quote inside a multi-line string: the first run of three ends the string, and up
 * to two more quotes right before that belong to the content ("""a""""" is a""). */
static int
multiline_quote(struct cursor *c, char q, bool *done)
{
	size_t run = 0;

	while (peek_at(c, run) == q)
		run++;
	if (run < 3) {
		advance(c, run);
		while (run--)
			if (add_byte(c, q) != 0)
				return ERR_NOMEM;
		return 0;
	}
	for (size_t extra = run - 3 > 2 ? 2 : run - 3; extra > 0; extra--)
		if (add_byte(c, q) != 0)
			return ERR_NOMEM;
	advance(c, run > 5 ? 5 : run);
	*done = true;
	return 0;
}

/* Scans a string of any of the four kinds into c->str; the cursor is on the quote. */
static int
scan_string(struct cursor *c, bool key)
{
	char q = (char)peek(c);
	bool literal = q == '\'',
	     multiline = !key && (q == '"' ? starts_with(c, "\"\"\"") : starts_with(c, "'''"));
	int line = c->line, col = c->col, rc = 0;
	bool done = false;

	buf_reset(&c->str);
	advance(c, multiline ? 3 : 1);
	if (multiline)
		advance(c, newline_len(c)); /* a newline right after the opening is trimmed */
	while (!done && rc == 0) {
		int ch = peek(c);

		if (ch < 0)
			return fail_at(c, line, col, ERR_INVAL, "unterminated string");
		if (ch == q && multiline) {
			rc = multiline_quote(c, q, &done);
		} else if (ch == q) {
			advance(c, 1);
			done = true;
		} else if (ch == '\\' && !literal) {
			rc = escape(c, multiline);
		} else {
			rc = string_char(c, multiline);
		}
	}
	return rc;
}

/* Moves the scanned string out of c->str. */
static int
take_string(struct cursor *c, char **s, size_t *len)
{
	*len = c->str.len;
	*s = buf_steal(&c->str);
	if (!*s)
		return fail(c, ERR_NOMEM, "out of memory");
	return 0;
}

/* ---- keys ---- */

static void
key_path_free(struct key_path *kp)
{
	for (int i = 0; i < kp->n; i++)
		free(kp->parts[i].s);
	kp->n = 0;
}

static int
key_part(struct cursor *c, struct key_part *k)
{
	const char *start = c->p;
	int ch = peek(c);

	k->line = c->line;
	k->col = c->col;
	if (ch == '"' || ch == '\'') {
		int rc = scan_string(c, true);

		return rc ? rc : take_string(c, &k->s, &k->len);
	}
	if (!is_bare_key_char(ch))
		return fail(c, ERR_INVAL, "expected a key, found %s", show_char(ch).s);
	while (is_bare_key_char(peek(c)))
		advance(c, 1);
	k->len = (size_t)(c->p - start);
	k->s = strndup(start, k->len);
	if (!k->s)
		return fail(c, ERR_NOMEM, "out of memory");
	return 0;
}

/* A key: parts separated by dots, whitespace allowed around the dots. */
static int
parse_key(struct cursor *c, struct key_path *kp)
{
	int rc;

	kp->n = 0;
	for (;;) {
		if (kp->n == TOML_MAX_DEPTH)
			return fail(c, ERR_TOOBIG, "key with more than %d parts", TOML_MAX_DEPTH);
		if ((rc = key_part(c, &kp->parts[kp->n])) != 0)
			return rc;
		kp->n++;
		skip_ws(c);
		if (peek(c) != '.')
			return 0;
		advance(c, 1);
		skip_ws(c);
	}
}

static struct shown
show_key(const struct key_part *k)
{
	return show(k->s, k->len);
}

/* ---- numbers ---- */

typedef bool (*digit_fn)(int ch);

static bool
is_hex(int ch)
{
	return hex_value(ch) >= 0;
}

static bool
is_oct(int ch)
{
	return ch >= '0' && ch <= '7';
}

static bool
is_bin(int ch)
{
	return ch == '0' || ch == '1';
}

/* Length of D(_?D)* at s, 0 when s does not start with a digit: underscores only
 * between digits. */
static size_t
digit_run(const char *s, digit_fn is_d)
{
	size_t n = 0;

	if (!is_d((unsigned char)s[0]))
		return 0;
	for (n = 1; is_d((unsigned char)s[n]) || (s[n] == '_' && is_d((unsigned char)s[n + 1]));)
		n += s[n] == '_' ? 2 : 1;
	return n;
}

/* Length of a decimal integer part: optional sign, then 0 or a run without a leading 0. */
static size_t
decimal_run(const char *s)
{
	size_t sign = (s[0] == '+' || s[0] == '-'), n;

	if (s[sign] == '0')
		return sign + 1;
	n = digit_run(s + sign, is_digit);
	return n ? sign + n : 0;
}

/* Length of the fraction and exponent after an integer part (0 when there is neither,
 * or when they are malformed, e.g. "1." or "1e"). */
static size_t
float_tail(const char *s)
{
	size_t n = 0, d;

	if (s[0] == '.') {
		if ((d = digit_run(s + 1, is_digit)) == 0)
			return 0;
		n = 1 + d;
	}
	if (s[n] == 'e' || s[n] == 'E') {
		size_t sign = (s[n + 1] == '+' || s[n + 1] == '-');

		if ((d = digit_run(s + n + 1 + sign, is_digit)) == 0)
			return 0;
		n += 1 + sign + d;
	}
	return n;
}

/* The value of digits (underscores skipped) in `base`, or false on 64-bit overflow. */
static bool
accumulate(const char *s, unsigned base, uint64_t limit, uint64_t *out)
{
	uint64_t v = 0;

	for (; *s; s++) {
		unsigned d;

		if (*s == '_')
			continue;
		d = (unsigned)hex_value((unsigned char)*s);
		if (v > (limit - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

static int
set_integer(struct cursor *c, const char *tok, int line, int col, struct node *n)
{
	static const char prefix[] = "xob";
	static const unsigned base[] = {16, 8, 2};
	static const digit_fn valid[] = {is_hex, is_oct, is_bin};
	const char *p = tok[0] == '0' && tok[1] ? strchr(prefix, tok[1]) : NULL;
	bool neg = tok[0] == '-';
	uint64_t mag;

	if (p && *p) {
		size_t k = (size_t)(p - prefix);

		if (digit_run(tok + 2, valid[k]) != strlen(tok + 2) || !tok[2])
			return fail_at(c, line, col, ERR_INVAL, "invalid number %s",
				       show(tok, strlen(tok)).s);
		if (!accumulate(tok + 2, base[k], INT64_MAX, &mag))
			goto range;
		n->v.u.i = (int64_t)mag;
		return 0;
	}
	if (!accumulate(tok + (tok[0] == '+' || neg), 10, (uint64_t)INT64_MAX + neg, &mag))
		goto range;
	if (neg)
		n->v.u.i = mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
	else
		n->v.u.i = (int64_t)mag;
	return 0;
range:
	return fail_at(c, line, col, ERR_INVAL, "integer %s does not fit in 64 bits",
		       show(tok, strlen(tok)).s);
}

static int
set_float(struct cursor *c, char *tok, int line, int col, struct node *n)
{
	char *w = tok, *end;

	for (char *r = tok; *r; r++) /* underscores are only separators */
		if (*r != '_')
			*w++ = *r;
	*w = '\0';
	if (!c->c_locale && !(c->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0)))
		return fail_at(c, line, col, ERR_NOMEM, "out of memory");
	n->v.u.f = strtod_l(tok, &end, c->c_locale);
	if (*end != '\0') /* cannot happen after the grammar check */
		return fail_at(c, line, col, ERR_INTERNAL, "float not understood");
	/* ERANGE: overflow gives ±inf and underflow 0, as Python's float() does. */
	return 0;
}

static bool
is_special_float(const char *tok, double *f)
{
	const char *t = tok + (tok[0] == '+' || tok[0] == '-');
	double sign = tok[0] == '-' ? -1.0 : 1.0;

	if (strcmp(t, "inf") == 0)
		*f = sign * INFINITY;
	else if (strcmp(t, "nan") == 0)
		*f = copysign(NAN, sign);
	else
		return false;
	return true;
}

/* Numbers end where a character that cannot be part of one appears; the token is then
 * checked against the grammar as a whole. */
static int
scan_token(struct cursor *c)
{
	buf_reset(&c->str);
	for (int ch; (ch = peek(c)) >= 0; advance(c, 1)) {
		if (!is_bare_key_char(ch) && ch != '+' && ch != '.')
			break;
		if (add_byte(c, ch) != 0)
			return ERR_NOMEM;
	}
	return 0;
}

static int
parse_number(struct cursor *c, int depth, struct node **out)
{
	int line = c->line, col = c->col, rc;
	char *tok;
	size_t len, n;
	double f;

	if ((rc = scan_token(c)) != 0)
		return rc;
	tok = c->str.data;
	len = c->str.len;
	if (len == 0)
		return fail(c, ERR_INVAL, "expected a value, found %s", show_char(peek(c)).s);
	if ((rc = node_new(c, TOML_FLOAT, depth, line, col, out)) != 0)
		return rc;
	if (is_special_float(tok, &f)) {
		(*out)->v.u.f = f;
		return 0;
	}
	if (tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'o' || tok[1] == 'b')) {
		(*out)->v.type = TOML_INTEGER;
		return set_integer(c, tok, line, col, *out);
	}
	n = decimal_run(tok);
	if (n == len && n > 0) {
		(*out)->v.type = TOML_INTEGER;
		return set_integer(c, tok, line, col, *out);
	}
	if (n > 0 && float_tail(tok + n) == len - n)
		return set_float(c, tok, line, col, *out);
	return fail_at(c, line, col, ERR_INVAL, "invalid value %s", show(tok, len).s);
}

/* ---- dates and times ---- */

/* Exactly n digits as a number, or -1. */
static int
fixed_digits(struct cursor *c, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit(peek(c)))
			return -1;
		v = v * 10 + (peek(c) - '0');
		advance(c, 1);
	}
	return v;
}

static bool
expect_char(struct cursor *c, char ch)
{
	if (peek(c) != ch)
		return false;
	advance(c, 1);
	return true;
}

static bool
looks_like_date(const struct cursor *c)
{
	for (size_t i = 0; i < 4; i++)
		if (!is_digit(peek_at(c, i)))
			return false;
	return peek_at(c, 4) == '-';
}

static bool
looks_like_time(const struct cursor *c)
{
	return is_digit(peek(c)) && is_digit(peek_at(c, 1)) && peek_at(c, 2) == ':';
}

static int
days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* YYYY-MM-DD. Year 0 is refused, as Python's date (and so tomllib) refuses it. */
static int
parse_date(struct cursor *c, struct toml_datetime *dt, int line, int col)
{
	dt->year = fixed_digits(c, 4);
	if (dt->year < 0 || !expect_char(c, '-') || (dt->month = fixed_digits(c, 2)) < 0 ||
	    !expect_char(c, '-') || (dt->day = fixed_digits(c, 2)) < 0)
		return fail_at(c, line, col, ERR_INVAL, "a date is written YYYY-MM-DD");
	if (dt->year < 1 || dt->month < 1 || dt->month > 12 || dt->day < 1 ||
	    dt->day > days_in_month(dt->year, dt->month))
		return fail_at(c, line, col, ERR_INVAL, "no such date");
	return 0;
}

/* HH:MM:SS with an optional fraction, truncated to nanoseconds. */
static int
parse_time(struct cursor *c, struct toml_datetime *dt, int line, int col)
{
	if ((dt->hour = fixed_digits(c, 2)) < 0 || !expect_char(c, ':') ||
	    (dt->minute = fixed_digits(c, 2)) < 0 || !expect_char(c, ':') ||
	    (dt->second = fixed_digits(c, 2)) < 0)
		return fail_at(c, line, col, ERR_INVAL, "a time is written HH:MM:SS");
	if (dt->hour > 23 || dt->minute > 59 || dt->second > 59)
		return fail_at(c, line, col, ERR_INVAL, "no such time");
	if (!expect_char(c, '.'))
		return 0;
	if (!is_digit(peek(c)))
		return fail(c, ERR_INVAL, "expected digits after the decimal point");
	for (; is_digit(peek(c)); advance(c, 1)) {
		if (dt->frac_digits < 9)
			dt->nanosecond = dt->nanosecond * 10 + (peek(c) - '0');
		if (dt->frac_digits < INT32_MAX)
			dt->frac_digits++;
	}
	for (int i = dt->frac_digits; i < 9; i++)
		dt->nanosecond *= 10;
	return 0;
}

/* Z, z or ±HH:MM. */
static int
parse_offset(struct cursor *c, struct toml_datetime *dt)
{
	int line = c->line, col = c->col, sign = peek(c) == '-' ? -1 : 1, h, m;

	if (expect_char(c, 'Z') || expect_char(c, 'z')) {
		dt->offset_z = true;
		return 0;
	}
	advance(c, 1);
	if ((h = fixed_digits(c, 2)) < 0 || !expect_char(c, ':') || (m = fixed_digits(c, 2)) < 0)
		return fail_at(c, line, col, ERR_INVAL, "a time offset is written Z or +HH:MM");
	if (h > 23 || m > 59)
		return fail_at(c, line, col, ERR_INVAL, "no such time offset");
	dt->offset_minutes = sign * (h * 60 + m);
	return 0;
}

static bool
at_offset(const struct cursor *c)
{
	int ch = peek(c);

	return ch == 'Z' || ch == 'z' || ch == '+' || ch == '-';
}

/* A date, a time or both: the separator is T, t or one space followed by a digit. */
static int
parse_datetime(struct cursor *c, int depth, struct node **out)
{
	int line = c->line, col = c->col, rc;
	struct toml_datetime *dt;
	bool sep;

	if ((rc = node_new(c, TOML_TIME_LOCAL, depth, line, col, out)) != 0)
		return rc;
	dt = &(*out)->v.u.dt;
	if (looks_like_time(c))
		return parse_time(c, dt, line, col);
	(*out)->v.type = TOML_DATE_LOCAL;
	if ((rc = parse_date(c, dt, line, col)) != 0)
		return rc;
	sep = peek(c) == 'T' || peek(c) == 't' || (peek(c) == ' ' && is_digit(peek_at(c, 1)));
	if (!sep)
		return 0;
	advance(c, 1);
	(*out)->v.type = TOML_DATETIME_LOCAL;
	if ((rc = parse_time(c, dt, c->line, c->col)) != 0 || !at_offset(c))
		return rc;
	(*out)->v.type = TOML_DATETIME;
	return parse_offset(c, dt);
}

/* ---- values ---- */

static int parse_value(struct cursor *c, int depth, struct node **out);
static int parse_keyval(struct cursor *c, struct node *tab);

static int
parse_string_value(struct cursor *c, int depth, struct node **out)
{
	int rc = node_new(c, TOML_STRING, depth, c->line, c->col, out);

	if (rc == 0)
		rc = scan_string(c, false);
	if (rc == 0)
		rc = take_string(c, &(*out)->v.u.s.ptr, &(*out)->v.u.s.len);
	return rc;
}

static int
parse_bool(struct cursor *c, int depth, struct node **out)
{
	bool t = starts_with(c, "true");
	int rc;

	if (!t && !starts_with(c, "false"))
		return parse_number(c, depth, out); /* reports the invalid value */
	if ((rc = node_new(c, TOML_BOOL, depth, c->line, c->col, out)) != 0)
		return rc;
	(*out)->v.u.b = t;
	advance(c, t ? 4 : 5);
	return 0;
}

/* [ values, separated by commas, with newlines and comments anywhere ]. */
static int
parse_array(struct cursor *c, int depth, struct node **out)
{
	struct node *a, *item;
	int rc = node_new(c, TOML_ARRAY, depth, c->line, c->col, out);

	if (rc)
		return rc;
	a = *out;
	a->flags = NODE_FROZEN;
	advance(c, 1);
	for (;;) {
		if ((rc = skip_ws_newlines(c)) != 0)
			return rc;
		if (peek(c) == ']')
			break;
		item = NULL;
		rc = parse_value(c, depth + 1, &item);
		if (rc == 0)
			rc = array_push(c, a, item);
		else
			node_free(item);
		if (rc == 0)
			rc = skip_ws_newlines(c);
		if (rc)
			return rc;
		if (peek(c) == ']')
			break;
		if (!expect_char(c, ','))
			return fail(c, ERR_INVAL, "expected ',' or ']' in an array, found %s",
				    show_char(peek(c)).s);
	}
	advance(c, 1);
	return 0;
}

/* { key = value, ... } on one line, no trailing comma. */
static int
parse_inline_table(struct cursor *c, int depth, struct node **out)
{
	struct node *t;
	int rc = node_new(c, TOML_TABLE, depth, c->line, c->col, out);

	if (rc)
		return rc;
	t = *out;
	advance(c, 1);
	skip_ws(c);
	while (!expect_char(c, '}')) {
		if (newline_len(c))
			return fail(c, ERR_INVAL, "an inline table must stay on one line");
		if ((rc = parse_keyval(c, t)) != 0)
			return rc;
		skip_ws(c);
		if (peek(c) == '}')
			continue;
		if (!expect_char(c, ','))
			return fail(c, ERR_INVAL,
				    "expected ',' or '}' in an inline table, found %s",
				    show_char(peek(c)).s);
		skip_ws(c);
		if (peek(c) == '}')
			return fail(c, ERR_INVAL, "trailing comma in an inline table");
	}
	t->flags = NODE_FROZEN;
	return 0;
}

static int
parse_value(struct cursor *c, int depth, struct node **out)
{
	int ch = peek(c);

	if (depth > TOML_MAX_DEPTH)
		return fail(c, ERR_TOOBIG, "nesting deeper than %d levels", TOML_MAX_DEPTH);
	switch (ch) {
	case '"':
	case '\'': return parse_string_value(c, depth, out);
	case '[': return parse_array(c, depth, out);
	case '{': return parse_inline_table(c, depth, out);
	case 't':
	case 'f': return parse_bool(c, depth, out);
	}
	if (looks_like_date(c) || looks_like_time(c))
		return parse_datetime(c, depth, out);
	return parse_number(c, depth, out);
}

/* ---- key/value pairs ---- */

/* May dotted keys walk into the existing value n? */
static int
check_dotted_step(struct cursor *c, const struct node *n, const struct key_part *k)
{
	if (n->v.type != TOML_TABLE || (n->flags & NODE_FROZEN))
		return fail_at(c, k->line, k->col, ERR_INVAL,
			       "cannot add keys under '%s': it is %s", show_key(k).s, kind_of(n));
	if (n->flags & NODE_EXPLICIT) /* never so inside an inline table */
		return fail_at(c, k->line, k->col, ERR_INVAL,
			       "table '%s' has a [header]; dotted keys cannot extend it",
			       show_key(k).s);
	return 0;
}

/* Walks the dotted key kp from table tab, creating tables for all but the last part;
 * *parent is the table that gets the last part, which must not be there yet. */
static int
resolve_dotted(struct cursor *c, struct node *tab, struct key_path *kp, struct node **parent)
{
	struct key_part *last = &kp->parts[kp->n - 1];
	int rc;

	for (int i = 0; i < kp->n - 1; i++) {
		struct key_part *k = &kp->parts[i];
		struct node *child = table_find(tab, k);

		if (!child)
			rc = table_add_table(c, tab, k, NODE_DOTTED, &child);
		else
			rc = check_dotted_step(c, child, k);
		if (rc)
			return rc;
		child->flags |= NODE_DOTTED;
		tab = child;
	}
	if (table_find(tab, last))
		return fail_at(c, last->line, last->col, ERR_INVAL, "duplicate key '%s'",
			       show_key(last).s);
	*parent = tab;
	return 0;
}

/* key = value, into table tab (the current section, or an inline table being built). */
static int
parse_keyval(struct cursor *c, struct node *tab)
{
	struct key_path kp;
	struct node *parent = NULL, *val = NULL;
	int rc = parse_key(c, &kp);

	if (rc == 0 && !expect_char(c, '='))
		rc = fail(c, ERR_INVAL, "expected '=' after the key, found %s",
			  show_char(peek(c)).s);
	if (rc == 0) {
		skip_ws(c);
		rc = resolve_dotted(c, tab, &kp, &parent);
	}
	if (rc == 0)
		rc = parse_value(c, parent->depth + 1, &val);
	if (rc == 0)
		rc = table_add(c, parent, &kp.parts[kp.n - 1], val);
	else
		node_free(val);
	key_path_free(&kp);
	return rc;
}

/* ---- [table] and [[array of tables]] headers ---- */

/* Walks all but the last part of a header key from the root, creating implicit tables
 * and entering the last element of arrays of tables. */
static int
walk_header(struct cursor *c, struct key_path *kp, struct node **tab)
{
	struct node *t = c->root;
	int rc;

	for (int i = 0; i < kp->n - 1; i++) {
		struct key_part *k = &kp->parts[i];
		struct node *child = table_find(t, k);

		if (!child && (rc = table_add_table(c, t, k, 0, &child)) != 0)
			return rc;
		if (child->v.type == TOML_ARRAY && (child->flags & NODE_AOT))
			child = (struct node *)child->v.u.arr.items[child->v.u.arr.len - 1];
		else if (child->v.type != TOML_TABLE || (child->flags & NODE_FROZEN))
			return fail_at(c, k->line, k->col, ERR_INVAL,
				       "cannot define a table under '%s': it is %s", show_key(k).s,
				       kind_of(child));
		t = child;
	}
	*tab = t;
	return 0;
}

static int
open_table(struct cursor *c, struct key_path *kp)
{
	struct key_part *last = &kp->parts[kp->n - 1];
	struct node *t, *child;
	int rc = walk_header(c, kp, &t);

	if (rc)
		return rc;
	child = table_find(t, last);
	if (!child)
		rc = table_add_table(c, t, last, NODE_EXPLICIT, &child);
	else if (child->v.type != TOML_TABLE || (child->flags & NODE_FROZEN))
		rc = fail_at(c, last->line, last->col, ERR_INVAL, "'%s' is already %s",
			     show_key(last).s, kind_of(child));
	else if (child->flags & (NODE_EXPLICIT | NODE_DOTTED))
		rc = fail_at(c, last->line, last->col, ERR_INVAL, "table '%s' is defined twice",
			     show_key(last).s);
	if (rc)
		return rc;
	child->flags |= NODE_EXPLICIT;
	c->cur = child;
	return 0;
}

static int
open_array_table(struct cursor *c, struct key_path *kp, int line, int col)
{
	struct key_part *last = &kp->parts[kp->n - 1];
	struct node *t, *arr, *elem;
	int rc = walk_header(c, kp, &t);

	if (rc)
		return rc;
	arr = table_find(t, last);
	if (!arr) {
		if ((rc = node_new(c, TOML_ARRAY, t->depth + 1, last->line, last->col, &arr)) != 0)
			return rc;
		arr->flags = NODE_AOT;
		if ((rc = table_add(c, t, last, arr)) != 0)
			return rc;
	} else if (arr->v.type != TOML_ARRAY || !(arr->flags & NODE_AOT)) {
		return fail_at(c, last->line, last->col, ERR_INVAL,
			       "cannot append to '%s' with [[...]]: it is %s", show_key(last).s,
			       kind_of(arr));
	}
	if ((rc = node_new(c, TOML_TABLE, arr->depth + 1, line, col, &elem)) != 0 ||
	    (rc = array_push(c, arr, elem)) != 0)
		return rc;
	elem->flags = NODE_EXPLICIT;
	c->cur = elem;
	return 0;
}

static int
parse_header(struct cursor *c)
{
	int line = c->line, col = c->col, rc;
	bool aot = peek_at(c, 1) == '[';
	struct key_path kp;

	advance(c, aot ? 2 : 1);
	skip_ws(c);
	rc = parse_key(c, &kp);
	if (rc == 0 && !(aot ? starts_with(c, "]]") : starts_with(c, "]")))
		rc = fail(c, ERR_INVAL, "expected '%s' to close the header, found %s",
			  aot ? "]]" : "]", show_char(peek(c)).s);
	if (rc == 0) {
		advance(c, aot ? 2 : 1);
		rc = aot ? open_array_table(c, &kp, line, col) : open_table(c, &kp);
	}
	key_path_free(&kp);
	return rc;
}

/* ---- the document ---- */

/* After a statement: optional whitespace and comment, then a newline or the end. */
static int
end_of_line(struct cursor *c)
{
	size_t nl;
	int rc;

	skip_ws(c);
	if ((rc = skip_comment(c)) != 0)
		return rc;
	if (at_end(c))
		return 0;
	if ((nl = newline_len(c)) != 0) {
		advance(c, nl);
		return 0;
	}
	if (peek(c) == '\r')
		return fail(c, ERR_INVAL, "a carriage return must be followed by a newline");
	return fail(c, ERR_INVAL, "expected the end of the line, found %s", show_char(peek(c)).s);
}

static int
parse_statement(struct cursor *c)
{
	int ch = peek(c);

	if (ch == '[')
		return parse_header(c);
	if (is_bare_key_char(ch) || ch == '"' || ch == '\'')
		return parse_keyval(c, c->cur);
	if (ch == '#' || ch == '\n' || ch == '\r' || ch < 0)
		return 0; /* end_of_line deals with these */
	return fail(c, ERR_INVAL, "expected a key, a [table] or a comment, found %s",
		    show_char(ch).s);
}

static int
parse_document(struct cursor *c)
{
	int rc = check_utf8(c);

	while (rc == 0 && !at_end(c)) {
		skip_ws(c);
		rc = parse_statement(c);
		if (rc == 0)
			rc = end_of_line(c);
	}
	return rc;
}

int
toml_parse(const char *text, size_t len, struct toml_value **root, struct toml_error *err)
{
	struct cursor c = {.p = text, .end = text + len, .line = 1, .col = 1, .err = err};
	int rc;

	*root = NULL;
	memset(err, 0, sizeof(*err));
	if (len > TOML_MAX_INPUT)
		return fail(&c, ERR_TOOBIG, "document larger than %u bytes", TOML_MAX_INPUT);
	buf_init(&c.str, TOML_MAX_INPUT);
	rc = node_new(&c, TOML_TABLE, 0, 1, 1, &c.root);
	if (rc == 0) {
		c.root->flags = NODE_EXPLICIT;
		c.cur = c.root;
		rc = parse_document(&c);
	}
	buf_free(&c.str);
	if (c.c_locale)
		freelocale(c.c_locale);
	if (rc) {
		node_free(c.root);
		return rc;
	}
	*root = &c.root->v;
	return 0;
}

void
toml_free(struct toml_value *v)
{
	node_free((struct node *)v);
}

const struct toml_kv *
toml_get_kv(const struct toml_value *tab, const char *key)
{
	const struct node *t = (const struct node *)tab;
	long slot;

	if (!tab || tab->type != TOML_TABLE || !key)
		return NULL;
	slot = table_slot(t, key, strlen(key));
	return slot < 0 ? NULL : &tab->u.tab.items[slot];
}

const struct toml_value *
toml_get(const struct toml_value *tab, const char *key)
{
	const struct toml_kv *kv = toml_get_kv(tab, key);

	return kv ? kv->value : NULL;
}

const char *
toml_type_name(enum toml_type t)
{
	static const char *const names[] = {
		[TOML_TABLE] = "table",		  [TOML_ARRAY] = "array",
		[TOML_STRING] = "string",	  [TOML_INTEGER] = "integer",
		[TOML_FLOAT] = "float",		  [TOML_BOOL] = "boolean",
		[TOML_DATETIME] = "datetime",	  [TOML_DATETIME_LOCAL] = "datetime-local",
		[TOML_DATE_LOCAL] = "date-local", [TOML_TIME_LOCAL] = "time-local",
	};

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}
