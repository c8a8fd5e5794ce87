/* SPDX-License-Identifier: MIT */
/* libFuzzer target: an ACME API request body (jansson) and its challenge name → host. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a parsed body promises: a valid value, a bounded name; and a host that is the
 * fixed point of the rule (its challenge name maps back to it). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acme_body b;
	char why[256], host[HOSTNAME_MAX + 1], name[HOSTNAME_MAX + 1], again[HOSTNAME_MAX + 1];

	if (acme_parse_body((const char *)data, size, &b, why, sizeof(why)) != 0) {
		if (why[0] == '\0')
			abort();
		return 0;
	}
	if (!acme_value_is_valid(b.value) || strlen(b.name) >= sizeof(b.name))
		abort();
	if (acme_challenge_host(b.name, host, sizeof(host)) != 0)
		return 0;
	if (acme_challenge_name(host, name, sizeof(name)) != 0 ||
	    acme_challenge_host(name, again, sizeof(again)) != 0 || strcmp(host, again) != 0)
		abort();
	return 0;
}
