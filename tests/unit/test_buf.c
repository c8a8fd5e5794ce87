/* SPDX-License-Identifier: MIT */
/* Tests of the bounded buffer: growth, the hard maximum, formatting, ownership. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "tap.h"

int
main(void)
{
	struct buf b;
	char *s;

	buf_init(&b, 10);
	is_str(buf_str(&b), "", "an empty buffer reads as \"\"");
	is_int(buf_adds(&b, "hello"), 0, "append");
	is_int(buf_addc(&b, ' '), 0, "append a byte");
	is_int(buf_printf(&b, "%d", 123), 0, "formatted");
	is_str(buf_str(&b), "hello 123", "contents");
	is_int(b.len, 9, "length");
	is_int(buf_adds(&b, "xy"), ERR_TOOBIG, "past the maximum: refused");
	is_str(buf_str(&b), "hello 123", "and the buffer is unchanged");
	is_int(buf_addc(&b, '!'), 0, "exactly the maximum fits");
	is_int(buf_printf(&b, "%s", "z"), ERR_TOOBIG, "formatted past the maximum: refused");
	buf_reset(&b);
	is_str(buf_str(&b), "", "reset empties");
	is_int(buf_add(&b, "a\0b", 3), 0, "binary data");
	is_int(b.len, 3, "with its NUL byte");
	s = buf_steal(&b);
	ok(s && memcmp(s, "a\0b", 4) == 0, "steal hands over a terminated copy");
	free(s);
	ok(b.data == NULL && b.len == 0, "and leaves the buffer empty");
	s = buf_steal(&b);
	is_str(s, "", "stealing an empty buffer gives \"\"");
	free(s);

	buf_init(&b, 1 << 20);
	for (int i = 0; i < 100000; i++)
		if (buf_addc(&b, 'x') != 0)
			break;
	is_int(b.len, 100000, "grows by doubling to 100,000 bytes");
	buf_free(&b);
	buf_free(&b);
	buf_free(NULL);
	ok(1, "free is idempotent and takes NULL");
	return tap_done();
}
