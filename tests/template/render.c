/* SPDX-License-Identifier: MIT */
/* Renders TEMPLATE with the variables of VARS.json to stdout (the C half of the differential test).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "template.h"

#define RENDER_MAX_OUT (1024 * 1024)

static struct template_list *json_to_list(const json_t *arr);

/* add_item: appends a JSON scalar or array to a template list; ERR_INVAL for objects/reals. */
static int
add_item(struct template_list *l, const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_STRING: return template_list_add_str(l, json_string_value(j));
	case JSON_INTEGER: return template_list_add_int(l, json_integer_value(j));
	case JSON_TRUE: return template_list_add_bool(l, true);
	case JSON_FALSE: return template_list_add_bool(l, false);
	case JSON_NULL: return template_list_add_none(l);
	case JSON_ARRAY: {
		struct template_list *sub = json_to_list(j);
		return sub ? template_list_add_list(l, sub) : ERR_INVAL;
	}
	default: return ERR_INVAL;
	}
}

static struct template_list *
json_to_list(const json_t *arr)
{
	struct template_list *l = template_list_new();
	size_t i;
	json_t *item;

	if (!l)
		return NULL;
	json_array_foreach(arr, i, item)
	{
		if (add_item(l, item) != 0) {
			template_list_free(l);
			return NULL;
		}
	}
	return l;
}

static int
set_var(struct template_vars *v, const char *name, const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_STRING: return template_vars_set_str(v, name, json_string_value(j));
	case JSON_INTEGER: return template_vars_set_int(v, name, json_integer_value(j));
	case JSON_TRUE: return template_vars_set_bool(v, name, true);
	case JSON_FALSE: return template_vars_set_bool(v, name, false);
	case JSON_NULL: return template_vars_set_none(v, name);
	case JSON_ARRAY: {
		struct template_list *l = json_to_list(j);
		return l ? template_vars_set_list(v, name, l) : ERR_INVAL;
	}
	default: return ERR_INVAL;
	}
}

int
main(int argc, char **argv)
{
	struct template *t = NULL;
	struct template_vars *vars = NULL;
	json_t *root = NULL, *val;
	json_error_t jerr;
	const char *key;
	char err[512], *out = NULL;
	size_t outlen = 0;
	int rc, status = 0;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: %s TEMPLATE [VARS.json]\n", argv[0]);
		return 64;
	}
	rc = template_compile_file(argv[1], &t, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "compile error (%s): %s\n", err_str(rc), err);
		return 2;
	}
	vars = template_vars_new();
	if (!vars) {
		status = 70;
		goto out;
	}
	if (argc == 3) {
		root = json_load_file(argv[2], 0, &jerr);
		if (!root || !json_is_object(root)) {
			fprintf(stderr, "%s: bad JSON: %s\n", argv[2],
				root ? "not an object" : jerr.text);
			status = 65;
			goto out;
		}
		json_object_foreach(root, key, val)
		{
			if (set_var(vars, key, val) != 0) {
				fprintf(stderr, "%s: cannot use variable %s\n", argv[2], key);
				status = 65;
				goto out;
			}
		}
	}
	rc = template_render(t, vars, RENDER_MAX_OUT, &out, &outlen, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "render error (%s): %s\n", err_str(rc), err);
		status = 3;
		goto out;
	}
	if (fwrite(out, 1, outlen, stdout) != outlen)
		status = 74;
out:
	free(out);
	json_decref(root);
	template_vars_free(vars);
	template_free(t);
	return status;
}
