/* SPDX-License-Identifier: MIT */
/* Unit tests of addr.c: parsing, formatting, CIDR matching and the proxy header walk. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "err.h"
#include "tap.h"

static const char *
fmt(const struct addr *a)
{
	static char buf[ADDR_STRLEN];

	return addr_format(a, buf, sizeof(buf));
}

static void
test_parse(void)
{
	static const struct {
		const char *in;
		int rc, family;
		const char *canon;
	} t[] = {
		{"192.0.2.1", 0, AF_INET, "192.0.2.1"},
		{"0.0.0.0", 0, AF_INET, "0.0.0.0"},
		{"255.255.255.255", 0, AF_INET, "255.255.255.255"},
		{"2001:db8::1", 0, AF_INET6, "2001:db8::1"},
		{"2001:DB8:0:0:0:0:0:1", 0, AF_INET6, "2001:db8::1"},
		{"::", 0, AF_INET6, "::"},
		{"::ffff:192.0.2.1", 0, AF_INET6, "::ffff:192.0.2.1"},
		{"256.0.0.1", ERR_INVAL, 0, NULL},
		{"01.2.3.4", ERR_INVAL, 0, NULL},
		{"1.2.3", ERR_INVAL, 0, NULL},
		{"1.2.3.4.5", ERR_INVAL, 0, NULL},
		{" 1.2.3.4", ERR_INVAL, 0, NULL},
		{"1.2.3.4 ", ERR_INVAL, 0, NULL},
		{"1.2.3.4/32", ERR_INVAL, 0, NULL},
		{"[2001:db8::1]", ERR_INVAL, 0, NULL},
		{"fe80::1%eth0", ERR_INVAL, 0, NULL},
		{"1:2:3:4:5:6:7:8:9", ERR_INVAL, 0, NULL},
		{"0x7f.0.0.1", ERR_INVAL, 0, NULL},
		{"", ERR_INVAL, 0, NULL},
		{"example.com", ERR_INVAL, 0, NULL},
		{"0000:0000:0000:0000:0000:0000:0000:0000:0000", ERR_INVAL, 0, NULL},
	};
	struct addr a;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = addr_parse(t[i].in, &a);

		is_int(rc, t[i].rc, t[i].in);
		if (rc == 0) {
			is_int(a.family, t[i].family, "family");
			is_str(fmt(&a), t[i].canon, "canonical form");
		}
	}
	is_int(addr_parse(NULL, &a), ERR_INVAL, "NULL input");
}

static void
test_unmap_equal(void)
{
	struct addr a, b, c;

	addr_parse("::ffff:192.0.2.1", &a);
	addr_parse("192.0.2.1", &b);
	ok(!addr_equal(&a, &b), "mapped v6 is not equal to v4 before unmapping");
	addr_unmap(&a);
	is_int(a.family, AF_INET, "unmap gives v4");
	ok(addr_equal(&a, &b), "unmapped equals v4");
	addr_parse("2001:db8::1", &c);
	addr_unmap(&c);
	is_int(c.family, AF_INET6, "unmap leaves plain v6 alone");
	addr_unmap(&b);
	is_str(fmt(&b), "192.0.2.1", "unmap leaves v4 alone");
	addr_parse("::192.0.2.1", &c);
	addr_unmap(&c);
	is_int(c.family, AF_INET6, "v4-compatible (deprecated) is not unmapped");
	ok(!addr_equal(&b, &c), "v4 vs v6 not equal");
	memset(&c, 0, sizeof(c));
	ok(!addr_equal(&c, &c), "family 0 equals nothing");
	ok(!addr_equal(NULL, &b), "NULL equals nothing");
}

static void
test_sockaddr(void)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr sa;
	struct addr a;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr);
	is_int(addr_from_sockaddr((struct sockaddr *)&sin, &a), 0, "sockaddr_in");
	is_str(fmt(&a), "198.51.100.7", "sockaddr_in address");

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:198.51.100.8", &sin6.sin6_addr);
	is_int(addr_from_sockaddr((struct sockaddr *)&sin6, &a), 0, "sockaddr_in6 mapped");
	is_int(a.family, AF_INET, "mapped peer is IPv4");
	is_str(fmt(&a), "198.51.100.8", "mapped peer address");

	inet_pton(AF_INET6, "2001:db8::42", &sin6.sin6_addr);
	is_int(addr_from_sockaddr((struct sockaddr *)&sin6, &a), 0, "sockaddr_in6");
	is_str(fmt(&a), "2001:db8::42", "sockaddr_in6 address");

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	is_int(addr_from_sockaddr(&sa, &a), ERR_INVAL, "AF_UNIX refused");
}

static void
test_format(void)
{
	struct addr a;
	char small[8];

	memset(&a, 0, sizeof(a));
	is_str(fmt(&a), "", "family 0 formats as empty");
	addr_parse("2001:db8::1", &a);
	is_str(addr_format(&a, small, sizeof(small)), "", "too small buffer gives empty");
	is_str(addr_format(&a, NULL, 0), "", "NULL buffer gives empty");
}

static void
test_cidr(void)
{
	static const struct {
		const char *cidr, *addr;
		bool in;
	} t[] = {
		{"10.0.0.0/8", "10.1.2.3", true},
		{"10.0.0.0/8", "11.0.0.0", false},
		{"10.0.0.0/8", "::ffff:10.9.9.9", true},
		{"10.1.2.3/8", "10.200.0.1", true}, /* host bits ignored */
		{"192.0.2.0/25", "192.0.2.127", true},
		{"192.0.2.0/25", "192.0.2.128", false},
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"0.0.0.0/0", "203.0.113.9", true},
		{"0.0.0.0/0", "2001:db8::1", false},
		{"2001:db8::/32", "2001:db8:ffff::1", true},
		{"2001:db8::/32", "2001:db9::1", false},
		{"2001:db8::/33", "2001:db8:8000::1", false},
		{"2001:db8::/33", "2001:db8:7fff::1", true},
		{"::/0", "::1", true},
		{"::/0", "127.0.0.1", false},
		{"::1", "::1", true},
		{"::ffff:10.0.0.0/104", "10.3.3.3", true},
		{"::ffff:10.0.0.0/104", "::ffff:10.3.3.3", true},
		{"127.0.0.1/32", "::1", false},
	};
	struct cidr c;
	struct addr a;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char name[128];

		snprintf(name, sizeof(name), "%s %s %s", t[i].addr, t[i].in ? "in" : "not in",
			 t[i].cidr);
		is_int(cidr_parse(t[i].cidr, &c), 0, t[i].cidr);
		addr_parse(t[i].addr, &a);
		is_int(cidr_contains(&c, &a), t[i].in, name);
	}
	is_int(cidr_parse("10.0.0.0/33", &c), ERR_INVAL, "v4 prefix 33");
	is_int(cidr_parse("::/129", &c), ERR_INVAL, "v6 prefix 129");
	is_int(cidr_parse("10.0.0.0/", &c), ERR_INVAL, "empty prefix");
	is_int(cidr_parse("10.0.0.0/-1", &c), ERR_INVAL, "negative prefix");
	is_int(cidr_parse("10.0.0.0/+8", &c), ERR_INVAL, "plus sign");
	is_int(cidr_parse("10.0.0.0/0008", &c), ERR_INVAL, "four digits");
	is_int(cidr_parse("10.0.0.0/8/8", &c), ERR_INVAL, "two slashes");
	is_int(cidr_parse("/8", &c), ERR_INVAL, "no address");
	is_int(cidr_parse("host/8", &c), ERR_INVAL, "name");
	is_int(cidr_parse("10.0.0.0/8", &c), 0, "prefix parsed");
	is_int(c.prefix, 8, "prefix value");
	is_int(cidr_parse("2001:db8::1", &c), 0, "plain v6");
	is_int(c.prefix, 128, "plain v6 is /128");
	is_int(cidr_parse("::ffff:10.0.0.0/104", &c), 0, "mapped prefix");
	is_int(c.net.family, AF_INET, "mapped prefix becomes v4");
	is_int(c.prefix, 8, "mapped /104 becomes /8");
}

