/* SPDX-License-Identifier: MIT */
/* Unit tests of acme.c: routes, lego's two body formats, the challenge name → host rule
 * (prefix, case, IDN, trailing dot, everything else refused) and the TXT value rule. */
#include <stdio.h>
#include <string.h>

#include "acme.h"
#include "err.h"
#include "tap.h"

#define VALUE "LHDhK3oGRvkiefQnx7OOczTY5Tic_xZ6HcMOc_gmtoM"

static int
parse(const char *text, struct acme_body *b, char *why, size_t len)
{
	why[0] = '\0';
	return acme_parse_body(text, strlen(text), b, why, len);
}

static void
test_route(void)
{
	is_int(acme_route("/acme", "/acme/present"), ACME_OP_PRESENT, "route: present");
	is_int(acme_route("/acme", "/acme/cleanup"), ACME_OP_CLEANUP, "route: cleanup");
	is_int(acme_route("/acme/", "/acme/present"), ACME_OP_PRESENT, "route: base with slash");
	is_int(acme_route("/acme//", "/acme/cleanup"), ACME_OP_CLEANUP, "route: two slashes");
	is_int(acme_route("/", "/present"), ACME_OP_PRESENT, "route: base /");
	is_int(acme_route("/acme", "/acme"), ACME_OP_NONE, "route: the base alone");
	is_int(acme_route("/acme", "/acme/present/"), ACME_OP_NONE, "route: trailing slash");
	is_int(acme_route("/acme", "/acme/Present"), ACME_OP_NONE, "route: case matters");
	is_int(acme_route("/acme", "/acmex/present"), ACME_OP_NONE, "route: other base");
	is_int(acme_route("/acme", "/present"), ACME_OP_NONE, "route: without the base");
	is_int(acme_route("/acme", "/update"), ACME_OP_NONE, "route: the update path");
	is_str(acme_op_name(ACME_OP_PRESENT), "present", "op name present");
	is_str(acme_op_name(ACME_OP_CLEANUP), "cleanup", "op name cleanup");
	ok(acme_op_name(ACME_OP_NONE) == NULL, "op name none");
}

static void
test_value(void)
{
	char v[ACME_VALUE_MAX + 2];

	ok(acme_value_is_valid(VALUE), "value: an ACME value");
	ok(acme_value_is_valid("x"), "value: one character");
	ok(acme_value_is_valid("a b ~!#$%&'()*+,-./:;<=>?@[]^_`{|}"), "value: printable ASCII");
	ok(!acme_value_is_valid(""), "value: empty");
	ok(!acme_value_is_valid(NULL), "value: NULL");
	ok(!acme_value_is_valid("a\"b"), "value: a double quote");
	ok(!acme_value_is_valid("a\\b"), "value: a backslash");
	ok(!acme_value_is_valid("a\tb"), "value: a tab");
	ok(!acme_value_is_valid("a\nb"), "value: a newline");
	ok(!acme_value_is_valid("a\x7f"), "value: DEL");
	ok(!acme_value_is_valid("caf\xc3\xa9"), "value: not ASCII");
	memset(v, 'a', ACME_VALUE_MAX);
	v[ACME_VALUE_MAX] = '\0';
	ok(acme_value_is_valid(v), "value: 255 characters");
	v[ACME_VALUE_MAX] = 'a';
	v[ACME_VALUE_MAX + 1] = '\0';
	ok(!acme_value_is_valid(v), "value: 256 characters");
}

static void
expect_host(const char *name, const char *want)
{
	char host[HOSTNAME_MAX + 1];
	int rc = acme_challenge_host(name, host, sizeof(host));

	ok(rc == 0 && strcmp(host, want) == 0, "host of %s: %s (rc %d)", name, host, rc);
}

static void
expect_no_host(const char *name, int want_rc)
{
	char host[HOSTNAME_MAX + 1] = "junk";
	int rc = acme_challenge_host(name, host, sizeof(host));

	ok(rc == want_rc && host[0] == '\0', "no host for \"%.60s\" (rc %d)", name, rc);
}

