/* SPDX-License-Identifier: MIT */
/* Tests of the UTF-8 module: RFC 3629's boundaries, every malformation, round trips. */
#include <string.h>

#include "tap.h"
#include "utf8.h"

/* dec: utf8_decode of the string literal s (its bytes, without the terminating NUL). */
#define dec(s, cp) utf8_decode((s), sizeof(s) - 1, (cp))

static void test_decode_edges(void);

static void
test_decode(void)
{
	static const struct {
		const char *s;
		size_t len;
		uint32_t cp;
	} good[] = {
		{"A", 1, 0x41},
		{"\x7f", 1, 0x7f},
		{"\xc2\x80", 2, 0x80},
		{"\xdf\xbf", 2, 0x7ff},
		{"\xe0\xa0\x80", 3, 0x800},
		{"\xed\x9f\xbf", 3, 0xd7ff},
		{"\xee\x80\x80", 3, 0xe000},
		{"\xef\xbf\xbf", 3, 0xffff},
		{"\xf0\x90\x80\x80", 4, 0x10000},
		{"\xf4\x8f\xbf\xbf", 4, 0x10ffff},
	};
	static const char *const bad[] = {
		"\x80",		    /* a continuation byte alone */
		"\xbf",		    /* another */
		"\xc0\x80",	    /* overlong U+0000 */
		"\xc1\xbf",	    /* overlong U+007F */
		"\xe0\x80\x80",	    /* overlong U+0000 in three bytes */
		"\xe0\x9f\xbf",	    /* overlong U+07FF */
		"\xf0\x80\x80\x80", /* overlong in four bytes */
		"\xf0\x8f\xbf\xbf", /* overlong U+FFFF */
		"\xed\xa0\x80",	    /* U+D800, a surrogate */
		"\xed\xbf\xbf",	    /* U+DFFF */
		"\xf4\x90\x80\x80", /* U+110000 */
		"\xf5\x80\x80\x80", /* lead byte past U+10FFFF */
		"\xfe",
		"\xff",
		"\xe2\x28\xa1", /* second byte not a continuation */
		"\xe2\x82\x28", /* third byte not a continuation */
		"\xe2\x82",	/* cut short */
		"\xf0\x9f\x98", /* cut short */
		"\xc3",		/* cut short */
	};
	uint32_t cp;
	int all = 1;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cp = 0;
		if (utf8_decode(good[i].s, strlen(good[i].s), &cp) != good[i].len ||
		    cp != good[i].cp) {
			diag("U+%04X not decoded", good[i].cp);
			all = 0;
		}
	}
	ok(all, "the boundaries of each length decode");
	all = 1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cp = 0x1234;
		if (utf8_decode(bad[i], strlen(bad[i]), &cp) != 0 || cp != 0x1234) {
			diag("malformed sequence %zu accepted", i);
			all = 0;
		}
	}
	ok(all, "overlongs, surrogates, > U+10FFFF, stray and missing bytes: 0, *cp untouched");
	test_decode_edges();
}

/* NUL, a length that cuts a sequence, an empty input and a NULL code point. */
static void
test_decode_edges(void)
{
	uint32_t cp = 1;

	is_int(dec("\0", &cp), 1, "NUL is a one-byte character");
	is_int(cp, 0, "U+0000");
	is_int(utf8_decode("\xe2\x82\xac", 2, &cp), 0, "n cuts the sequence: refused");
	is_int(utf8_decode("x", 0, &cp), 0, "n = 0");
	is_int(dec("\xe2\x82\xac!", NULL), 3, "cp may be NULL; trailing bytes ignored");
}

/* Every sequence of `len` bytes whose lead byte is in [lo, hi] and whose other bytes
 * are continuation bytes or one of a few others: decode must accept exactly the
 * sequences that encode writes, so it accepts `want` of them. */