static void
test_special(void)
{
	static const struct {
		const char *a;
		bool unspec, mcast;
	} t[] = {
		{"0.0.0.0", true, false},     {"::", true, false},
		{"224.0.0.1", false, true},   {"239.255.255.255", false, true},
		{"ff02::1", false, true},     {"192.0.2.1", false, false},
		{"2001:db8::", false, false}, {"223.255.255.255", false, false},
		{"240.0.0.1", false, false},
	};
	struct addr a;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		addr_parse(t[i].a, &a);
		is_int(addr_is_unspecified(&a), t[i].unspec, t[i].a);
		is_int(addr_is_multicast(&a), t[i].mcast, t[i].a);
	}
}

/* Proxy handling: trusted are 10.0.0.0/8, 127.0.0.1 and 2001:db8:ffff::/48. */
static void
test_client_from_header(void)
{
	static const struct {
		const char *peer, *header, *want, *name;
	} t[] = {
		{"203.0.113.5", "198.51.100.1", "203.0.113.5", "untrusted peer: header ignored"},
		{"10.0.0.1", NULL, "10.0.0.1", "trusted peer, no header: peer"},
		{"10.0.0.1", "", "10.0.0.1", "empty header: peer"},
		{"10.0.0.1", "   ", "10.0.0.1", "blank header: peer"},
		{"10.0.0.1", "198.51.100.1", "198.51.100.1", "single client"},
		{"10.0.0.1", "1.1.1.1, 198.51.100.1", "198.51.100.1", "right-most wins over spoof"},
		{"10.0.0.1", "198.51.100.1, 10.0.0.2", "198.51.100.1", "trusted hop skipped"},
		{"10.0.0.1", "198.51.100.1,10.0.0.2,127.0.0.1", "198.51.100.1",
		 "two hops, no blanks"},
		{"10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3", "all trusted: left-most"},
		{"10.0.0.1", "10.0.0.3", "10.0.0.3", "single trusted item: it"},
		{"10.0.0.1", "garbage, 198.51.100.1", "198.51.100.1", "garbage left of client"},
		{"10.0.0.1", "198.51.100.1, unknown", "10.0.0.1", "garbage at the right: peer"},
		{"10.0.0.1", "198.51.100.1, unknown, 10.0.0.2", "10.0.0.1",
		 "garbage in walk: peer"},
		{"10.0.0.1", "198.51.100.1,", "10.0.0.1", "trailing comma: empty item is garbage"},
		{"10.0.0.1", "198.51.100.1:4711", "198.51.100.1", "v4 with port"},
		{"10.0.0.1", "[2001:db8::7]:4711", "2001:db8::7", "bracketed v6 with port"},
		{"10.0.0.1", "[2001:db8::7]", "2001:db8::7", "bracketed v6"},
		{"10.0.0.1", "2001:db8::7", "2001:db8::7", "bare v6"},
		{"10.0.0.1", "\t2001:db8::7 ,\t10.0.0.9 ", "2001:db8::7", "tabs and spaces"},
		{"10.0.0.1", "::ffff:198.51.100.9", "198.51.100.9", "mapped item unmapped"},
		{"10.0.0.1", "198.51.100.1, ::ffff:10.0.0.2", "198.51.100.1", "mapped trusted hop"},
		{"10.0.0.1", "[2001:db8::7", "10.0.0.1", "unclosed bracket"},
		{"10.0.0.1", "[2001:db8::7]x", "10.0.0.1", "junk after bracket"},
		{"10.0.0.1", "[198.51.100.1]:80", "198.51.100.1", "bracketed v4 (lenient)"},
		{"10.0.0.1", "198.51.100.1:80:90", "10.0.0.1", "v4 with two colons"},
		{"10.0.0.1", "fe80::1%eth0", "10.0.0.1", "zone id refused"},
		{"10.0.0.1", "198.51.100.1/32", "10.0.0.1", "prefix refused"},
		{"::ffff:10.0.0.1", "198.51.100.1", "198.51.100.1", "mapped trusted peer"},
		{"::ffff:203.0.113.5", "198.51.100.1", "203.0.113.5",
		 "mapped untrusted peer unmapped"},
		{"2001:db8:ffff::1", "2001:db8::9, 2001:db8:ffff::2", "2001:db8::9", "v6 proxies"},
		{"2001:db8:fffe::1", "198.51.100.1", "2001:db8:fffe::1", "v6 peer just outside"},
		{"127.0.0.1", "198.51.100.1", "198.51.100.1", "loopback proxy"},
	};
	struct cidr trusted[3];
	struct addr peer, out;

	cidr_parse("10.0.0.0/8", &trusted[0]);
	cidr_parse("127.0.0.1", &trusted[1]);
	cidr_parse("2001:db8:ffff::/48", &trusted[2]);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		addr_parse(t[i].peer, &peer);
		memset(&out, 0xaa, sizeof(out));
		is_int(addr_client_from_header(&peer, t[i].header, trusted, 3, &out), 0, t[i].name);
		is_str(fmt(&out), t[i].want, t[i].name);
	}
	addr_parse("10.0.0.1", &peer);
	is_int(addr_client_from_header(&peer, "198.51.100.1", NULL, 0, &out), 0, "no trusted");
	is_str(fmt(&out), "10.0.0.1", "no trusted proxies: peer");
	memset(&peer, 0, sizeof(peer));
	is_int(addr_client_from_header(&peer, "198.51.100.1", trusted, 3, &out), ERR_INVAL,
	       "peer without family");
}

