/* SPDX-License-Identifier: MIT */
/* A Jinja2-subset template engine for notification mails: compile once, render many times. */
#ifndef TEMPLATE_H
#define TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The language is the part of Jinja2 that mail templates use, with python3-jinja2's
 * defaults (trim_blocks, lstrip_blocks and autoescape off, one trailing newline of the
 * template dropped, \r\n and \r read as \n, undefined variables rendering as ""):
 *   {{ expr }}, {% if/elif/else/endif %}, {% for x in seq %}...{% else %}...{% endfor %}
 *   (loop.index, index0, revindex, revindex0, first, last, length, previtem, nextitem),
 *   {% set x = expr %}, {% set x %}...{% endset %}, {% print expr %}, {% raw %},
 *   {# comments #}, whitespace control with '-' (and the no-op '+');
 *   expressions: string/integer/true/false/none literals, [lists], names, x.attr, x[i],
 *   not/and/or, == != < > <= >= (chained), in / not in, ~, + - * // %, unary -/+,
 *   a if cond else b, filters (default/d, upper, lower, capitalize, title, trim,
 *   escape/e, replace, length/count, int, string, join, first, last) and tests
 *   (defined, undefined, none, boolean, true, false, integer, number, string, even,
 *   odd, divisibleby, eq/equalto, ne, lt/lessthan, le, gt/greaterthan, ge, in).
 * Everything else Jinja2 has (macros, includes, floats, method calls, dicts, tuples,
 * loop filters) is refused when compiling, as are unknown filters and tests.
 *
 * A compiled template is immutable: several threads may render it at once.
 */

/* Limits. Compiling or rendering past one fails with ERR_TOOBIG (or ERR_INVAL for
 * nesting), never with a crash. */
#define TEMPLATE_MAX_SIZE      (256 * 1024)	  /* template source bytes */
#define TEMPLATE_MAX_DEPTH     64		  /* nested blocks and expressions */
#define TEMPLATE_MAX_NAMES     1024		  /* distinct variable names in one template */
#define TEMPLATE_MAX_STEPS     5000000UL	  /* evaluation steps of one render */
#define TEMPLATE_MAX_WORK      (64 * 1024 * 1024) /* bytes of intermediate values per render */
#define TEMPLATE_MAX_VAR_BYTES (1024 * 1024)	  /* one string variable or list item */

struct template;      /* a compiled template */
struct template_vars; /* the variables one render sees */
struct template_list; /* a list value, for {% for %} */

/* template_compile: compiles `len` bytes of template source. `name` (borrowed, copied)
 * prefixes error messages, e.g. the file name. On success *out is the template
 * (caller frees with template_free). On a syntax error returns ERR_INVAL and writes
 * "NAME:LINE: message" to err (errlen bytes, may be 0); ERR_TOOBIG past a limit;
 * ERR_NOMEM. The source must be UTF-8. */
int template_compile(const char *name, const char *src, size_t len, struct template **out,
		     char *err, size_t errlen);
/* template_compile_file: reads `path` (at most TEMPLATE_MAX_SIZE bytes) and compiles it
 * with the path as name. ERR_IO (message in err) when the file cannot be read. */
int template_compile_file(const char *path, struct template **out, char *err, size_t errlen);
/* template_free: releases a compiled template. NULL ok. */
void template_free(struct template *t);

/* template_render: renders `t` with `vars` (NULL = no variables). On success *out is a
 * NUL-terminated string of *outlen bytes (caller frees; may contain NUL bytes only if
 * the template writes "\x00"). Returns ERR_TOOBIG when the output would exceed
 * `max_out` bytes or a render limit is hit, ERR_INVAL for a runtime error that Jinja2
 * raises as well (undefined attribute, 'a' + 1, division by zero, integer overflow),
 * ERR_NOMEM; the message ("NAME:LINE: message") goes to err. */
int template_render(const struct template *t, const struct template_vars *vars, size_t max_out,
		    char **out, size_t *outlen, char *err, size_t errlen);

/* template_vars_new: an empty variable set (caller frees with template_vars_free);
 * NULL when out of memory. */
struct template_vars *template_vars_new(void);
/* template_vars_free: releases the set, its strings and lists. NULL ok. */
void template_vars_free(struct template_vars *v);
/* template_vars_set_*: defines or replaces variable `name` (copied; an identifier).
 * Strings are copied and must be UTF-8 of at most TEMPLATE_MAX_VAR_BYTES.
 * set_list takes ownership of `list` (also on failure). ERR_INVAL for a bad name or
 * string, ERR_NOMEM. */
int template_vars_set_str(struct template_vars *v, const char *name, const char *value);
int template_vars_set_int(struct template_vars *v, const char *name, long long value);
int template_vars_set_bool(struct template_vars *v, const char *name, bool value);
int template_vars_set_none(struct template_vars *v, const char *name);
int template_vars_set_list(struct template_vars *v, const char *name, struct template_list *list);
/* template_vars_unset: removes `name` again (it is then undefined); 0 if it was unset. */
int template_vars_unset(struct template_vars *v, const char *name);

/* template_list_new: an empty list (caller frees, or hands it to set_list/add_list);
 * NULL when out of memory. */
struct template_list *template_list_new(void);
/* template_list_free: releases the list and its items. NULL ok. */
void template_list_free(struct template_list *l);
/* template_list_add_*: appends an item; same rules as template_vars_set_*.
 * add_list takes ownership of `item` (also on failure). */
int template_list_add_str(struct template_list *l, const char *value);
int template_list_add_int(struct template_list *l, long long value);
int template_list_add_bool(struct template_list *l, bool value);
int template_list_add_none(struct template_list *l);
int template_list_add_list(struct template_list *l, struct template_list *item);

#endif
