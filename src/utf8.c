/* SPDX-License-Identifier: MIT */
/* UTF-8 (RFC 3629) decoding, encoding, validation and counting for every module. */
#include "utf8.h"

size_t
utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t c;
	size_t len;

	if (n == 0)
		return 0;
	if (u[0] < 0x80) {
		if (cp)
			*cp = u[0];
		return 1;
	}
	/* C0 and C1 could only start overlong two-byte forms; F5..FF only values past
	 * U+10FFFF. */
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		len = 2, c = u[0] & 0x1f;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		len = 3, c = u[0] & 0x0f;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		len = 4, c = u[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (u[i] & 0x3f);
	}
	/* Overlong three- and four-byte forms, surrogates, values past U+10FFFF. */
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp)
		*cp = c;
	return len;
}

uint32_t
utf8_next(const char *s, size_t n, size_t *i)
{
	uint32_t cp;
	size_t len = utf8_decode(s + *i, n - *i, &cp);

	if (len == 0) {
		*i += 1;
		return 0xfffd;
	}
	*i += len;
	return cp;
}

size_t
utf8_encode(uint32_t cp, char out[UTF8_SEQ_MAX])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

size_t
utf8_valid_len(const char *s, size_t n)
{
	size_t i = 0, len;

	while (i < n && (len = utf8_decode(s + i, n - i, NULL)) > 0)
		i += len;
	return i;
}

bool
utf8_is_valid(const char *s, size_t n)
{
	return utf8_valid_len(s, n) == n;
}

size_t
utf8_count(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

size_t
utf8_prefix_len(const char *s, size_t n, size_t cap)
{
	size_t used = 0, len;

	while (used < n) {
		len = utf8_decode(s + used, n - used, NULL);
		if (len == 0)
			len = 1;
		if (used + len > cap && used > 0)
			break;
		used += len;
	}
	return used;
}
