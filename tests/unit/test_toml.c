/* SPDX-License-Identifier: MIT */
/* Unit tests of the TOML parser's API: lookups, positions, errors and hard limits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "tap.h"
#include "toml.h"

static struct toml_value *
parse_ok(const char *text, const char *name)
{
	struct toml_value *root = NULL;
	struct toml_error err;
	int rc = toml_parse(text, strlen(text), &root, &err);

	ok(rc == 0 && root, "%s parses", name);
	if (rc)
		diag("line %d, column %d: %s", err.line, err.col, err.msg);
	return root;
}

/* Parses text expecting failure `code` at line:col. */
static void
parse_fails(const char *text, size_t len, int code, int line, int col, const char *name)
{
	struct toml_value *root = (struct toml_value *)1;
	struct toml_error err;
	int rc = toml_parse(text, len, &root, &err);

	is_int(rc, code, name);
	ok(root == NULL, "%s: no tree", name);
	if (line) {
		is_int(err.line, line, "error line");
		is_int(err.col, col, "error column");
	}
	ok(err.msg[0] != '\0', "%s: message '%s'", name, err.msg);
}

static void
test_lookups(void)
{
	struct toml_value *root = parse_ok("title = \"x\"\n"
					   "[server]\n"
					   "port = 8080\n"
					   "  \"quoted key\" = true\n"
					   "[server.tls]\n"
					   "on = false\n",
					   "lookups");
	const struct toml_value *server = toml_get(root, "server");
	const struct toml_kv *kv;

	is_int(root->type, TOML_TABLE, "root is a table");
	is_str(toml_get(root, "title")->u.s.ptr, "x", "root string");
	ok(server && server->type == TOML_TABLE, "[server] is a table");
	is_int(toml_get(server, "port")->u.i, 8080, "server.port");
	ok(toml_get(server, "quoted key")->u.b, "quoted key found");
	ok(toml_get(server, "missing") == NULL, "missing key is NULL");
	ok(toml_get(toml_get(server, "port"), "x") == NULL, "lookup in a non-table is NULL");
	ok(toml_get(NULL, "x") == NULL, "lookup in NULL is NULL");
	ok(toml_get(toml_get(server, "tls"), "on")->u.b == false, "nested table");
	kv = toml_get_kv(server, "port");
	is_int(kv->line, 3, "key line of port");
	is_int(kv->col, 1, "key column of port");
	is_int(kv->value->line, 3, "value line of port");
	is_int(kv->value->col, 8, "value column of port");
	is_int(toml_get_kv(server, "quoted key")->col, 3, "key column after indentation");
	is_int(toml_get_kv(root, "server")->line, 2, "header key line");
	is_int(server->u.tab.len, 3, "server has port, quoted key, tls in order");
	is_str(server->u.tab.items[2].key, "tls", "definition order kept");
	toml_free(root);
	toml_free(NULL);
}

/* Lines of keys as the config module reports them: dotted parts, array-of-tables
 * elements, and tables created implicitly before their header. */
static void
test_key_lines(void)
{
	struct toml_value *root = parse_ok("\n"
					   "a.b.c = 1\n"
					   "[[ep]]\n"
					   "path = \"/x\"\n"
					   "[[ep]]\n"
					   "\n"
					   "path = \"/y\"\n"
					   "[x.y]\n"
					   "[x]\n"
					   "z = 2\n",
					   "key lines");
	const struct toml_value *ep = toml_get(root, "ep"), *a = toml_get(root, "a");

	is_int(toml_get_kv(root, "a")->line, 2, "dotted part line");
	is_int(toml_get_kv(toml_get(a, "b"), "c")->col, 5, "last dotted part column");
	is_int(ep->type, TOML_ARRAY, "[[ep]] is an array");
	is_int(ep->u.arr.len, 2, "two elements");
	is_int(toml_get_kv(ep->u.arr.items[1], "path")->line, 7, "key line in 2nd element");
	is_int(ep->u.arr.items[1]->line, 5, "element line is its [[header]]");
	is_int(toml_get_kv(root, "x")->line, 8, "implicit table keeps its first line");
	is_int(toml_get_kv(toml_get(root, "x"), "z")->line, 10, "key under later [x]");
	toml_free(root);
}