static void
test_challenge_host(void)
{
	char name[2048];

	expect_host("_acme-challenge.home.dyn.example.com.", "home.dyn.example.com");
	expect_host("_acme-challenge.home.dyn.example.com", "home.dyn.example.com");
	expect_host("_ACME-Challenge.Home.DYN.example.com.", "home.dyn.example.com");
	expect_host("_acme-challenge.b\xc3\xbc"
		    "cher.dyn.example.com.",
		    "xn--bcher-kva.dyn.example.com");
	expect_host("_acme-challenge.xn--bcher-kva.dyn.example.com",
		    "xn--bcher-kva.dyn.example.com");
	expect_no_host("_acme-challenge.", ERR_INVAL);
	expect_no_host("_acme-challenge", ERR_INVAL);
	expect_no_host("", ERR_INVAL);
	expect_no_host("home.dyn.example.com", ERR_INVAL);
	expect_no_host("_acme-challengehome.dyn.example.com", ERR_INVAL);
	expect_no_host("x_acme-challenge.home.dyn.example.com", ERR_INVAL);
	expect_no_host("_acme-challenge.home", ERR_INVAL); /* one label: not a host */
	expect_no_host("_acme-challenge._acme-challenge.home.dyn.example.com", ERR_INVAL);
	expect_no_host("_acme-challenge.*.home.dyn.example.com", ERR_INVAL);
	expect_no_host("_acme-challenge.home.dyn.example.com..", ERR_INVAL);
	expect_no_host("_acme-challenge..home.dyn.example.com", ERR_INVAL);
	expect_no_host("_acme-challenge.home dyn.example.com", ERR_INVAL);
	expect_no_host("_acme-challenge.home.dyn.example.com/x", ERR_INVAL);
	expect_no_host("_acme-challenge.-home.dyn.example.com", ERR_INVAL);
	/* 16 + 238 octets: the challenge name would pass HOSTNAME_MAX. */
	memset(name, 'h', 16 + 238);
	memcpy(name, "_acme-challenge.", 16);
	name[16 + 63] = name[16 + 127] = name[16 + 191] = '.';
	name[16 + 238] = '\0';
	is_int((int)strlen(name), 16 + 238, "a name of 254 octets");
	expect_no_host(name, ERR_TOOBIG);
	name[strlen(name) - 1] = '\0';
	expect_host(name, name + 16);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memcpy(name, "_acme-challenge.", 16);
	expect_no_host(name, ERR_TOOBIG);
}

static void
test_challenge_name(void)
{
	char out[HOSTNAME_MAX + 1];

	is_int(acme_challenge_name("home.dyn.example.com", out, sizeof(out)), 0, "name: built");
	is_str(out, "_acme-challenge.home.dyn.example.com", "name: the owner of the TXT records");
	is_int(acme_challenge_name("home.dyn.example.com", out, 20), ERR_TOOBIG, "name: too long");
}

static void
test_txt_change(void)
{
	struct dns_change c;
	char big[HOSTNAME_MAX + 1];

	is_int(acme_txt_change("home.dyn.example.com", "dyn.example.com", DNS_TXT_ADD, VALUE, 60,
			       &c),
	       0, "change: built");
	ok(strcmp(c.fqdn, "_acme-challenge.home.dyn.example.com") == 0 &&
		   strcmp(c.zone, "dyn.example.com") == 0 && c.ttl == 60 && c.txt == DNS_TXT_ADD &&
		   strcmp(c.txt_value, VALUE) == 0 && c.v4 == DNS_KEEP && c.v6 == DNS_KEEP,
	   "change: one TXT value at the challenge name, addresses untouched");
	is_int(acme_txt_change("home.dyn.example.com", "dyn.example.com", DNS_TXT_CLEAR, NULL, 0,
			       &c),
	       0, "change: clear");
	ok(c.txt == DNS_TXT_CLEAR && c.txt_value[0] == '\0', "change: clear has no value");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '.';
	is_int(acme_txt_change(big, "dyn.example.com", DNS_TXT_ADD, VALUE, 60, &c), ERR_TOOBIG,
	       "change: a host too long for the challenge name");
}

static void
test_body_default(void)
{
	struct acme_body b;
	char why[256];

	is_int(parse("{\"fqdn\":\"_acme-challenge.home.dyn.example.com.\",\"value\":\"" VALUE
		     "\"}\n",
		     &b, why, sizeof(why)),
	       0, "body: lego's default mode");
	is_str(b.name, "_acme-challenge.home.dyn.example.com.", "body: the name as sent");
	is_str(b.value, VALUE, "body: the value");
	ok(!b.raw, "body: not RAW");
	is_int(parse("{\"value\":\"v\",\"extra\":[1,{}],\"fqdn\":\"n\"}", &b, why, sizeof(why)), 0,
	       "body: order and other members do not matter");
	is_int(parse("{\"fqdn\":\"n\",\"value\":\"a\\\"b\"}", &b, why, sizeof(why)), ERR_INVAL,
	       "body: a quote in the value");
	ok(strstr(why, "printable ASCII") != NULL, "body: why: %s", why);
	is_int(parse("{\"fqdn\":\"n\",\"value\":\"\"}", &b, why, sizeof(why)), ERR_INVAL,
	       "body: an empty value");
	is_int(parse("{\"fqdn\":\"n\",\"value\":\"a\\u0000b\"}", &b, why, sizeof(why)), ERR_INVAL,
	       "body: NUL in the value");
	is_int(parse("{\"fqdn\":\"n\\u0000x\",\"value\":\"v\"}", &b, why, sizeof(why)), ERR_INVAL,
	       "body: NUL in the name");
	is_int(parse("{\"fqdn\":\"n\",\"value\":1}", &b, why, sizeof(why)), ERR_INVAL,
	       "body: a number as value");
	is_str(why, "\"fqdn\" and \"value\" must be strings", "body: why for a number");
	is_int(parse("{\"fqdn\":null,\"value\":\"v\"}", &b, why, sizeof(why)), ERR_INVAL,
	       "body: null name");
	is_int(parse("{\"fqdn\":\"n\"}", &b, why, sizeof(why)), ERR_INVAL, "body: no value");
	is_int(parse("{\"fqdn\":\"a\",\"fqdn\":\"b\",\"value\":\"v\"}", &b, why, sizeof(why)),
	       ERR_INVAL, "body: a duplicate member");
	ok(b.name[0] == '\0' && b.value[0] == '\0', "body: nothing left after a failure");
}

