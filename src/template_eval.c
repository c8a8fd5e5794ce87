/* SPDX-License-Identifier: MIT */
/* The template renderer: evaluates expressions, filters, tests and statements as Jinja2 does. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "template_int.h"

/* ------------------------------------------------------------------------------ */
/* Rendering */

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
		struct binding *nb = arena_grow(&r->arena, s->b, s->n, cap, sizeof(*nb));
		if (!nb)
			return rnomem(r, line);
		s->b = nb;
		s->cap = cap;
	}
	s->b[s->n].sym = sym;
	s->b[s->n++].val = val;
	return 0;
}

int
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

/* emit_repr_str: Python's repr() of a string. */
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

/* new_list: an arena list of n items (n and cap set) for the caller to fill; NULL when
 * the arena is full. */
static struct template_list *
new_list(struct render *r, size_t n)
{
	struct template_list *l = arena_alloc(&r->arena, sizeof(*l));

	if (!l || !(l->items = arena_alloc(&r->arena, (n ? n : 1) * sizeof(struct tv))))
		return NULL;
	l->n = l->cap = n;
	return l;
}

/* escape_html: markupsafe.escape of a string. */
static int
escape_html(struct render *r, int line, const struct tv *s, struct tv *out)
{
	struct buf b;
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
	return finish_str(r, line, &b, rc, true, out);
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
	unit = s->u.l->n;
	if (unit && (unsigned long long)count > TEMPLATE_MAX_WORK / sizeof(struct tv) / unit)
		return rfail(r, line, ERR_TOOBIG, "list repetition too large");
	total = unit * (size_t)count;
	struct template_list *l = new_list(r, total);
	if (!l)
		return rnomem(r, line);
	for (size_t k = 0; k < total; k++)
		l->items[k] = s->u.l->items[k % unit];
	*out = tv_list(l);
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
	struct template_list *l = new_list(r, a->u.l->n + b->u.l->n);
	if (!l)
		return rnomem(r, line);
	for (size_t k = 0; k < a->u.l->n; k++)
		l->items[k] = a->u.l->items[k];
	for (size_t k = 0; k < b->u.l->n; k++)
		l->items[a->u.l->n + k] = b->u.l->items[k];
	*out = tv_list(l);
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
	size_t i = 0, k = 0;

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
	l = new_list(r, utf8_count(v->u.s.p, v->u.s.n));
	if (!l)
		return rnomem(r, line);
	while (i < v->u.s.n) {
		size_t start = i;
		utf8_next(v->u.s.p, v->u.s.n, &i);
		l->items[k++] = tv_str(v->u.s.p + start, i - start, false);
	}
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

/* latin_ext_a_lower_odd/_even: the Latin Extended-A block pairs upper and lower case
 * letters as neighbours; in the runs of _odd the lower case letter is the odd code point,
 * in those of _even the even one. */
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
	return finish_str(r, line, &b, rc, false, out);
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
	return finish_str(r, line, &b, rc, false, out);
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
	struct template_list *l = new_list(r, e->nargs);
	int rc;

	if (!l)
		return rnomem(r, e->line);
	for (size_t k = 0; k < e->nargs; k++)
		if ((rc = eval(r, e->args[k], &l->items[k])) != 0)
			return rc;
	*out = tv_list(l);
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

int
exec_stmts(struct render *r, const struct stmt *s, struct buf *out)
{
	int rc = 0;

	for (; s && !rc; s = s->next)
		rc = exec_stmt(r, s, out);
	return rc;
}