/* A header longer than ADDR_HEADER_MAX is not looked at; one just under it is. */
static void
test_long_header(void)
{
	static char h[ADDR_HEADER_MAX + 2];
	const char *tail = ", 198.51.100.1";
	struct cidr trusted;
	struct addr peer, out;
	size_t tl = strlen(tail);

	cidr_parse("10.0.0.0/8", &trusted);
	addr_parse("10.0.0.1", &peer);
	memset(h, ' ', ADDR_HEADER_MAX - tl);
	memcpy(h + ADDR_HEADER_MAX - tl, tail, tl + 1);
	addr_client_from_header(&peer, h, &trusted, 1, &out);
	is_str(fmt(&out), "198.51.100.1", "header of exactly the maximum is used");
	memset(h, ' ', ADDR_HEADER_MAX + 1 - tl);
	memcpy(h + ADDR_HEADER_MAX + 1 - tl, tail, tl + 1);
	addr_client_from_header(&peer, h, &trusted, 1, &out);
	is_str(fmt(&out), "10.0.0.1", "longer header ignored");
}

/* The key of a client for the per-client limits: IPv4 whole, IPv6 per /64, unmapped. */
static void
test_client_key(void)
{
	static const struct {
		const char *in, *key;
	} t[] = {
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"2001:db8:1:2::", "2001:db8:1:2::"},
		{"2001:db8:1:3::1", "2001:db8:1:3::"},
		{"::1", "::"},
	};
	struct addr a, k, k2;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		addr_parse(t[i].in, &a);
		ok(addr_client_key(&a, &k), "%s has a key", t[i].in);
		is_str(fmt(&k), t[i].key, t[i].in);
	}
	addr_parse("2001:db8:1:2::a", &a);
	addr_client_key(&a, &k);
	addr_parse("2001:db8:1:2:ffff::b", &a);
	addr_client_key(&a, &k2);
	ok(addr_equal(&k, &k2), "two hosts of one /64: one client");
	addr_parse("2001:db8:1:3::a", &a);
	addr_client_key(&a, &k2);
	ok(!addr_equal(&k, &k2), "the next /64: another client");

	/* IPv4 keys compare whole: bytes past the address are cleared, whatever they were. */
	addr_parse("198.51.100.7", &a);
	memset(a.bytes + 4, 0xaa, 12);
	addr_client_key(&a, &k);
	addr_parse("198.51.100.7", &a);
	addr_client_key(&a, &k2);
	ok(memcmp(&k, &k2, sizeof(k)) == 0, "IPv4: a key is the same bytes every time");
	addr_parse("198.51.100.8", &a);
	addr_client_key(&a, &k2);
	ok(!addr_equal(&k, &k2), "IPv4: the neighbour is another client");

	memset(&a, 0, sizeof(a));
	memset(&k, 0x55, sizeof(k));
	ok(!addr_client_key(&a, &k) && k.family == 0x55555555, "no family: no key, untouched");
	ok(!addr_client_key(NULL, &k), "NULL: no key");
}

