/* SPDX-License-Identifier: MIT */
/* libFuzzer target: a raw request target through the early check and the request-log filter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *host[] = {"hostname", "host"};
static char *v4[] = {"myip"};
static char *v6[] = {"myip6"};
static char *user[] = {"username"};
static char *pass[] = {"password", "pass"};

/* The bytes a log line may show of a query: keys of harmless aliases, "=", "&", and
 * the bytes of a harmless value (http.c is_value_byte). */
static void
check_shown(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c >= 0x80 || strchr(".-_,:/=&", c)))
			abort();
	}
}

/* Input: the request target as the request line has it (cut at the first NUL). Its
 * query is split at "&" and "=" as MHD does (without decoding, which only adds bytes
 * the filter must cut anyway). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_endpoint ep = {.path = "/update"};
	char *t = malloc(size + 1), *q, *save = NULL;
	unsigned hidden = 0, params = 0, status;
	struct buf b;

	if (!t)
		return 0;
	memcpy(t, data, size);
	t[size] = '\0';
	ep.params[PARAM_HOSTNAME] = (struct config_strlist){host, 2};
	ep.params[PARAM_IPV4] = (struct config_strlist){v4, 1};
	ep.params[PARAM_IPV6] = (struct config_strlist){v6, 1};
	ep.params[PARAM_USERNAME] = (struct config_strlist){user, 1};
	ep.params[PARAM_PASSWORD] = (struct config_strlist){pass, 2};
	status = http_target_status(t);
	if (status != 0 && status != 400 && status != 414)
		abort();
	buf_init(&b, 65536);
	if (http_log_path(NULL, t, &b) != 0 || memchr(b.data, '?', b.len) ||
	    memchr(b.data, '=', b.len))
		abort();
	buf_free(&b);
	buf_init(&b, 65536);
	q = strchr(t, '?');
	for (char *p = q ? strtok_r(q + 1, "&", &save) : NULL; p; p = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(p, '=');
		size_t before = b.len;
		unsigned was_hidden = hidden;

		if (eq)
			*eq++ = '\0';
		params++;
		if (http_log_param(&ep, p, eq, &b, &hidden) != 0)
			abort();
		/* A parameter is either shown or counted, never both; a counted one adds
		 * nothing, and a credential is always counted. */
		if ((hidden != was_hidden) == (b.len != before))
			abort();
		if ((strcasecmp(p, "password") == 0 || strcasecmp(p, "username") == 0) &&
		    hidden == was_hidden)
			abort();
	}
	check_shown(&b);
	if (hidden > params)
		abort();
	buf_free(&b);
	free(t);
	return 0;
}