static void
test_types(void)
{
	struct toml_value *root = parse_ok("s = 'lit'\n"
					   "nul = \"a\\u0000b\"\n"
					   "ml = \"\"\"\n  x \\\n  y\"\"\"\n"
					   "i = -9223372036854775808\n"
					   "h = 0x7fffffffffffffff\n"
					   "f = 6.25e-1\n"
					   "ni = -inf\n"
					   "nn = nan\n"
					   "b = true\n"
					   "odt = 1979-05-27T00:32:00.1234567891-07:30\n"
					   "z = 1979-05-27T07:32:00z\n"
					   "ldt = 1979-05-27 07:32:00\n"
					   "ld = 2000-02-29\n"
					   "lt = 07:32:00.5\n"
					   "arr = [1, 'two', [3]]\n"
					   "inl = {k = 1}\n",
					   "types");
	const struct toml_value *v;

	is_str(toml_get(root, "s")->u.s.ptr, "lit", "literal string");
	v = toml_get(root, "nul");
	ok(v->u.s.len == 3 && memcmp(v->u.s.ptr, "a\0b", 3) == 0, "\\u0000 kept, len 3");
	is_str(toml_get(root, "ml")->u.s.ptr, "  x y", "multi-line basic string");
	ok(toml_get(root, "i")->u.i == INT64_MIN, "INT64_MIN");
	ok(toml_get(root, "h")->u.i == INT64_MAX, "hex INT64_MAX");
	ok(toml_get(root, "f")->u.f == 0.625, "float");
	ok(isinf(toml_get(root, "ni")->u.f) && toml_get(root, "ni")->u.f < 0, "-inf");
	ok(isnan(toml_get(root, "nn")->u.f), "nan");
	is_int(toml_get(root, "b")->type, TOML_BOOL, "bool");
	v = toml_get(root, "odt");
	is_int(v->type, TOML_DATETIME, "offset date-time");
	is_int(v->u.dt.offset_minutes, -450, "offset -07:30");
	is_int(v->u.dt.nanosecond, 123456789, "fraction truncated to nanoseconds");
	is_int(v->u.dt.frac_digits, 10, "fraction digits as written");
	ok(!v->u.dt.offset_z, "numeric offset");
	ok(toml_get(root, "z")->u.dt.offset_z, "lower-case z");
	v = toml_get(root, "ldt");
	ok(v->type == TOML_DATETIME_LOCAL && v->u.dt.hour == 7 && v->u.dt.day == 27,
	   "local date-time with a space");
	v = toml_get(root, "ld");
	ok(v->type == TOML_DATE_LOCAL && v->u.dt.month == 2 && v->u.dt.day == 29, "leap day");
	v = toml_get(root, "lt");
	ok(v->type == TOML_TIME_LOCAL && v->u.dt.nanosecond == 500000000, "local time");
	v = toml_get(root, "arr");
	ok(v->type == TOML_ARRAY && v->u.arr.len == 3 && v->u.arr.items[2]->type == TOML_ARRAY,
	   "mixed array");
	is_int(toml_get(toml_get(root, "inl"), "k")->u.i, 1, "inline table");
	is_str(toml_type_name(TOML_BOOL), "boolean", "type name boolean");
	is_str(toml_type_name(TOML_TIME_LOCAL), "time-local", "type name time-local");
	toml_free(root);
}

static void
test_errors(void)
{
	const char bad_utf8[] = "a = 1\nb = \"\xc0\xaf\"\n";

	parse_fails("a = 1\nb = 2\na = 3\n", 18, ERR_INVAL, 3, 1, "duplicate key");
	parse_fails("[t]\nx = \"\\q\"\n", 13, ERR_INVAL, 2, 6, "bad escape");
	parse_fails("x = \"abc\n", 9, ERR_INVAL, 1, 9, "unterminated string");
	parse_fails(bad_utf8, sizeof(bad_utf8) - 1, ERR_INVAL, 2, 6, "invalid UTF-8");
	parse_fails("x = \"ab\\uD800\"\n", 15, ERR_INVAL, 1, 8, "\\u of a surrogate");
	parse_fails("x = \"\\U00110000\"\n", 17, ERR_INVAL, 1, 6, "\\U past U+10FFFF");
	parse_fails("a = 1\rb = 2\n", 12, ERR_INVAL, 1, 6, "bare CR");
	parse_fails("\xef\xbb\xbf"
		    "a = 1\n",
		    9, ERR_INVAL, 1, 1, "byte order mark");
	parse_fails("[a]\n[a]\n", 8, ERR_INVAL, 2, 2, "table defined twice");
	parse_fails("a = {b = 1}\na.c = 2\n", 20, ERR_INVAL, 2, 1, "inline table extended");
	parse_fails("# é\n\xc3\xa9 = 1\n", 11, ERR_INVAL, 2, 1, "non-ASCII bare key");
	parse_fails("k = \"é\" x\n", 11, ERR_INVAL, 1, 9, "column counts characters");
	parse_fails("a = 9223372036854775808\n", 24, ERR_INVAL, 1, 5, "integer overflow");
	parse_fails("a = 1979-02-29\n", 15, ERR_INVAL, 1, 5, "no such date");
}