static void
test_body_raw(void)
{
	struct acme_body b;
	char why[256];

	is_int(parse("{\"domain\":\"home.dyn.example.com\",\"token\":\"t\",\"keyAuth\":\"abc\"}",
		     &b, why, sizeof(why)),
	       0, "raw: lego's RAW mode");
	ok(b.raw, "raw: flagged");
	is_str(b.name, "_acme-challenge.home.dyn.example.com", "raw: the challenge name");
	is_str(b.value, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0",
	       "raw: base64url(SHA-256(keyAuth))");
	is_int(parse("{\"domain\":\"*.home.dyn.example.com\",\"keyAuth\":\"evaGxfADs6pSRb2LAv9IZf17"
		     "Dt3juxGJ-PCt92wr-oA.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ\"}",
		     &b, why, sizeof(why)),
	       0, "raw: a wildcard, no token");
	is_str(b.name, "_acme-challenge.home.dyn.example.com", "raw: the wildcard's name");
	is_str(b.value, "NGwKoXBgCT8JhEa0bK7AwfSqHyu_ZWeugV07fLGIVq0", "raw: its value");
	is_int(parse("{\"domain\":\"d\",\"keyAuth\":\"\"}", &b, why, sizeof(why)), ERR_INVAL,
	       "raw: an empty key authorization");
	is_int(parse("{\"domain\":\"d\",\"keyAuth\":\"a b\"}", &b, why, sizeof(why)), ERR_INVAL,
	       "raw: a blank in the key authorization");
	is_int(parse("{\"domain\":\"d\"}", &b, why, sizeof(why)), ERR_INVAL, "raw: no keyAuth");
	is_int(parse("{\"domain\":[],\"keyAuth\":\"k\"}", &b, why, sizeof(why)), ERR_INVAL,
	       "raw: a list as domain");
}

static void
test_body_shape(void)
{
	char big[ACME_BODY_MAX + 64], why[256];
	struct acme_body b;
	int n;

	is_int(parse("", &b, why, sizeof(why)), ERR_INVAL, "shape: empty body");
	is_str(why, "the body is not JSON", "shape: why");
	is_int(parse("{\"fqdn\":", &b, why, sizeof(why)), ERR_INVAL, "shape: cut short");
	is_int(parse("[\"fqdn\",\"value\"]", &b, why, sizeof(why)), ERR_INVAL, "shape: a list");
	is_str(why, "the body is not a JSON object", "shape: why for a list");
	is_int(parse("\"x\"", &b, why, sizeof(why)), ERR_INVAL, "shape: a string");
	is_int(parse("{}", &b, why, sizeof(why)), ERR_INVAL, "shape: an empty object");
	ok(strstr(why, "keyAuth") != NULL, "shape: why names both formats: %s", why);
	is_int(parse("{\"fqdn\":\"n\",\"value\":\"v\"} x", &b, why, sizeof(why)), ERR_INVAL,
	       "shape: trailing garbage");
	n = snprintf(big, sizeof(big), "{\"fqdn\":\"%0*d\",\"value\":\"v\"}", ACME_NAME_MAX + 1, 0);
	is_int(acme_parse_body(big, (size_t)n, &b, why, sizeof(why)), ERR_INVAL,
	       "shape: a name over the limit");
	is_str(why, "\"fqdn\" is longer than 1024 bytes", "shape: why for the long name");
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"fqdn\":\"n\",\"value\":\"v\"}", 24);
	is_int(acme_parse_body(big, ACME_BODY_MAX, &b, why, sizeof(why)), 0,
	       "shape: a body of exactly the limit");
	is_int(acme_parse_body(big, ACME_BODY_MAX + 1, &b, why, sizeof(why)), ERR_TOOBIG,
	       "shape: one byte more");
}

int
main(void)
{
	test_route();
	test_value();
	test_challenge_host();
	test_challenge_name();
	test_txt_change();
	test_body_default();
	test_body_raw();
	test_body_shape();
	return tap_done();
}
