/* SPDX-License-Identifier: MIT */
/* Tests of the one e-mail address rule (email.h) that config, command line and mail share. */
#include <string.h>

#include "email.h"
#include "tap.h"

static void
test_good(void)
{
	static const char *const good[] = {
		"alice@example.com", "user.name+tag@sub.example-domain.org",
		"root@localhost",    "a@b",
		"A.B@EXAMPLE.COM",   "x@xn--bcher-kva.example",
		"0123@1.2.3.4",	     "#$&'*+-/=?^_`{|}~@example.com",
		"a-b@a-b.c-d",
	};
	int all = 1;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!email_address_is_valid(good[i])) {
			diag("refused: %s", good[i]);
			all = 0;
		}
	}
	ok(all, "ordinary addresses, local domains and every atext character accepted");
}

static void
test_bad(void)
{
	static const char *const bad[] = {
		"",
		"alice",
		"@b.c",
		"a@",
		"a@@b.c",
		"a@b@c.d",
		"victim@example.com\r\nBcc: x@y.z",
		"victim@example.com\nBcc: x@y.z",
		"a@b.c, d@e.f",
		"<a@b.c>",
		"Name <a@b.c>",
		"a@b.c>",
		"\"x\"@y.z",
		"\"a b\"@c.d",
		"a b@c.d",
		"a\t@b.c",
		"a\x7f@b.c",
		"a\x01@b.c",
		".a@b.c",
		"a.@b.c",
		"a..b@c.d",
		"a@-b.c",
		"a@b-.c",
		"a@b..c",
		"a@.b.c",
		"a@b.c.",
		"a@b_c.d",
		"a%b@c.d",
		"a!b@c.d",
		"a@[1.2.3.4]",
		"a(x)@b.c",
		"a;b@c.d",
		"a:b@c.d",
		"a\\b@c.d",
		"a[b]@c.d",
		"\xc3\xa4@b.c",
		"a@b\xc3\xbc.de",
		"a@\xff",
		"alice\xff@example.com",
		"alice\xc0\xaf@example.com",
	};
	int all = 1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (email_address_is_valid(bad[i])) {
			diag("accepted: %s", bad[i]);
			all = 0;
		}
	}
	ok(all,
	   "header injection, lists, quotes, brackets, bad dots and hyphens, non-ASCII refused");
	ok(!email_address_is_valid(NULL), "NULL refused");
}

/* fill: `len` bytes of 'a' at p with a NUL after them; returns the end. */
static char *
fill(char *p, size_t len)
{
	memset(p, 'a', len);
	p[len] = '\0';
	return p + len;
}

static void
test_lengths(void)
{
	char s[512], *p;

	/* 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 bytes. */
	p = fill(s, EMAIL_LOCAL_MAX);
	*p++ = '@';
	p = fill(p, EMAIL_LABEL_MAX);
	*p++ = '.';
	p = fill(p, EMAIL_LABEL_MAX);
	*p++ = '.';
	p = fill(p, 61);
	is_int(strlen(s), EMAIL_ADDRESS_MAX, "a 254-byte address");
	ok(email_address_is_valid(s), "254 bytes accepted");
	fill(p, 1);
	ok(!email_address_is_valid(s), "255 bytes refused");

	p = fill(s, EMAIL_LOCAL_MAX + 1);
	memcpy(p, "@example.com", 13);
	ok(!email_address_is_valid(s), "a 65-byte local part refused");
	s[0] = '@';
	ok(!email_address_is_valid(s), "so is an empty one");

	memcpy(s, "a@", 2);
	p = fill(s + 2, EMAIL_LABEL_MAX);
	memcpy(p, ".com", 5);
	ok(email_address_is_valid(s), "a 63-byte label accepted");
	p = fill(s + 2, EMAIL_LABEL_MAX + 1);
	memcpy(p, ".com", 5);
	ok(!email_address_is_valid(s), "a 64-byte label refused");
}

int
main(void)
{
	test_good();
	test_bad();
	test_lengths();
	return tap_done();
}
