/* SPDX-License-Identifier: MIT */
/* The template engine's private header: the types and functions its parts share. */
#ifndef TEMPLATE_INT_H
#define TEMPLATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "template.h"
#include "utf8.h"

/*
 * The engine mirrors python3-jinja2 3.1 with its default Environment. The comments
 * name the Jinja2 function whose behaviour a piece reproduces, because "why is it
 * like this" is nearly always "because Jinja2 does it so".
 *
 * Memory: everything a compiled template owns lives in one arena; everything a render
 * computes lives in a second arena that is dropped when the render ends. Both arenas
 * have a byte cap, so no input can make us allocate without bound.
 *
 * The parts, in the order a template goes through them:
 *   template_value.c  the arena, Python's whitespace, values, the public variable API
 *   template_lex.c    source -> tokens (jinja2.lexer)
 *   template_parse.c  tokens -> syntax tree (jinja2.parser)
 *   template_scope.c  which names each frame starts with undefined (jinja2.idtracking)
 *   template_eval.c   the renderer: expressions, filters, tests, statements
 *   template.c        the public entry points (compile, free, render) and fail_at
 */

/* ------------------------------------------------------------------------------ */
/* Arena (template_value.c) */

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

/* arena_init: an empty arena that may hold up to `max` bytes. */
void arena_init(struct arena *a, size_t max);
/* arena_free: releases every chunk; arena_alloc may be called again afterwards. */
void arena_free(struct arena *a);
/* arena_alloc: n zeroed bytes, aligned; NULL (and a->err set) past the cap or on ENOMEM. */
void *arena_alloc(struct arena *a, size_t n);
/* arena_grow: a new array of `cap` elements of `size` bytes holding a copy of the first n
 * elements of `old` (which stays allocated until the arena is freed); NULL (a->err set)
 * on failure. */
void *arena_grow(struct arena *a, const void *old, size_t n, size_t cap, size_t size);
/* arena_dup: a NUL-terminated copy of s[0..n); NULL (a->err set) on failure. */
char *arena_dup(struct arena *a, const char *s, size_t n);

/* ------------------------------------------------------------------------------ */
/* Python's notion of whitespace (template_value.c); UTF-8 comes from utf8.h */

/* is_py_space: Python's str.isspace(), which is also what `\s` and str.strip() use. */
bool is_py_space(uint32_t c);

/* ------------------------------------------------------------------------------ */
/* Values (template_value.c) */

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

/* Value constructors; tv_str borrows p[0..n). */
struct tv tv_undef(const char *name);
struct tv tv_int(long long i);
struct tv tv_bool(bool b);
struct tv tv_str(const char *p, size_t n, bool markup);
struct tv tv_list(const struct template_list *l);
/* vars_find: the variable called `name` in v (v may be NULL), or NULL. */
struct var *vars_find(const struct template_vars *v, const char *name);

/* ------------------------------------------------------------------------------ */
/* Tokens and the lexer (template_lex.c) */

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

/* lex_all: tokenizes lx->src[0..lx->len) into lx->toks (in the template's arena), the
 * last token being TK_EOF. On failure returns ERR_INVAL, ERR_TOOBIG or ERR_NOMEM with
 * "NAME:LINE: message" in lx->err. */
int lex_all(struct lexer *lx);
/* Character classes of Jinja's regular expressions (ASCII only). */
bool is_digit(char c);
bool is_name_start(char c);
/* digit_value: the value of a hex digit (either case); 99 for any other character. */
int digit_value(char c);

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
/* The parser (template_parse.c) */

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

/* subparse: statements until EOF or a block whose tag is one of end_tokens (NULL:
 * none), the tree in *out (in the template's arena). On a syntax error returns ERR_INVAL
 * with "NAME:LINE: message" in p->err; ERR_TOOBIG or ERR_NOMEM past a limit. */
int subparse(struct parser *p, const char *const *end_tokens, struct stmt **out);
/* intern: the symbol id of the variable name name[0..n), added when new. */
int intern(struct parser *p, const char *name, size_t n, int *sym);

/* ------------------------------------------------------------------------------ */
/* Scoping (template_scope.c) */

struct analyzer {
	struct template *t;
	size_t nsyms;
	int loop_sym;
	int rc;
};

struct frame_state;

/* analyze_frame: computes which names the frame `body` (whose enclosing frame is
 * `parent`, NULL for the template) binds to undefined on entry, into *out, and does the
 * same for every frame nested in it. `param` and `param2` (-1: none) are bound on entry
 * (a for loop's target and `loop`). Returns 0, ERR_NOMEM or ERR_TOOBIG. */
int analyze_frame(struct analyzer *an, const struct frame_state *parent, struct stmt *body,
		  int param, int param2, struct frame *out);
/* stmts_name: whether these statements name `sym`; sets uses_loop on every for loop
 * (when called with the symbol of `loop`). */
bool stmts_name(struct stmt *s, int sym);

/* ------------------------------------------------------------------------------ */
/* Rendering (template_eval.c) */

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

/* bind_prebound: binds each of syms[0..n) to undefined in scope s. */
int bind_prebound(struct render *r, struct scope *s, const int *syms, size_t n);
/* exec_stmts: renders the statements s to out. Returns 0 or the error of the first
 * statement that failed (message in r->err). */
int exec_stmts(struct render *r, const struct stmt *s, struct buf *out);

/* ------------------------------------------------------------------------------ */
/* Errors (template.c) */

/* fail_at: writes "TNAME:LINE: message" to err (errlen bytes, may be 0); returns rc. */
int fail_at(const char *tname, int line, char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

#endif