/* A delegated prefix and a fixed interface identifier become one address: the first
 * plen bits of the prefix, the rest from the identifier, at nibble and non-nibble
 * lengths. */
static void
test_combine(void)
{
	static const struct {
		const char *prefix;
		int plen;
		const char *iid, *want;
	} t[] = {
		{"2001:db8:1:2::", 64, "::1234:5678:9abc:def0", "2001:db8:1:2:1234:5678:9abc:def0"},
		{"2001:db8:1:2:ffff::1", 64, "::1234:5678:9abc:def0",
		 "2001:db8:1:2:1234:5678:9abc:def0"},
		{"2001:db8:aa::", 48, "::5:1234:5678:9abc:def0",
		 "2001:db8:aa:5:1234:5678:9abc:def0"},
		{"2001:db8:aa:bb00::", 56, "::12:1234:5678:9abc:def0",
		 "2001:db8:aa:bb12:1234:5678:9abc:def0"},
		{"2001:db8:aa:bbc0::", 60, "::3:0:0:0:1", "2001:db8:aa:bbc3::1"},
		{"2001:db8:1:2::7", 128, "::1234:5678:9abc:def0", "2001:db8:1:2::7"},
		{"2001:db8:1:2::", 0, "::1234:5678:9abc:def0", "::1234:5678:9abc:def0"},
		/* A full address as the identifier: only its last bits count. */
		{"2001:db8:1:2::", 64, "fe80::1234:5678:9abc:def0",
		 "2001:db8:1:2:1234:5678:9abc:def0"},
		/* Non-nibble lengths: the boundary falls inside a byte. */
		{"2001:db8:1:4::", 62, "::ffff:ffff:ffff:ffff:ffff",
		 "2001:db8:1:7:ffff:ffff:ffff:ffff"},
		{"2001:db8:1:ff::", 57, "::1", "2001:db8:1:80::1"},
		{"2001:db8:1:ff::", 57, "::7f:0:0:0:1", "2001:db8:1:ff::1"},
		{"2001:db8:ffff:ffff::", 33, "::", "2001:db8:8000::"},
		{"2001:db8::", 127, "::3", "2001:db8::1"},
		{"192.0.2.0", 24, "0.0.0.77", "192.0.2.77"},
		{"192.0.2.255", 28, "10.20.30.5", "192.0.2.245"},
	};
	struct addr p, i, out;

	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		addr_parse(t[k].prefix, &p);
		addr_parse(t[k].iid, &i);
		memset(&out, 0, sizeof(out));
		ok(addr_combine(&p, t[k].plen, &i, &out) == 0, "%s/%d + %s", t[k].prefix, t[k].plen,
		   t[k].iid);
		is_str(fmt(&out), t[k].want, t[k].want);
	}
	addr_parse("2001:db8::", &p);
	addr_parse("192.0.2.1", &i);
	out.family = 99;
	is_int(addr_combine(&p, 64, &i, &out), ERR_INVAL, "families differ");
	is_int(out.family, 99, "failure leaves out untouched");
	addr_parse("::1", &i);
	is_int(addr_combine(&p, 129, &i, &out), ERR_INVAL, "/129");
	is_int(addr_combine(&p, -1, &i, &out), ERR_INVAL, "negative length");
	addr_parse("192.0.2.0", &p);
	addr_parse("0.0.0.1", &i);
	is_int(addr_combine(&p, 33, &i, &out), ERR_INVAL, "/33 on IPv4");
	is_int(addr_combine(NULL, 8, &i, &out), ERR_INVAL, "NULL prefix");
	memset(&p, 0, sizeof(p));
	memset(&i, 0, sizeof(i));
	is_int(addr_combine(&p, 0, &i, &out), ERR_INVAL, "no family");
}