/* `n` copies of `unit` between prefix and suffix. Caller frees. */
static char *
repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
	struct buf b;

	buf_init(&b, (size_t)64 << 20);
	buf_adds(&b, prefix);
	while (n--)
		buf_adds(&b, unit);
	buf_adds(&b, suffix);
	return buf_steal(&b);
}

static void
test_limits(void)
{
	char *s;
	struct toml_value *root;

	/* a = [[...[1]...]]: the key's value is level 1, so 63 arrays put 1 at level 64. */
	{
		char *open = repeat("a = ", "[", TOML_MAX_DEPTH - 1, "1");
		char *text = repeat(open, "]", TOML_MAX_DEPTH - 1, "\n");

		root = parse_ok(text, "nesting at the limit");
		toml_free(root);
		free(open);
		free(text);
	}
	s = repeat("a = ", "[", 100000, "");
	parse_fails(s, strlen(s), ERR_TOOBIG, 1, 5 + TOML_MAX_DEPTH,
		    "100000 nested arrays refused");
	free(s);
	s = repeat("a = ", "{b = ", 100000, "");
	parse_fails(s, strlen(s), ERR_TOOBIG, 0, 0, "100000 nested inline tables refused");
	free(s);
	s = repeat("a", ".a", 100000, " = 1\n");
	parse_fails(s, strlen(s), ERR_TOOBIG, 0, 0, "dotted key of 100001 parts refused");
	free(s);
	s = repeat("[a", ".a", TOML_MAX_DEPTH, "]\n");
	parse_fails(s, strlen(s), ERR_TOOBIG, 0, 0, "header deeper than the limit refused");
	free(s);
	s = repeat("", "[[a]]\n[[a.a]]\n", 1, "");
	root = parse_ok(s, "array of tables inside array of tables");
	toml_free(root);
	free(s);

	s = calloc(1, (size_t)TOML_MAX_INPUT + 1);
	memset(s, '\n', (size_t)TOML_MAX_INPUT + 1);
	parse_fails(s, (size_t)TOML_MAX_INPUT + 1, ERR_TOOBIG, 1, 1,
		    "input over the limit refused");
	free(s);

	s = repeat("a = [", "0,", TOML_MAX_VALUES, "]\n");
	parse_fails(s, strlen(s), ERR_TOOBIG, 0, 0, "more than TOML_MAX_VALUES values refused");
	free(s);
}

/* A table with many keys stays fast (hash index) and still finds duplicates. */
static void
test_wide_table(void)
{
	struct buf b;
	struct toml_value *root = NULL;
	struct toml_error err;
	char key[32];
	int rc, found = 0;

	buf_init(&b, (size_t)16 << 20);
	for (int i = 0; i < 50000; i++)
		buf_printf(&b, "k%d = %d\n", i, i);
	rc = toml_parse(b.data, b.len, &root, &err);
	is_int(rc, 0, "50000 keys parse");
	for (int i = 0; i < 50000; i += 997) {
		snprintf(key, sizeof(key), "k%d", i);
		found += toml_get(root, key) && toml_get(root, key)->u.i == i;
	}
	is_int(found, 51, "keys found through the index");
	is_int(toml_get_kv(root, "k49999")->line, 50000, "line of the last key");
	toml_free(root);
	buf_printf(&b, "k123 = 0\n");
	rc = toml_parse(b.data, b.len, &root, &err);
	is_int(rc, ERR_INVAL, "duplicate found in a big table");
	is_int(err.line, 50001, "duplicate's line");
	buf_free(&b);
}

int
main(void)
{
	test_lookups();
	test_key_lines();
	test_types();
	test_errors();
	test_limits();
	test_wide_table();
	return tap_done();
}
