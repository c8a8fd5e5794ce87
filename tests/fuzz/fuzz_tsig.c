/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the BIND key-file parser (tsig_key_parse). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsig_key k;
	char msg[160];
	int line;

	if (size > TSIG_MAX_KEYFILE)
		return 0;
	if (tsig_key_parse((const char *)data, size, &k, &line, msg, sizeof(msg)) == 0) {
		/* A parsed key must be usable: a name with a dot and a non-empty secret. */
		if (k.secret_len == 0 || k.secret_len > TSIG_MAX_SECRET ||
		    k.name[strlen(k.name) - 1] != '.')
			__builtin_trap();
		tsig_key_wipe(&k);
	} else if (line < 1 || memchr(msg, '\0', sizeof(msg)) == NULL) {
		__builtin_trap();
	}
	return 0;
}
