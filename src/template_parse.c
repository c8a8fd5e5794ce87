/* SPDX-License-Identifier: MIT */
/* The template parser: tokens to a syntax tree, as jinja2.parser does it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "template_int.h"

/* ------------------------------------------------------------------------------ */
/* The parser (jinja2.parser.Parser) */

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
int
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
		syms = arena_grow(&t->arena, t->syms, t->nsyms, t->nsyms + 64, sizeof(*syms));
		if (!syms)
			return parse_nomem(p);
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
		struct expr **na =
			arena_grow(&p->t->arena, e->args, e->nargs, e->nargs + 8, sizeof(*na));
		if (!na)
			return parse_nomem(p);
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

/* callable_node: reads the name of a filter (kind EX_FILTER) or test (EX_TEST) and makes
 * the node that applies it to `arg`, its arguments still to come; *def is its entry. */
static int
callable_node(struct parser *p, enum ex_kind kind, int line, struct expr *arg,
	      const struct callable_def **def, struct expr **out)
{
	bool filter = kind == EX_FILTER;
	char name[128];
	struct expr *e;

	TRY(parse_dotted_name(p, name, sizeof(name)));
	*def = filter ? find_def(filters, sizeof(filters) / sizeof(filters[0]), name)
		      : find_def(tests, sizeof(tests) / sizeof(tests[0]), name);
	if (!*def)
		return parse_fail(p, line, "No %s named '%s'.", filter ? "filter" : "test", name);
	NEW(e, kind, line);
	e->op = (*def)->id;
	e->a = arg;
	TRY(grow(p, e, arg));
	*out = e;
	return 0;
}

static int
parse_filter(struct parser *p, struct expr **node)
{
	const struct callable_def *def;
	struct expr *e;
	int line = cur(p)->line;

	advance(p); /* | */
	TRY(callable_node(p, EX_FILTER, line, *node, &def, &e));
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
	struct expr *e, *arg;
	int line = cur(p)->line;
	bool negated = false;

	advance(p); /* is */
	if (tok_is_name(cur(p), "not")) {
		negated = true;
		advance(p);
	}
	TRY(callable_node(p, EX_TEST, line, *node, &def, &e));
	e->negated = negated;
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
			enum op *no = arena_grow(&p->t->arena, e->ops, nops, nops + 8, sizeof(*no));
			if (!no)
				return parse_nomem(p);
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

/* parse_logical: operand ('and'|'or' operand)*, left-associative; `kind` is EX_AND or EX_OR
 * and `operand` the next tighter level. */
static int
parse_logical(struct parser *p, enum ex_kind kind, int (*operand)(struct parser *, struct expr **),
	      struct expr **out)
{
	const char *word = kind == EX_AND ? "and" : "or";
	struct expr *right;

	TRY(operand(p, out));
	while (tok_is_name(cur(p), word)) {
		int line = cur(p)->line;
		advance(p);
		TRY(operand(p, &right));
		TRY(binary(p, kind, 0, line, *out, right, out));
	}
	return 0;
}

static int
parse_and(struct parser *p, struct expr **out)
{
	return parse_logical(p, EX_AND, parse_not, out);
}

static int
parse_or(struct parser *p, struct expr **out)
{
	return parse_logical(p, EX_OR, parse_and, out);
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

/* parse_for: {% for x in seq %}...{% else %}...{% endfor %}. Whether the body uses
 * `loop` is found later (stmts_name), as Jinja only makes a loop context when it does. */
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
int
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
