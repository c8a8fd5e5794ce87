/* SPDX-License-Identifier: MIT */
/* libFuzzer target: arbitrary bytes through hostname_normalize and back to Unicode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hostname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[HOSTNAME_MAX + 1], again[HOSTNAME_MAX + 1], uni[HOSTNAME_MAX * 4 + 1];
	char *in = malloc(size + 1);

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (hostname_normalize(in, out, sizeof(out)) == 0) {
		/* A normalized name is a fixed point and survives the display round trip. */
		if (hostname_normalize(out, again, sizeof(again)) != 0 || strcmp(out, again) != 0)
			abort();
		hostname_to_unicode(out, uni, sizeof(uni));
	}
	free(in);
	return 0;
}