/* Whether a value with a prefix length names a network (host bits all zero). */
static void
test_host_bits_zero(void)
{
	static const struct {
		const char *a;
		int plen;
		bool zero;
	} t[] = {
		{"2001:db8:1:2::", 64, true},
		{"2001:db8:1:2::1", 64, false},
		{"2001:db8:1:3::", 63, false},
		{"2001:db8:1::", 48, true},
		{"2001:db8:1:100::", 56, true},
		{"2001:db8:1:180::", 56, false},
		{"2001:db8:1:180::", 57, true},
		{"2001:db8:1:1c0::", 57, false},
		{"2001:db8:1:2::", 128, true},
		{"2001:db8:1:2::1", 128, true},
		{"::", 0, true},
		{"::1", 0, false},
		{"192.0.2.0", 24, true},
		{"192.0.2.1", 24, false},
		{"192.0.2.128", 25, true},
		{"192.0.2.1", 32, true},
	};
	struct addr a;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		addr_parse(t[i].a, &a);
		ok(addr_host_bits_zero(&a, t[i].plen) == t[i].zero, "%s/%d: host bits %s", t[i].a,
		   t[i].plen, t[i].zero ? "zero" : "set");
	}
	addr_parse("2001:db8::", &a);
	ok(!addr_host_bits_zero(&a, -1), "negative length: false");
	ok(!addr_host_bits_zero(NULL, 64), "NULL: false");
}

