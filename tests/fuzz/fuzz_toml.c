/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes through toml_parse, which must fail cleanly or build a tree. */
#include <stddef.h>
#include <stdint.h>

#include "toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toml_value *root = NULL;
	struct toml_error err;

	if (toml_parse((const char *)data, size, &root, &err) == 0)
		toml_free(root);
	return 0;
}