static void
exhaust(size_t len, unsigned lo, unsigned hi, unsigned long want)
{
	static const unsigned char extra[] = {0x00, 0x41, 0x7f, 0xc0, 0xff};
	unsigned char s[4], tail[64 + sizeof(extra)];
	unsigned long accepted = 0, total = 1, wrong = 0;
	size_t ntail = 0;

	for (unsigned b = 0x80; b <= 0xbf; b++)
		tail[ntail++] = (unsigned char)b;
	memcpy(tail + ntail, extra, sizeof(extra));
	ntail += sizeof(extra);
	for (size_t k = 1; k < len; k++)
		total *= ntail;
	for (unsigned lead = lo; lead <= hi; lead++) {
		for (unsigned long x = 0; x < total; x++) {
			unsigned long rest = x;
			uint32_t cp;
			char enc[UTF8_SEQ_MAX];
			s[0] = (unsigned char)lead;
			for (size_t k = 1; k < len; k++, rest /= ntail)
				s[k] = tail[rest % ntail];
			if (utf8_decode((const char *)s, len, &cp) != len)
				continue;
			accepted++;
			if (utf8_encode(cp, enc) != len || memcmp(enc, s, len) != 0)
				wrong++;
		}
	}
	ok(accepted == want && wrong == 0,
	   "%zu-byte sequences: %lu accepted (want %lu), each the encoding of its code point", len,
	   accepted, want);
}

static void
test_encode(void)
{
	char out[UTF8_SEQ_MAX];
	unsigned long bad = 0;

	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		uint32_t back = 0;
		size_t n = utf8_encode(cp, out);
		if (cp >= 0xd800 && cp <= 0xdfff) {
			bad += n != 0;
			continue;
		}
		if (n == 0 || utf8_decode(out, n, &back) != n || back != cp)
			bad++;
	}
	is_int(bad, 0, "every scalar value round-trips; surrogates are not encoded");
	is_int(utf8_encode(0x110000, out), 0, "U+110000 has no encoding");
	is_int(utf8_encode(0xffffffff, out), 0, "nor has 0xFFFFFFFF");
	is_int(utf8_encode(0x20ac, out), 3, "the euro sign is three bytes");
	ok(memcmp(out, "\xe2\x82\xac", 3) == 0, "E2 82 AC");
}

static void
test_strings(void)
{
	const char mixed[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* aé€😀 */
	size_t i = 0;

	ok(utf8_is_valid("", 0), "the empty string is valid");
	ok(utf8_is_valid(mixed, sizeof(mixed) - 1), "mixed lengths are valid");
	ok(utf8_is_valid("a\0b", 3), "a NUL byte is valid and does not end the string");
	ok(!utf8_is_valid("ab\xc3", 3), "cut at the end");
	is_int(utf8_valid_len("ab\xed\xa0\x80z", 6), 2, "valid_len: offset of the surrogate");
	is_int(utf8_valid_len(mixed, sizeof(mixed) - 1), sizeof(mixed) - 1, "valid_len: all");
	is_int(utf8_count(mixed, sizeof(mixed) - 1), 4, "count: four characters");
	is_int(utf8_count("", 0), 0, "count: none");
	is_int(utf8_next(mixed, sizeof(mixed) - 1, &i), 'a', "next: a");
	is_int(utf8_next(mixed, sizeof(mixed) - 1, &i), 0xe9, "next: e acute");
	is_int(i, 3, "next advanced by 1 + 2 bytes");
	i = 1;
	is_int(utf8_next("a\xff"
			 "b",
			 3, &i),
	       0xfffd, "next: a bad byte is U+FFFD");
	is_int(i, 2, "and advances by one");
}

static void
test_prefix(void)
{
	const char s[] = "a\xc3\xa9\xe2\x82\xac"; /* aé€: 1 + 2 + 3 bytes */
	size_t n = sizeof(s) - 1;

	is_int(utf8_prefix_len(s, n, 3), 3, "a and e acute fit in 3 bytes");
	is_int(utf8_prefix_len(s, n, 5), 3, "the euro sign is not cut");
	is_int(utf8_prefix_len(s, n, 6), 6, "everything fits in 6");
	is_int(utf8_prefix_len(s, n, 100), 6, "nor more than there is");
	is_int(utf8_prefix_len(s + 3, 3, 1), 3, "at least one character, even past cap");
	is_int(utf8_prefix_len(s, 0, 10), 0, "nothing from nothing");
	is_int(utf8_prefix_len("\xff\xfe", 2, 1), 1, "a malformed byte is a character of its own");
}

int
main(void)
{
	test_decode();
	exhaust(1, 0x00, 0xff, 0x80);
	exhaust(2, 0x80, 0xff, 0x800 - 0x80);
	exhaust(3, 0x80, 0xff, 0x10000 - 0x800 - 0x800);
	exhaust(4, 0xe0, 0xff, 0x110000 - 0x10000);
	test_encode();
	test_strings();
	test_prefix();
	return tap_done();
}
