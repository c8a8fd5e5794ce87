/* SPDX-License-Identifier: MIT */
/* Decodes TOML from stdin to the toml-test JSON encoding on stdout, for differential tests. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "err.h"
#include "toml.h"

static json_t *to_json(const struct toml_value *v);

/* A leaf as {"type": ..., "value": "..."}. */
static json_t *
typed(const char *type, const char *value)
{
	return json_pack("{s:s, s:s}", "type", type, "value", value);
}

static void
add_fraction(struct buf *b, const struct toml_datetime *dt)
{
	int digits = dt->frac_digits > 9 ? 9 : dt->frac_digits, ns = dt->nanosecond;

	if (digits == 0)
		return;
	for (int i = digits; i < 9; i++)
		ns /= 10;
	buf_printf(b, ".%0*d", digits, ns);
}

/* RFC 3339 text of a date, time or date-time, as toml-test writes it. */
static json_t *
datetime_json(const struct toml_value *v)
{
	const struct toml_datetime *dt = &v->u.dt;
	struct buf b;
	json_t *j;

	buf_init(&b, 128);
	if (v->type != TOML_TIME_LOCAL)
		buf_printf(&b, "%04d-%02d-%02d", dt->year, dt->month, dt->day);
	if (v->type == TOML_DATETIME || v->type == TOML_DATETIME_LOCAL)
		buf_addc(&b, 'T');
	if (v->type != TOML_DATE_LOCAL) {
		buf_printf(&b, "%02d:%02d:%02d", dt->hour, dt->minute, dt->second);
		add_fraction(&b, dt);
	}
	if (v->type == TOML_DATETIME && dt->offset_z)
		buf_addc(&b, 'Z');
	else if (v->type == TOML_DATETIME)
		buf_printf(&b, "%c%02d:%02d", dt->offset_minutes < 0 ? '-' : '+',
			   abs(dt->offset_minutes) / 60, abs(dt->offset_minutes) % 60);
	j = typed(toml_type_name(v->type), buf_str(&b));
	buf_free(&b);
	return j;
}

static json_t *
float_json(double f)
{
	char s[64];

	if (isnan(f))
		return typed("float", "nan");
	if (isinf(f))
		return typed("float", f < 0 ? "-inf" : "inf");
	snprintf(s, sizeof(s), "%.17g", f);
	return typed("float", s);
}

static json_t *
table_json(const struct toml_value *v)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < v->u.tab.len; i++) {
		const struct toml_kv *kv = &v->u.tab.items[i];

		if (json_object_setn_new(o, kv->key, kv->key_len, to_json(kv->value)) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *
array_json(const struct toml_value *v)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < v->u.arr.len; i++) {
		if (json_array_append_new(a, to_json(v->u.arr.items[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
to_json(const struct toml_value *v)
{
	char s[32];

	switch (v->type) {
	case TOML_TABLE: return table_json(v);
	case TOML_ARRAY: return array_json(v);
	case TOML_STRING:
		return json_pack("{s:s, s:o}", "type", "string", "value",
				 json_stringn(v->u.s.ptr, v->u.s.len));
	case TOML_INTEGER:
		snprintf(s, sizeof(s), "%lld", (long long)v->u.i);
		return typed("integer", s);
	case TOML_FLOAT: return float_json(v->u.f);
	case TOML_BOOL: return typed("bool", v->u.b ? "true" : "false");
	default: return datetime_json(v);
	}
}

/* All of stdin, refusing more than the parser would accept anyway (plus one byte, so
 * that the parser reports the oversize itself). */
static int
read_all(struct buf *b)
{
	char chunk[65536];
	size_t n;
	int rc;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		if (n > b->max - b->len)
			n = b->max - b->len;
		if ((rc = buf_add(b, chunk, n)) != 0)
			return rc;
		if (b->len == b->max)
			break;
	}
	return ferror(stdin) ? ERR_IO : 0;
}

int
main(void)
{
	struct toml_value *root = NULL;
	struct toml_error err;
	struct buf in;
	json_t *j;
	int rc;

	buf_init(&in, (size_t)TOML_MAX_INPUT + 1);
	if (read_all(&in) != 0) {
		fprintf(stderr, "toml_decode: cannot read stdin\n");
		return 2;
	}
	rc = toml_parse(in.data ? in.data : "", in.len, &root, &err);
	buf_free(&in);
	if (rc != 0) {
		fprintf(stderr, "line %d, column %d: %s\n", err.line, err.col, err.msg);
		return 1;
	}
	j = to_json(root);
	toml_free(root);
	if (!j || json_dumpf(j, stdout, JSON_INDENT(1)) != 0) {
		fprintf(stderr, "toml_decode: cannot encode JSON\n");
		json_decref(j);
		return 2;
	}
	json_decref(j);
	putchar('\n');
	return 0;
}
