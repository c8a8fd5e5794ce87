/* SPDX-License-Identifier: MIT */
/* libFuzzer target: compiles the input as a template and renders it with a fixed variable set. */
#include <stdint.h>
#include <stdlib.h>

#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* vars_make: a few variables of every type, under names the seed corpus uses. */
static struct template_vars *
vars_make(void)
{
	static const char *const strs[][2] = {
		{"s", "h\xc3\xa9llo <w\xc3\xb6rld> & 'x'"},
		{"x", "X"},
		{"y", ""},
		{"fqdn", "mypc.dyn.example.com"},
		{"hostname", "mypc"},
		{"zone", "dyn.example.com"},
		{"ipv4", "198.51.100.7"},
		{"ipv6", "2001:db8::1"},
		{"name", " jane "},
		{"last_ipv4_update", "2026-11-25 17:50:00 UTC"},
	};
	struct template_vars *v = template_vars_new();
	struct template_list *l = template_list_new(), *inner = template_list_new();

	if (!v || !l || !inner) {
		template_vars_free(v);
		template_list_free(l);
		template_list_free(inner);
		return NULL;
	}
	for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++)
		template_vars_set_str(v, strs[k][0], strs[k][1]);
	template_vars_set_int(v, "i", 42);
	template_vars_set_int(v, "expiry_ttl", 3600);
	template_vars_set_int(v, "z", 0);
	template_vars_set_bool(v, "t", true);
	template_vars_set_bool(v, "ipv4_changed", true);
	template_vars_set_bool(v, "f", false);
	template_vars_set_none(v, "n");
	template_list_add_str(inner, "in");
	template_list_add_str(l, "a");
	template_list_add_int(l, -1);
	template_list_add_bool(l, true);
	template_list_add_none(l);
	template_list_add_list(l, inner);
	template_vars_set_list(v, "items", l);
	l = template_list_new();
	template_vars_set_list(v, "e", l);
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct template_vars *vars;
	struct template *t = NULL;
	char err[256], *out = NULL;
	size_t len;

	if (!vars)
		vars = vars_make(); /* kept for the whole run: the fuzzer never frees it */
	if (template_compile("fuzz", (const char *)data, size, &t, err, sizeof(err)) != 0)
		return 0;
	if (template_render(t, vars, 65536, &out, &len, err, sizeof(err)) == 0)
		free(out);
	template_free(t);
	return 0;
}
