/* SPDX-License-Identifier: MIT */
/* Tests of token.c: the form of generated tokens, recognising one, the stored hash
 * (checked against a known SHA-256), and the user names that may come with a token. */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "tap.h"
#include "token.h"

static void
test_generate(void)
{
	char a[TOKEN_LEN + 1], b[TOKEN_LEN + 1], small[TOKEN_LEN];
	int urlsafe = 1;

	is_int(TOKEN_LEN, 37, "a token is 37 characters");
	is_int(token_generate(a, sizeof(a)), 0, "generate");
	is_int(token_generate(b, sizeof(b)), 0, "generate another");
	is_int(strlen(a), TOKEN_LEN, "of TOKEN_LEN characters");
	ok(strncmp(a, "ddns_", 5) == 0, "with the prefix: %s", "ddns_...");
	ok(strcmp(a, b) != 0, "two tokens differ");
	for (size_t i = 5; i < strlen(a); i++)
		urlsafe &=
			strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
			       a[i]) != NULL;
	ok(urlsafe, "base64url characters only (nothing to escape in a URL)");
	ok(token_is_wellformed(a) && token_is_wellformed(b), "generated tokens are well-formed");
	is_int(token_generate(small, sizeof(small)), ERR_TOOBIG, "a buffer too small");
}

static void
test_wellformed(void)
{
	is_int(strlen("ddns_ABCDEFGHIJKLMNOPQRSTUVWXYZab-_01"), TOKEN_LEN, "the example's length");
	ok(token_is_wellformed("ddns_ABCDEFGHIJKLMNOPQRSTUVWXYZab-_01"), "37 characters: a token");
	ok(!token_is_wellformed("ddns_ABCDEFGHIJKLMNOPQRSTUVWXYZab-_012"), "38: too long");
	ok(!token_is_wellformed("ddns_ABCDEFGHIJKLMNOPQRSTUVWXYZab-_0"), "36: too short");
	ok(!token_is_wellformed("ddnx_ABCDEFGHIJKLMNOPQRSTUVWXYZab-_01"), "another prefix");
	ok(!token_is_wellformed("DDNS_ABCDEFGHIJKLMNOPQRSTUVWXYZab-_01"),
	   "the prefix is lower-case");
	ok(!token_is_wellformed("ddns_ABCDEFGHIJKLMNOPQRSTUVWXYZab+/01"), "base64, not base64url");
	ok(!token_is_wellformed("ddns_ABCDEFGHIJKLMNOPQRSTUVWXYZab-_0="), "no padding");
	ok(!token_is_wellformed("ddns_"), "the prefix alone");
	ok(!token_is_wellformed(""), "empty");
	ok(!token_is_wellformed(NULL), "NULL");
	ok(!token_is_wellformed("correct horse battery staple"), "a password");
}

static void
test_hash(void)
{
	char h[DB_TOKEN_HASH_LEN + 1], small[DB_TOKEN_HASH_LEN];

	/* sha256("abc"), FIPS 180-2 appendix B.1. */
	is_int(token_hash("abc", h, sizeof(h)), 0, "hash");
	is_str(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "the SHA-256 in lower-case hex");
	is_int(token_hash("abc", small, sizeof(small)), ERR_TOOBIG, "a buffer too small");
}

static void
test_user_matches(void)
{
	struct db_token t;

	memset(&t, 0, sizeof(t));
	snprintf(t.owner, sizeof(t.owner), "alice");
	snprintf(t.fqdn, sizeof(t.fqdn), "xn--bcher-kva.dyn.example.com");
	ok(token_user_matches("alice", &t), "the owner's name");
	ok(token_user_matches("xn--bcher-kva.dyn.example.com", &t), "the fqdn");
	ok(token_user_matches("XN--BCHER-KVA.Dyn.Example.COM.", &t), "any case, trailing dot");
	ok(token_user_matches("b\xc3\xbc"
			      "cher.dyn.example.com",
			      &t),
	   "the Unicode form");
	ok(!token_user_matches("bob", &t), "another user");
	ok(!token_user_matches("Alice", &t), "user names are exact");
	ok(!token_user_matches("other.dyn.example.com", &t), "another host's fqdn");
	ok(!token_user_matches("dyn.example.com", &t), "the zone");
	ok(!token_user_matches("", &t), "empty");
	ok(!token_user_matches(NULL, &t), "no user name");
}

int
main(void)
{
	test_generate();
	test_wellformed();
	test_hash();
	test_user_matches();
	return tap_done();
}
