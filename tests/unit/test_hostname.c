/* SPDX-License-Identifier: MIT */
/* Unit tests of hostname.c: IDN conversion, LDH rules, limits, join and display form. */
#include <string.h>

#include "err.h"
#include "hostname.h"
#include "tap.h"

/* A string of n copies of c (n < 1100) in a static buffer. */
static const char *
rep(char c, size_t n)
{
	static char buf[4][1100];
	static int which;
	char *b = buf[which++ % 4];

	memset(b, c, n);
	b[n] = '\0';
	return b;
}

static void
check(const char *in, int rc, const char *want)
{
	char out[HOSTNAME_MAX + 1];
	char name[200];
	int got;

	memset(out, 'X', sizeof(out));
	got = hostname_normalize(in, out, sizeof(out));
	snprintf(name, sizeof(name), "normalize '%.60s'%s", in, strlen(in) > 60 ? "..." : "");
	is_int(got, rc, name);
	if (rc == 0)
		is_str(out, want, name);
	else
		is_str(out, "", "output empty on failure");
}

static void
test_normalize(void)
{
	static const struct {
		const char *in;
		int rc;
		const char *want;
	} t[] = {
		{"home.dyn.example.com", 0, "home.dyn.example.com"},
		{"Home.DYN.Example.COM", 0, "home.dyn.example.com"},
		{"home.dyn.example.com.", 0, "home.dyn.example.com"},
		{"home", 0, "home"},
		{"a-b.c-d.e", 0, "a-b.c-d.e"},
		{"a--b.example", 0, "a--b.example"},
		{"0.example", 0, "0.example"},
		{"123.example.com", 0, "123.example.com"},
		{"bücher.example.com", 0, "xn--bcher-kva.example.com"},
		{"BÜCHER.example.com", 0, "xn--bcher-kva.example.com"},
		{"xn--bcher-kva.example.com", 0, "xn--bcher-kva.example.com"},
		{"XN--BCHER-KVA.example.com", 0, "xn--bcher-kva.example.com"},
		{"faß.de", 0, "xn--fa-hia.de"},	     /* non-transitional */
		{"ｂｕｃｈｅｒ.de", 0, "bucher.de"}, /* full-width mapped */
		{"u\xcc\x88.de", 0, "xn--tda.de"},   /* u + combining diaeresis → ü (NFC) */
		{"παράδειγμα.δοκιμή", 0, "xn--hxajbheg2az3al.xn--jxalpdlp"},
		{"例え.テスト", 0, "xn--r8jz45g.xn--zckzah"},
		{"", ERR_INVAL, NULL},
		{".", ERR_INVAL, NULL},
		{"..", ERR_INVAL, NULL},
		{"a..b", ERR_INVAL, NULL},
		{".a.b", ERR_INVAL, NULL},
		{"a.b..", ERR_INVAL, NULL},
		{"-a.example", ERR_INVAL, NULL},
		{"a-.example", ERR_INVAL, NULL},
		{"a.-example", ERR_INVAL, NULL},
		{"under_score.example", ERR_INVAL, NULL},
		{"_acme-challenge.example", ERR_INVAL, NULL},
		{"*.example", ERR_INVAL, NULL},
		{"a b.example", ERR_INVAL, NULL},
		{"a\tb.example", ERR_INVAL, NULL},
		{"a/b.example", ERR_INVAL, NULL},
		{"a@b.example", ERR_INVAL, NULL},
		{"ab--cd.example", ERR_INVAL, NULL}, /* "--" at 3-4 is reserved (RFC 5891) */
		{"xn--zz.example", ERR_INVAL, NULL}, /* bogus punycode */
		{"ä_b.example", ERR_INVAL, NULL},
		{"\xff\xfe.example", ERR_INVAL, NULL},	   /* not UTF-8 */
		{"a\xc3.example", ERR_INVAL, NULL},	   /* truncated UTF-8 */
		{"\xe2\x80\x8b.example", ERR_INVAL, NULL}, /* zero-width space alone */
		{"☃.example", ERR_INVAL, NULL},		   /* symbols are DISALLOWED in IDNA2008 */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		check(t[i].in, t[i].rc, t[i].want);
}

static void
test_limits(void)
{
	char name[1200];
	char out[HOSTNAME_MAX + 1];
	size_t n;

	/* 63-octet label ok, 64 too big. */
	snprintf(name, sizeof(name), "%s.example", rep('a', 63));
	is_int(hostname_normalize(name, out, sizeof(out)), 0, "63-octet label");
	snprintf(name, sizeof(name), "%s.example", rep('a', 64));
	is_int(hostname_normalize(name, out, sizeof(out)), ERR_TOOBIG, "64-octet label");

	/* 253 octets ok (4 x 63 = 252 + 3 dots = 255; use 63+63+63+61 = 250 + 3 = 253). */
	snprintf(name, sizeof(name), "%s.%s.%s.%s", rep('a', 63), rep('b', 63), rep('c', 63),
		 rep('d', 61));
	is_int((int)strlen(name), 253, "test name is 253 octets");
	is_int(hostname_normalize(name, out, sizeof(out)), 0, "253 octets ok");
	is_str(out, name, "253 octets copied");
	snprintf(name, sizeof(name), "%s.%s.%s.%s.", rep('a', 63), rep('b', 63), rep('c', 63),
		 rep('d', 61));
	is_int(hostname_normalize(name, out, sizeof(out)), 0, "253 octets + trailing dot ok");
	snprintf(name, sizeof(name), "%s.%s.%s.%s", rep('a', 63), rep('b', 63), rep('c', 63),
		 rep('d', 62));
	n = strlen(name);
	is_int((int)n, 254, "test name is 254 octets");
	is_int(hostname_normalize(name, out, sizeof(out)), ERR_TOOBIG, "254 octets too big");

	/* A U-label that becomes a too-long A-label. */
	snprintf(name, sizeof(name), "ü%s.example", rep('a', 60));
	is_int(hostname_normalize(name, out, sizeof(out)), ERR_TOOBIG, "A-label over 63");

	/* Input bound. */
	is_int(hostname_normalize(rep('a', 1100 - 1), out, sizeof(out)), ERR_TOOBIG,
	       "over-long input");

	/* Output buffer too small. */
	is_int(hostname_normalize("home.example.com", out, 8), ERR_TOOBIG, "small out buffer");
	is_int(hostname_normalize(NULL, out, sizeof(out)), ERR_INVAL, "NULL input");
}

static void
test_is_fqdn(void)
{
	ok(hostname_is_fqdn("home.example.com"), "three labels");
	ok(hostname_is_fqdn("a.b"), "two labels");
	ok(!hostname_is_fqdn("home"), "one label");
	ok(!hostname_is_fqdn(""), "empty");
	ok(!hostname_is_fqdn(NULL), "NULL");
}

static void
test_join(void)
{
	char out[HOSTNAME_MAX + 1];
	char host[64];

	is_int(hostname_join("home", "dyn.example.com", out, sizeof(out)), 0, "join");
	is_str(out, "home.dyn.example.com", "joined");
	is_int(hostname_join("", "x", out, sizeof(out)), ERR_INVAL, "empty host");
	is_int(hostname_join("x", "", out, sizeof(out)), ERR_INVAL, "empty zone");
	snprintf(host, sizeof(host), "%s", rep('h', 63));
	/* 63 + 1 + 189 = 253 */
	is_int(hostname_join(host, rep('z', 189), out, sizeof(out)), 0, "join to 253");
	is_int((int)strlen(out), 253, "253 long");
	is_int(hostname_join(host, rep('z', 190), out, sizeof(out)), ERR_TOOBIG, "join to 254");
	is_int(hostname_join("home", "example.com", out, 10), ERR_TOOBIG, "small buffer");
}

static void
test_to_unicode(void)
{
	char out[HOSTNAME_MAX * 4 + 1];

	is_int(hostname_to_unicode("xn--bcher-kva.example.com", out, sizeof(out)), 0, "to unicode");
	is_str(out, "bücher.example.com", "U-label");
	is_int(hostname_to_unicode("home.example.com", out, sizeof(out)), 0, "ascii");
	is_str(out, "home.example.com", "ascii unchanged");
	is_int(hostname_to_unicode("xn--zz.example", out, sizeof(out)), 0, "bogus A-label");
	is_str(out, "xn--zz.example", "bogus A-label copied");
	is_int(hostname_to_unicode("xn--bcher-kva.example.com", out, 5), ERR_TOOBIG, "small");
}

int
main(void)
{
	test_normalize();
	test_limits();
	test_is_fqdn();
	test_join();
	test_to_unicode();
	return tap_done();
}
