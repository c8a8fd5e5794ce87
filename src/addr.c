/* SPDX-License-Identifier: MIT */
/* IP addresses and CIDR prefixes of both families, and the client address behind proxies. */
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "err.h"

/* The 12-byte prefix of an IPv4-mapped IPv6 address (RFC 4291 2.5.5.2). */
static const unsigned char v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* inet_pton is strict (dotted quad only, no leading zeros, no zone, no spaces),
 * which is what we want from text that reaches DNS. The length check keeps the copy
 * bounded and rejects anything that cannot be an address before inet_pton sees it. */
int
addr_parse(const char *s, struct addr *out)
{
	struct addr a;

	if (!s || !out)
		return ERR_INVAL;
	memset(&a, 0, sizeof(a));
	if (strnlen(s, ADDR_STRLEN) >= ADDR_STRLEN)
		return ERR_INVAL;
	if (inet_pton(AF_INET, s, a.bytes) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, a.bytes) == 1)
		a.family = AF_INET6;
	else
		return ERR_INVAL;
	*out = a;
	return 0;
}

static bool
addr_is_v4mapped(const struct addr *a)
{
	return a->family == AF_INET6 &&
	       memcmp(a->bytes, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

void
addr_unmap(struct addr *a)
{
	if (!a || !addr_is_v4mapped(a))
		return;
	memmove(a->bytes, a->bytes + 12, 4);
	memset(a->bytes + 4, 0, 12);
	a->family = AF_INET;
}

int
addr_from_sockaddr(const struct sockaddr *sa, struct addr *out)
{
	struct addr a;

	if (!sa || !out)
		return ERR_INVAL;
	memset(&a, 0, sizeof(a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		a.family = AF_INET;
		memcpy(a.bytes, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		a.family = AF_INET6;
		memcpy(a.bytes, &sin6->sin6_addr, 16);
		addr_unmap(&a);
	} else {
		return ERR_INVAL;
	}
	*out = a;
	return 0;
}

/* Never fails for a valid address and a big enough buffer; returns "" otherwise so
 * callers can print the result without checking. */
const char *
addr_format(const struct addr *a, char *buf, size_t len)
{
	if (!buf || len == 0)
		return "";
	buf[0] = '\0';
	if (!a || (a->family != AF_INET && a->family != AF_INET6))
		return buf;
	if (!inet_ntop(a->family, a->bytes, buf, (socklen_t)len))
		buf[0] = '\0';
	return buf;
}

static size_t
addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

bool
addr_equal(const struct addr *a, const struct addr *b)
{
	if (!a || !b || a->family != b->family)
		return false;
	if (a->family != AF_INET && a->family != AF_INET6)
		return false;
	return memcmp(a->bytes, b->bytes, addr_len(a->family)) == 0;
}

/* Every home connection gets at least a /64, so telling IPv6 clients apart by the full
 * address would give one customer 2^64 fresh allowances (and let one /64 push everybody
 * else out of a bounded table). */
bool
addr_client_key(const struct addr *a, struct addr *key)
{
	if (!a || (a->family != AF_INET && a->family != AF_INET6))
		return false;
	*key = *a;
	addr_unmap(key);
	if (key->family == AF_INET)
		memset(key->bytes + 4, 0, 12);
	else
		memset(key->bytes + ADDR_CLIENT_V6_PREFIX / 8, 0, 16 - ADDR_CLIENT_V6_PREFIX / 8);
	return true;
}

bool
addr_is_unspecified(const struct addr *a)
{
	static const unsigned char zero[16];

	if (!a || (a->family != AF_INET && a->family != AF_INET6))
		return false;
	return memcmp(a->bytes, zero, addr_len(a->family)) == 0;
}

bool
addr_is_multicast(const struct addr *a)
{
	if (!a)
		return false;
	if (a->family == AF_INET)
		return (a->bytes[0] & 0xf0) == 0xe0;
	if (a->family == AF_INET6)
		return a->bytes[0] == 0xff;
	return false;
}

/* A prefix length: 1..3 decimal digits, at most `max`. */
static int
parse_prefix(const char *s, int max, int *out)
{
	int v = 0;
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 3)
			return ERR_INVAL;
		v = v * 10 + (s[n] - '0');
	}
	if (n == 0 || v > max)
		return ERR_INVAL;
	*out = v;
	return 0;
}

/* A mapped prefix (::ffff:10.0.0.0/104) becomes the IPv4 prefix it means, so that
 * cidr_contains can compare it with unmapped addresses. */
int
cidr_parse(const char *s, struct cidr *out)
{
	char text[ADDR_STRLEN];
	const char *slash;
	struct cidr c;
	size_t alen;

	if (!s || !out)
		return ERR_INVAL;
	memset(&c, 0, sizeof(c));
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strnlen(s, sizeof(text));
	if (alen >= sizeof(text))
		return ERR_INVAL;
	memcpy(text, s, alen);
	text[alen] = '\0';
	if (addr_parse(text, &c.net) != 0)
		return ERR_INVAL;
	c.prefix = c.net.family == AF_INET ? 32 : 128;
	if (slash && parse_prefix(slash + 1, c.prefix, &c.prefix) != 0)
		return ERR_INVAL;
	if (addr_is_v4mapped(&c.net) && c.prefix >= 96) {
		addr_unmap(&c.net);
		c.prefix -= 96;
	}
	*out = c;
	return 0;
}

/* Compares the first `bits` bits of two byte strings. */
static bool
prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
	int bytes = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool
cidr_contains(const struct cidr *c, const struct addr *a)
{
	struct addr u;

	if (!c || !a)
		return false;
	u = *a;
	addr_unmap(&u);
	if (u.family != c->net.family || (u.family != AF_INET && u.family != AF_INET6))
		return false;
	if (c->prefix < 0 || (size_t)c->prefix > addr_len(u.family) * 8)
		return false;
	return prefix_equal(u.bytes, c->net.bytes, c->prefix);
}

bool
cidr_list_contains(const struct cidr *list, size_t n, const struct addr *a)
{
	for (size_t i = 0; list && i < n; i++)
		if (cidr_contains(&list[i], a))
			return true;
	return false;
}

/* Parses one header item (without surrounding blanks) in any of the forms that
 * proxies write: "a.b.c.d", "a.b.c.d:port", "v6", "[v6]", "[v6]:port". */
static int
parse_header_item(const char *s, size_t len, struct addr *out)
{
	char text[ADDR_STRLEN];
	const char *end = s + len, *colon;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			return ERR_INVAL;
		if (close + 1 != end && close[1] != ':')
			return ERR_INVAL;
		s++;
		len = (size_t)(close - s);
	} else if ((colon = memchr(s, ':', len)) != NULL &&
		   !memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
		/* Exactly one colon: IPv4 with a port (an IPv6 address has at least two). */
		len = (size_t)(colon - s);
	}
	if (len == 0 || len >= sizeof(text))
		return ERR_INVAL;
	memcpy(text, s, len);
	text[len] = '\0';
	if (addr_parse(text, out) != 0)
		return ERR_INVAL;
	addr_unmap(out);
	return 0;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Walks the header from the right; see addr.h for the policy. Returns 0 with *out set
 * when the header names the client, ERR_INVAL when it is garbage. */
static int
walk_header(const char *h, size_t len, const struct cidr *trusted, size_t ntrusted,
	    struct addr *out)
{
	size_t end = len;

	for (;;) {
		size_t start = end, b, e;

		while (start > 0 && h[start - 1] != ',')
			start--;
		for (b = start; b < end && is_blank(h[b]); b++)
			;
		for (e = end; e > b && is_blank(h[e - 1]); e--)
			;
		if (parse_header_item(h + b, e - b, out) != 0)
			return ERR_INVAL;
		/* The first untrusted item from the right is the client; the left-most
		 * item is the best we know when every hop is trusted. */
		if (start == 0 || !cidr_list_contains(trusted, ntrusted, out))
			return 0;
		end = start - 1;
	}
}

int
addr_client_from_header(const struct addr *peer, const char *header_value,
			const struct cidr *trusted, size_t ntrusted, struct addr *out)
{
	struct addr p, client;
	size_t len;

	if (!peer || !out || (peer->family != AF_INET && peer->family != AF_INET6))
		return ERR_INVAL;
	p = *peer;
	addr_unmap(&p);
	*out = p;
	if (!header_value || !cidr_list_contains(trusted, ntrusted, &p))
		return 0;
	len = strnlen(header_value, ADDR_HEADER_MAX + 1);
	if (len == 0 || len > ADDR_HEADER_MAX)
		return 0;
	if (walk_header(header_value, len, trusted, ntrusted, &client) == 0)
		*out = client;
	return 0;
}
