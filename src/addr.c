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

/* The first `bits` bits of a byte string, the rest cleared. */
static void
keep_bits(unsigned char *b, size_t len, int bits)
{
	size_t full = (size_t)bits / 8;

	if (full >= len)
		return;
	b[full] &= (unsigned char)(0xff << (8 - bits % 8));
	memset(b + full + 1, 0, len - full - 1);
}

bool
addr_host_bits_zero(const struct addr *a, int plen)
{
	struct addr net;

	if (!a || (a->family != AF_INET && a->family != AF_INET6) || plen < 0)
		return false;
	if ((size_t)plen >= addr_len(a->family) * 8)
		return true;
	net = *a;
	keep_bits(net.bytes, addr_len(a->family), plen);
	return addr_equal(&net, a);
}

int
addr_combine(const struct addr *prefix, int plen, const struct addr *iid, struct addr *out)
{
	struct addr r;
	size_t len;

	if (!prefix || !iid || !out || prefix->family != iid->family ||
	    (prefix->family != AF_INET && prefix->family != AF_INET6))
		return ERR_INVAL;
	len = addr_len(prefix->family);
	if (plen < 0 || (size_t)plen > len * 8)
		return ERR_INVAL;
	r = *prefix;
	keep_bits(r.bytes, len, plen);
	/* OR in the identifier's bits below the prefix, byte by byte. */
	for (size_t i = 0; i < len; i++) {
		int before = (int)i * 8; /* bits of the address before this byte */
		unsigned char low;

		if (before + 8 <= plen)
			continue;
		low = before >= plen ? 0xff : (unsigned char)(0xff >> (plen - before));
		r.bytes[i] |= iid->bytes[i] & low;
	}
	*out = r;
	return 0;
}

/* One special-purpose range of IANA's registries. */
struct special_range {
	int family;
	unsigned char net[16];
	int plen;
	enum addr_use use;
	const char *name;
};

/* Checked in order, the first match decides: the limited broadcast address comes
 * before the reserved 240/4 it lies in. Only ranges that matter for a published
 * address are listed; e.g. 64:ff9b::/96 (NAT64) and 2002::/16 (6to4) reach the
 * Internet and stay public. */
static const struct special_range special_ranges[] = {
	{AF_INET, {0}, 8, ADDR_USE_NEVER, "\"this network\" (RFC 1122)"},
	{AF_INET, {255, 255, 255, 255}, 32, ADDR_USE_NEVER, "limited broadcast (RFC 919)"},
	{AF_INET, {224}, 4, ADDR_USE_NEVER, "multicast (RFC 5771)"},
	{AF_INET, {10}, 8, ADDR_USE_LOCAL, "private (RFC 1918)"},
	{AF_INET,
	 {100, 64},
	 10,
	 ADDR_USE_LOCAL,
	 "shared address space, carrier-grade NAT (RFC 6598)"},
	{AF_INET, {127}, 8, ADDR_USE_LOCAL, "loopback (RFC 1122)"},
	{AF_INET, {169, 254}, 16, ADDR_USE_LOCAL, "link-local (RFC 3927)"},
	{AF_INET, {172, 16}, 12, ADDR_USE_LOCAL, "private (RFC 1918)"},
	{AF_INET, {192, 0, 0}, 24, ADDR_USE_LOCAL, "IETF protocol assignments (RFC 6890)"},
	{AF_INET, {192, 0, 2}, 24, ADDR_USE_LOCAL, "documentation (RFC 5737)"},
	{AF_INET, {192, 168}, 16, ADDR_USE_LOCAL, "private (RFC 1918)"},
	{AF_INET, {198, 18}, 15, ADDR_USE_LOCAL, "benchmarking (RFC 2544)"},
	{AF_INET, {198, 51, 100}, 24, ADDR_USE_LOCAL, "documentation (RFC 5737)"},
	{AF_INET, {203, 0, 113}, 24, ADDR_USE_LOCAL, "documentation (RFC 5737)"},
	{AF_INET, {240}, 4, ADDR_USE_LOCAL, "reserved (RFC 1112)"},
	{AF_INET6, {0}, 128, ADDR_USE_NEVER, "unspecified (RFC 4291)"},
	{AF_INET6, {0xff}, 8, ADDR_USE_NEVER, "multicast (RFC 4291)"},
	{AF_INET6, {[15] = 1}, 128, ADDR_USE_LOCAL, "loopback (RFC 4291)"},
	{AF_INET6,
	 {0, 0x64, 0xff, 0x9b, 0, 1},
	 48,
	 ADDR_USE_LOCAL,
	 "local-use IPv4/IPv6 translation (RFC 8215)"},
	{AF_INET6, {0x01}, 64, ADDR_USE_LOCAL, "discard-only (RFC 6666)"},
	{AF_INET6, {0x20, 0x01, 0, 0x02}, 48, ADDR_USE_LOCAL, "benchmarking (RFC 5180)"},
	{AF_INET6, {0x20, 0x01, 0x0d, 0xb8}, 32, ADDR_USE_LOCAL, "documentation (RFC 3849)"},
	{AF_INET6, {0x3f, 0xff}, 20, ADDR_USE_LOCAL, "documentation (RFC 9637)"},
	{AF_INET6, {0xfc}, 7, ADDR_USE_LOCAL, "unique local (RFC 4193)"},
	{AF_INET6, {0xfe, 0x80}, 10, ADDR_USE_LOCAL, "link-local (RFC 4291)"},
	{AF_INET6, {0xfe, 0xc0}, 10, ADDR_USE_LOCAL, "site-local, deprecated (RFC 3879)"},
};

enum addr_use
addr_classify(const struct addr *a, const char **range)
{
	struct addr u;

	if (range)
		*range = NULL;
	if (!a || (a->family != AF_INET && a->family != AF_INET6))
		return ADDR_USE_NEVER;
	u = *a;
	addr_unmap(&u);
	for (size_t i = 0; i < sizeof(special_ranges) / sizeof(special_ranges[0]); i++) {
		const struct special_range *r = &special_ranges[i];

		if (r->family == u.family && prefix_equal(u.bytes, r->net, r->plen)) {
			if (range)
				*range = r->name;
			return r->use;
		}
	}
	return ADDR_USE_PUBLIC;
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
