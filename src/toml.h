/* SPDX-License-Identifier: MIT */
/* A TOML 1.0 parser: text in, an immutable tree of values out, errors with line and column. */
#ifndef TOML_H
#define TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard limits, so that hostile input cannot exhaust the stack or memory. */
#define TOML_MAX_DEPTH	64	    /* nesting of arrays/inline tables */
#define TOML_MAX_INPUT	(16u << 20) /* bytes of one document */
#define TOML_MAX_VALUES (1u << 20)  /* values (incl. tables) in one document */

enum toml_type {
	TOML_TABLE,
	TOML_ARRAY,
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,	     /* offset date-time: 1979-05-27T07:32:00Z */
	TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
	TOML_DATE_LOCAL,     /* 1979-05-27 */
	TOML_TIME_LOCAL	     /* 07:32:00 */
};

struct toml_value;

/* One key of a table, in definition order. */
struct toml_kv {
	char *key; /* the key, UTF-8, may contain NUL bytes: use key_len */
	size_t key_len;
	int line, col; /* where the key was (first) defined, 1-based */
	struct toml_value *value;
};

struct toml_datetime {
	int year, month, day;	  /* 0 for a local time */
	int hour, minute, second; /* 0 for a local date */
	int nanosecond;		  /* fractional seconds, truncated to 9 digits */
	int frac_digits;	  /* digits of the fraction as written (0 = none) */
	int offset_minutes;	  /* offset from UTC, TOML_DATETIME only */
	bool offset_z;		  /* written as Z/z rather than +00:00 */
};

struct toml_value {
	enum toml_type type;
	int line, col; /* where the value starts, 1-based */
	union {
		struct {
			char *ptr; /* NUL-terminated, may contain NUL: use len */
			size_t len;
		} s;
		int64_t i;
		double f;
		bool b;
		struct toml_datetime dt;
		struct {
			struct toml_value **items;
			size_t len;
		} arr;
		struct {
			struct toml_kv *items;
			size_t len;
		} tab;
	} u;
};

struct toml_error {
	int line, col; /* 1-based position of the problem */
	char msg[200]; /* one English sentence, no position */
};

/* toml_parse: parses `len` bytes of TOML. On success *root is a TOML_TABLE that the
 * caller frees with toml_free. On failure returns ERR_INVAL (or ERR_NOMEM/ERR_TOOBIG),
 * fills *err and leaves *root NULL. Invalid UTF-8 is an error. A document over
 * TOML_MAX_INPUT bytes, nested deeper than TOML_MAX_DEPTH (counting table, array and
 * dotted-key levels) or holding more than TOML_MAX_VALUES values gives ERR_TOOBIG.
 * As in Python's tomllib, a byte order mark is rejected and seconds stop at 59. */
int toml_parse(const char *text, size_t len, struct toml_value **root, struct toml_error *err);

/* toml_free: frees a tree returned by toml_parse. NULL is fine. */
void toml_free(struct toml_value *v);

/* toml_get: the value of `key` in table `tab`, or NULL (also when tab is not a table). */
const struct toml_value *toml_get(const struct toml_value *tab, const char *key);
/* toml_get_kv: as toml_get but returns the key entry (for its line). */
const struct toml_kv *toml_get_kv(const struct toml_value *tab, const char *key);

/* toml_type_name: "table", "array", "string", "integer", "float", "boolean", "datetime",
 * "datetime-local", "date-local", "time-local". */
const char *toml_type_name(enum toml_type t);

#endif