/* The special-purpose ranges: what is never a host, what is local only, what is public. */
static const struct classify_case {
	const char *a;
	enum addr_use use;
	const char *range; /* a word of the description; NULL for public */
} classify_cases[] = {
	{"0.0.0.0", ADDR_USE_NEVER, "this network"},
	{"0.1.2.3", ADDR_USE_NEVER, "this network"},
	{"255.255.255.255", ADDR_USE_NEVER, "broadcast"},
	{"224.0.0.1", ADDR_USE_NEVER, "multicast"},
	{"239.255.255.255", ADDR_USE_NEVER, "multicast"},
	{"10.1.2.3", ADDR_USE_LOCAL, "RFC 1918"},
	{"172.16.0.1", ADDR_USE_LOCAL, "RFC 1918"},
	{"172.31.255.255", ADDR_USE_LOCAL, "RFC 1918"},
	{"192.168.178.1", ADDR_USE_LOCAL, "RFC 1918"},
	{"100.64.0.1", ADDR_USE_LOCAL, "RFC 6598"},
	{"100.127.255.254", ADDR_USE_LOCAL, "RFC 6598"},
	{"127.0.0.1", ADDR_USE_LOCAL, "loopback"},
	{"169.254.1.1", ADDR_USE_LOCAL, "link-local"},
	{"192.0.0.8", ADDR_USE_LOCAL, "IETF"},
	{"192.0.2.1", ADDR_USE_LOCAL, "documentation"},
	{"198.51.100.1", ADDR_USE_LOCAL, "documentation"},
	{"203.0.113.1", ADDR_USE_LOCAL, "documentation"},
	{"198.18.0.1", ADDR_USE_LOCAL, "benchmarking"},
	{"198.19.255.1", ADDR_USE_LOCAL, "benchmarking"},
	{"240.0.0.1", ADDR_USE_LOCAL, "reserved"},
	{"255.255.255.254", ADDR_USE_LOCAL, "reserved"},
	{"::ffff:10.0.0.1", ADDR_USE_LOCAL, "RFC 1918"},
	{"172.32.0.1", ADDR_USE_PUBLIC, NULL},
	{"100.128.0.1", ADDR_USE_PUBLIC, NULL},
	{"198.20.0.1", ADDR_USE_PUBLIC, NULL},
	{"9.9.9.9", ADDR_USE_PUBLIC, NULL},
	{"223.255.255.255", ADDR_USE_PUBLIC, NULL},
	{"::", ADDR_USE_NEVER, "unspecified"},
	{"ff02::1", ADDR_USE_NEVER, "multicast"},
	{"::1", ADDR_USE_LOCAL, "loopback"},
	{"fe80::1", ADDR_USE_LOCAL, "link-local"},
	{"febf::1", ADDR_USE_LOCAL, "link-local"},
	{"fec0::1", ADDR_USE_LOCAL, "site-local"},
	{"fc00::1", ADDR_USE_LOCAL, "unique local"},
	{"fd12:3456::1", ADDR_USE_LOCAL, "unique local"},
	{"2001:db8::1", ADDR_USE_LOCAL, "documentation"},
	{"3fff:fff::1", ADDR_USE_LOCAL, "documentation"},
	{"2001:2::1", ADDR_USE_LOCAL, "benchmarking"},
	{"100::1", ADDR_USE_LOCAL, "discard"},
	{"64:ff9b:1::1", ADDR_USE_LOCAL, "translation"},
	{"64:ff9b::192.0.2.1", ADDR_USE_PUBLIC, NULL},
	{"3fff:1000::1", ADDR_USE_PUBLIC, NULL},
	{"2001:db9::1", ADDR_USE_PUBLIC, NULL},
	{"2002:c000:201::1", ADDR_USE_PUBLIC, NULL},
	{"2a00:1450:4001::1", ADDR_USE_PUBLIC, NULL},
};

static void
test_classify(void)
{
	const char *range;
	struct addr a;

	for (size_t i = 0; i < sizeof(classify_cases) / sizeof(classify_cases[0]); i++) {
		const struct classify_case *t = &classify_cases[i];

		addr_parse(t->a, &a);
		range = "unset";
		is_int(addr_classify(&a, &range), t->use, t->a);
		if (t->range)
			ok(range && strstr(range, t->range), "%s: %s", t->a, range ? range : "-");
		else
			ok(range == NULL, "%s: no range", t->a);
	}
	memset(&a, 0, sizeof(a));
	is_int(addr_classify(&a, NULL), ADDR_USE_NEVER, "no family: never");
	is_int(addr_classify(NULL, NULL), ADDR_USE_NEVER, "NULL: never");
}

int
main(void)
{
	test_parse();
	test_unmap_equal();
	test_sockaddr();
	test_format();
	test_cidr();
	test_special();
	test_client_from_header();
	test_long_header();
	test_client_key();
	test_combine();
	test_host_bits_zero();
	test_classify();
	return tap_done();
}
