/* SPDX-License-Identifier: MIT */
/* Unit tests of tsig.c: key files, HMAC vectors, TSIG signing checked against dnspython's
 * output, verification of replies (good, tampered, late, unsigned, BADSIG). */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "tap.h"
#include "tsig.h"

#define T0 1700000000ULL

static size_t
unhex(const char *hex, unsigned char *out, size_t cap)
{
	size_t n = 0;

	for (; hex[0] && hex[1] && n < cap; hex += 2) {
		char b[3] = {hex[0], hex[1], 0};
		out[n++] = (unsigned char)strtoul(b, NULL, 16);
	}
	return n;
}

static void
tohex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * n] = '\0';
}

static int
parse(const char *text, struct tsig_key *k, int *line, char *msg)
{
	return tsig_key_parse(text, strlen(text), k, line, msg, 160);
}

static void
test_alg_names(void)
{
	static const struct {
		const char *s;
		int alg;
	} cases[] = {
		{"hmac-md5", TSIG_HMAC_MD5},
		{"HMAC-MD5.SIG-ALG.REG.INT", TSIG_HMAC_MD5},
		{"hmac-md5.sig-alg.reg.int.", TSIG_HMAC_MD5},
		{"hmac-sha1", TSIG_HMAC_SHA1},
		{"Hmac-Sha224", TSIG_HMAC_SHA224},
		{"hmac-sha256.", TSIG_HMAC_SHA256},
		{"hmac-sha384", TSIG_HMAC_SHA384},
		{"HMAC-SHA512", TSIG_HMAC_SHA512},
		{"hmac-sha3", -1},
		{"sha256", -1},
		{"hmac-sha256-128", -1},
		{"", -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum tsig_alg a = TSIG_HMAC_MD5;
		int rc = tsig_alg_parse(cases[i].s, strlen(cases[i].s), &a);
		if (cases[i].alg < 0)
			is_int(rc, ERR_INVAL, cases[i].s);
		else
			ok(rc == 0 && (int)a == cases[i].alg, "algorithm '%s'", cases[i].s);
	}
	is_str(tsig_alg_name(TSIG_HMAC_MD5), "hmac-md5.sig-alg.reg.int.", "md5 wire name");
	is_str(tsig_alg_name(TSIG_HMAC_SHA384), "hmac-sha384.", "sha384 wire name");
}

/* Real tsig-keygen output for every algorithm. */
static void
test_keygen_files(void)
{
	static const struct {
		const char *text, *name;
		enum tsig_alg alg;
		size_t len;
	} keys[] = {
		{"key \"key-md5\" {\n\talgorithm hmac-md5;\n\tsecret "
		 "\"XWx1jP8IiEgM2cWxEMeXdg==\";\n};\n",
		 "key-md5.", TSIG_HMAC_MD5, 16},
		{"key \"key-sha1\" {\n\talgorithm hmac-sha1;\n\tsecret "
		 "\"cfTFgtAqlByvICMmA01aB5h7dcM=\";\n};\n",
		 "key-sha1.", TSIG_HMAC_SHA1, 20},
		{"key \"key-sha224\" {\n\talgorithm hmac-sha224;\n\tsecret "
		 "\"5ZlPWCdJ8gE5wC8NbZTE/rS5T4feqyUtpM4t2A==\";\n};\n",
		 "key-sha224.", TSIG_HMAC_SHA224, 28},
		{"key \"key-sha256\" {\n\talgorithm hmac-sha256;\n\tsecret "
		 "\"QISuWpvW5NRwt6JG0tHPzRQrjSWiw/G3+Ub1L0xjivw=\";\n};\n",
		 "key-sha256.", TSIG_HMAC_SHA256, 32},
		{"key \"key-sha384\" {\n\talgorithm hmac-sha384;\n\tsecret "
		 "\"sL1Wa9cy5PCje+A3umVqwjNzz/3aAic2uMF/vy28DinemBgfM0o9c5dzekF8T9wD\";\n};\n",
		 "key-sha384.", TSIG_HMAC_SHA384, 48},
		{"key \"key-sha512\" {\n\talgorithm hmac-sha512;\n\tsecret "
		 "\"b28Kk9S3KwrAGkVQe30GSoEyc6txLNPnW4YDHWuAPX7Xsv1MsSCR7d7InL+"
		 "QQhelsXd0nru4huetXiymTr"
		 "Vgeg==\";\n};\n",
		 "key-sha512.", TSIG_HMAC_SHA512, 64},
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct tsig_key k;
		char msg[160];
		int line = -1;
		int rc = parse(keys[i].text, &k, &line, msg);
		ok(rc == 0 && strcmp(k.name, keys[i].name) == 0 && k.alg == keys[i].alg &&
			   k.secret_len == keys[i].len && line == 0,
		   "tsig-keygen %s (rc %d, %s)", keys[i].name, rc, rc ? msg : "");
	}
}

static void
test_syntax_variants(void)
{
	static const char *const texts[] = {
		"key ddns-key { algorithm hmac-sha256; secret \"AQIDBA==\"; };",
		"# generated\nkey \"DDNS-Key.\"\n{\n  algorithm \"HMAC-SHA256\" ;\n  secret "
		"AQIDBA== ;\n}\n;\n",
		"// c++ comment\r\nkey \"ddns-key\" { /* multi\nline */ secret \"AQID BA==\"; "
		"algorithm hmac-sha256; }; # trailing\n",
		"\n\n\tkey\t\"ddns-key\"{algorithm hmac-sha256;secret\"AQIDBA==\";};",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct tsig_key k;
		char msg[160];
		int line;
		int rc = parse(texts[i], &k, &line, msg);
		ok(rc == 0 && strcmp(k.name, "ddns-key.") == 0 && k.alg == TSIG_HMAC_SHA256 &&
			   k.secret_len == 4 && memcmp(k.secret, "\1\2\3\4", 4) == 0,
		   "syntax variant %zu (rc %d: %s)", i, rc, rc ? msg : "ok");
	}
}

static void
test_malformed(void)
{
	static const struct {
		const char *text;
		int line;
		const char *needle;
	} cases[] = {
		{"", 1, "expected 'key'"},
		{"\n\nkey \"k\" {\n algorithm hmac-sha256;\n};\n", 5, "no secret"},
		{"key \"k\" {\n secret \"AQIDBA==\";\n};", 3, "no algorithm"},
		{"key \"k\" {\n algorithm hmac-sha3;\n secret \"AQIDBA==\";\n};", 2,
		 "unsupported algorithm"},
		{"key \"k\" {\n algorithm hmac-sha256;\n secret \"AQID*A==\";\n};", 3, "base64"},
		{"key \"k\" {\n algorithm hmac-sha256;\n secret \"AQIDBA=\";\n};", 3, "base64"},
		{"key \"k\" {\n algorithm hmac-sha256;\n secret \"AQ==BA==\";\n};", 3, "base64"},
		{"key \"k\" {\n algorithm hmac-sha256;\n secret \"AR==\";\n};", 3, "base64"},
		{"key \"k\" {\n algorithm hmac-sha256;\n secret \"\";\n};", 3, "empty secret"},
		{"key \"k\" {\n algorithm hmac-sha256;\n secret \"AQIDBA==;\n};", 3,
		 "quoted string"},
		{"key \"k\" {\n algorithm hmac-sha256;\n secret \"AQIDBA==\"\n};", 4, "';'"},
		{"key \"k\" {\n algorithm hmac-sha256;\n secret \"AQIDBA==\";\n}", 4, "';' after"},
		{"key \"k\" {\n algorithm hmac-sha256;\n algorithm hmac-sha1;\n};", 3, "duplicate"},
		{"key \"k\" {\n algorithm hmac-sha256;\n secret \"AQIDBA==\";\n};\nkey \"x\" {};",
		 5, "one key per file"},
		{"/* open\n\ncomment", 1, "unterminated comment"},
		{"key \"k\" {\n owner foo;\n};", 2, "unknown key option"},
		{"key \"bad name\" { algorithm hmac-sha256; secret \"AQIDBA==\"; };", 1,
		 "key name"},
		{"key \"a..b\" { algorithm hmac-sha256; secret \"AQIDBA==\"; };", 1, "key name"},
		{"key { algorithm hmac-sha256; };", 1, "key name"},
		{"zone \"k\" {};", 1, "expected 'key'"},
		{"key \"k\" {\n algorithm hmac-sha256;\n secret \"AQ\x01IDBA==\";\n};", 3,
		 "base64"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tsig_key k;
		char msg[160];
		int line = -1;
		int rc = parse(cases[i].text, &k, &line, msg);
		ok(rc == ERR_INVAL && line == cases[i].line && strstr(msg, cases[i].needle) &&
			   k.secret_len == 0,
		   "malformed %zu: line %d '%s'", i, line, msg);
	}

	/* A secret longer than TSIG_MAX_SECRET (here 132 bytes = 176 base64 chars). */
	char big[400] = "key k { algorithm hmac-sha256; secret \"";
	size_t n = strlen(big);
	for (int i = 0; i < 176; i++)
		big[n++] = 'A';
	memcpy(big + n, "\"; };", 6);
	struct tsig_key k;
	char msg[160];
	int line;
	ok(parse(big, &k, &line, msg) == ERR_INVAL && strstr(msg, "longer"), "overlong secret");
}

static void
test_load(void)
{
	char path[] = "/tmp/test_tsig_XXXXXX", msg[300], want[300];
	struct tsig_key k;
	int fd = mkstemp(path);
	const char *text = "key \"f\" {\n\talgorithm hmac-sha1;\n\tsecret \"AQIDBA==\";\n};\n";

	ok(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "temp key file");
	close(fd);
	ok(tsig_key_load(path, &k, msg, sizeof(msg)) == 0 && k.alg == TSIG_HMAC_SHA1 &&
		   strcmp(k.name, "f.") == 0,
	   "tsig_key_load reads a good file");
	tsig_key_wipe(&k);
	ok(k.secret_len == 0 && k.secret[0] == 0, "tsig_key_wipe clears the secret");

	fd = open(path, O_WRONLY | O_TRUNC);
	text = "key \"f\" {\n\talgorithm hmac-sha1;\n\tsecret \"AQ!DBA==\";\n};\n";
	ok(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "broken key file");
	close(fd);
	snprintf(want, sizeof(want), "%s:3: secret is not valid base64", path);
	ok(tsig_key_load(path, &k, msg, sizeof(msg)) == ERR_INVAL &&
		   strncmp(msg, want, strlen(want)) == 0,
	   "error names file and line: %s", msg);

	fd = open(path, O_WRONLY | O_TRUNC);
	char comment[TSIG_MAX_KEYFILE + 2];
	memset(comment, '#', sizeof(comment));
	ok(fd >= 0 && write(fd, comment, sizeof(comment)) == (ssize_t)sizeof(comment),
	   "oversized file written");
	close(fd);
	ok(tsig_key_load(path, &k, msg, sizeof(msg)) == ERR_INVAL && strstr(msg, "larger"),
	   "oversized key file: %s", msg);
	unlink(path);
	ok(tsig_key_load(path, &k, msg, sizeof(msg)) == ERR_IO && strstr(msg, path),
	   "missing key file: %s", msg);
}

/* RFC 2202 (MD5, SHA-1) and RFC 4231 (SHA-2) test cases 1 and 2. */
static void
test_hmac_vectors(void)
{
	static const struct {
		enum tsig_alg alg;
		int tc;
		const char *mac;
	} v[] = {
		{TSIG_HMAC_MD5, 1, "9294727a3638bb1c13f48ef8158bfc9d"},
		{TSIG_HMAC_MD5, 2, "750c783e6ab0b503eaa86e310a5db738"},
		{TSIG_HMAC_SHA1, 1, "b617318655057264e28bc0b6fb378c8ef146be00"},
		{TSIG_HMAC_SHA1, 2, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
		{TSIG_HMAC_SHA224, 1, "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22"},
		{TSIG_HMAC_SHA224, 2, "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44"},
		{TSIG_HMAC_SHA256, 1,
		 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{TSIG_HMAC_SHA256, 2,
		 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{TSIG_HMAC_SHA384, 1,
		 "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4"
		 "af152e8b2fa9cb6"},
		{TSIG_HMAC_SHA384, 2,
		 "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78"
		 "b3239ecfab21649"},
		{TSIG_HMAC_SHA512, 1,
		 "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a7020"
		 "38b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
		{TSIG_HMAC_SHA512, 2,
		 "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6"
		 "d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
	};
	unsigned char key1[20];

	memset(key1, 0x0b, sizeof(key1));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		unsigned char mac[TSIG_MAX_MAC];
		char hex[2 * TSIG_MAX_MAC + 1];
		size_t len = 0;
		int rc;
		if (v[i].tc == 1)
			rc = tsig_hmac(v[i].alg, key1, v[i].alg == TSIG_HMAC_MD5 ? 16 : 20,
				       "Hi There", 8, mac, &len);
		else
			rc = tsig_hmac(v[i].alg, "Jefe", 4, "what do ya want for nothing?", 28, mac,
				       &len);
		tohex(mac, len, hex);
		ok(rc == 0 && len == tsig_mac_len(v[i].alg) && strcmp(hex, v[i].mac) == 0,
		   "HMAC %s test case %d", tsig_alg_name(v[i].alg), v[i].tc);
	}
}

/* An UPDATE (id 0x1234: delete h1.dyn.example.com A, add 60 A 192.0.2.1) and the MACs
 * dnspython 2.3 computes for it with key "test-key." = bytes 1..32, time T0, fudge 300. */
static const char unsigned_update[] =
	"1234280000010000000200000364796e076578616d706c6503636f6d00000600010268310364796e076578"
	"616d706c6503636f6dc00c000100ff000000000000c021000100010000003c0004c0000201";
static const char *const dnspython_macs[] = {
	[TSIG_HMAC_MD5] = "cfb282d3decdf7d732caef77efd0c080",
	[TSIG_HMAC_SHA1] = "c5236de66596c0bdcd48d6e36073cf08a668b80b",
	[TSIG_HMAC_SHA224] = "c43b8f74a77d1be99656dad31e6e6b55284342c565d696fd801140d9",
	[TSIG_HMAC_SHA256] = "789fe5fe3948f368cdc76acec72e50a92b8729fd571c4f4a100859d55e6c08c0",
	[TSIG_HMAC_SHA384] = "6b2403cce929860b5a4c3f29dfd56ce4f08a9181e082d4ab65b14ede364b08ef3b15"
			     "f7ae74bd6a714be0936028193142",
	[TSIG_HMAC_SHA512] = "9c7e121d4396a19d79c1392835423efaaf48b356091c09983f00f0efab33fa052f08"
			     "623fa34ab646d308665c4d689f204b048fc7780a4c250f4e0f23f151fadc",
};
/* dnspython's complete signed message for hmac-sha256, and its signed REFUSED reply at
 * time T0 + 1. */
static const char signed_sha256[] =
	"1234280000010000000200010364796e076578616d706c6503636f6d00000600010268310364796e076578"
	"616d706c6503636f6dc00c000100ff000000000000c021000100010000003c0004c000020108746573742d"
	"6b65790000fa00ff00000000003d0b686d61632d7368613235360000006553f100012c0020789fe5fe3948"
	"f368cdc76acec72e50a92b8729fd571c4f4a100859d55e6c08c0123400000000";
static const char reply_sha256[] =
	"1234a80500010000000000010364796e076578616d706c6503636f6d000006000108746573742d6b657900"
	"00fa00ff00000000003d0b686d61632d7368613235360000006553f101012c0020b3c0398465b1a57ade42"
	"bd7dfc8e887204d89a3e8fdfb496e9cfd33014186b1f123400000000";

static void
test_key(struct tsig_key *k, enum tsig_alg alg)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->name, "test-key.", 10);
	k->alg = alg;
	for (int i = 0; i < 32; i++)
		k->secret[i] = (unsigned char)(i + 1);
	k->secret_len = 32;
}

static void
test_sign_vectors(void)
{
	for (int alg = TSIG_HMAC_MD5; alg <= TSIG_HMAC_SHA512; alg++) {
		unsigned char wire[1024], mac[TSIG_MAX_MAC];
		char hex[2 * TSIG_MAX_MAC + 1];
		struct tsig_key k;
		size_t len = unhex(unsigned_update, wire, sizeof(wire)), mac_len = 0;
		size_t before = len;
		test_key(&k, (enum tsig_alg)alg);
		int rc = tsig_sign(&k, wire, &len, sizeof(wire), T0, mac, &mac_len);
		tohex(mac, mac_len, hex);
		ok(rc == 0 && strcmp(hex, dnspython_macs[alg]) == 0 && wire[11] == 1 &&
			   len > before,
		   "sign %s matches dnspython", tsig_alg_name((enum tsig_alg)alg));
		if (alg == TSIG_HMAC_SHA256) {
			unsigned char want[1024];
			size_t wl = unhex(signed_sha256, want, sizeof(want));
			ok(wl == len && memcmp(want, wire, len) == 0, "sha256 wire byte-identical");
		}
	}
	unsigned char wire[1024], mac[TSIG_MAX_MAC];
	struct tsig_key k;
	size_t len = unhex(unsigned_update, wire, sizeof(wire)), mac_len;
	size_t cap = len + 50;
	test_key(&k, TSIG_HMAC_SHA512);
	is_int(tsig_sign(&k, wire, &len, cap, T0, mac, &mac_len), ERR_TOOBIG, "sign: no room");
	ok(wire[11] == 0, "failed sign leaves ARCOUNT");
}

static void
test_verify_dnspython(void)
{
	unsigned char reply[512], req_mac[32];
	struct tsig_key k;
	size_t len = unhex(reply_sha256, reply, sizeof(reply));
	int err = -1;

	unhex(dnspython_macs[TSIG_HMAC_SHA256], req_mac, sizeof(req_mac));
	test_key(&k, TSIG_HMAC_SHA256);
	is_int(tsig_verify(&k, reply, len, req_mac, 32, T0 + 1, &err), 0, "verify dnspython");
	is_int(err, 0, "no TSIG error");
	is_int(tsig_verify(&k, reply, len, req_mac, 32, T0 + 301, &err), 0, "at fudge edge");
	is_int(tsig_verify(&k, reply, len, req_mac, 32, T0 + 302, &err), ERR_CRYPTO, "too late");
	is_int(tsig_verify(&k, reply, len, req_mac, 32, T0 - 300, &err), ERR_CRYPTO, "too early");
	req_mac[0] ^= 1;
	is_int(tsig_verify(&k, reply, len, req_mac, 32, T0, &err), ERR_CRYPTO, "wrong req MAC");
	req_mac[0] ^= 1;
	for (size_t i = 0; i < len; i++) {
		/* Every byte counts, except the ID which the MAC covers as original ID. */
		if (i < 2)
			continue;
		reply[i] ^= 0x20;
		int rc = tsig_verify(&k, reply, len, req_mac, 32, T0, &err);
		reply[i] ^= 0x20;
		if (rc == 0 && !(reply[i] >= 'a' && reply[i] <= 'z')) {
			ok(0, "tampered byte %zu verified", i);
			return;
		}
	}
	ok(1, "every tampered byte fails (names compare case-insensitively)");
	k.secret[5] ^= 1;
	is_int(tsig_verify(&k, reply, len, req_mac, 32, T0, &err), ERR_CRYPTO, "wrong secret");
	k.secret[5] ^= 1;
	memcpy(k.name, "test-kez.", 10);
	is_int(tsig_verify(&k, reply, len, req_mac, 32, T0, &err), ERR_CRYPTO, "wrong key name");
	test_key(&k, TSIG_HMAC_SHA512);
	is_int(tsig_verify(&k, reply, len, req_mac, 32, T0, &err), ERR_CRYPTO, "wrong algorithm");
	test_key(&k, TSIG_HMAC_SHA256);
	for (size_t cut = 0; cut < len; cut++)
		if (tsig_verify(&k, reply, cut, req_mac, 32, T0, &err) == 0) {
			ok(0, "truncated reply of %zu verified", cut);
			return;
		}
	ok(1, "no truncation of the reply verifies");
}

/* A second, independent reply signer: the reply with TSIG appended, as a server does. */
static size_t
server_sign(const struct tsig_key *k, const unsigned char *req_mac, size_t req_mac_len,
	    unsigned char *msg, size_t len, uint64_t t, int error, bool empty_mac)
{
	unsigned char buf[2048], tail[512], mac[TSIG_MAX_MAC];
	const char *alg = tsig_alg_name(k->alg);
	size_t n = 0, tl = 0, mac_len = 0;

	buf[n++] = (unsigned char)(req_mac_len >> 8), buf[n++] = (unsigned char)req_mac_len;
	memcpy(buf + n, req_mac, req_mac_len), n += req_mac_len;
	memcpy(buf + n, msg, len), n += len;
	/* key name "test-key." and the algorithm as wire names */
	memcpy(tail, "\x08test-key\x00", 10), tl = 10;
	memcpy(buf + n, tail, tl), n += tl;
	memcpy(buf + n, "\x00\xff\x00\x00\x00\x00", 6), n += 6;
	size_t a0 = n;
	for (const char *p = alg; *p;) {
		const char *dot = strchr(p, '.');
		buf[n++] = (unsigned char)(dot - p);
		memcpy(buf + n, p, (size_t)(dot - p)), n += (size_t)(dot - p);
		p = dot + 1;
	}
	buf[n++] = 0;
	size_t alen = n - a0;
	unsigned char fixed[10] = {0,
				   0,
				   (unsigned char)(t >> 24),
				   (unsigned char)(t >> 16),
				   (unsigned char)(t >> 8),
				   (unsigned char)t,
				   1,
				   44,
				   0,
				   (unsigned char)error};
	memcpy(buf + n, fixed, 10), n += 10;
	memcpy(buf + n, "\x00\x00", 2), n += 2;
	if (!empty_mac)
		tsig_hmac(k->alg, k->secret, k->secret_len, buf, n, mac, &mac_len);
	/* the RR */
	unsigned char *p = msg + len;
	memcpy(p, tail, tl), p += tl;
	size_t rdlen = alen + 16 + mac_len;
	unsigned char hdr[10] = {
		0, 250, 0, 255, 0, 0, 0, 0, (unsigned char)(rdlen >> 8), (unsigned char)rdlen};
	memcpy(p, hdr, 10), p += 10;
	memcpy(p, buf + a0, alen), p += alen;
	memcpy(p, fixed, 6), p += 6;
	*p++ = 1, *p++ = 44;
	*p++ = (unsigned char)(mac_len >> 8), *p++ = (unsigned char)mac_len;
	memcpy(p, mac, mac_len), p += mac_len;
	memcpy(p, msg, 2), p += 2;
	*p++ = 0, *p++ = (unsigned char)error, *p++ = 0, *p++ = 0;
	msg[11]++;
	return (size_t)(p - msg);
}

static void
test_round_trip(void)
{
	for (int alg = TSIG_HMAC_MD5; alg <= TSIG_HMAC_SHA512; alg++) {
		unsigned char wire[2048], reply[2048], mac[TSIG_MAX_MAC];
		struct tsig_key k;
		size_t len = unhex(unsigned_update, wire, sizeof(wire)), mac_len, rl;
		int err = -1;
		test_key(&k, (enum tsig_alg)alg);
		ok(tsig_sign(&k, wire, &len, sizeof(wire), T0, mac, &mac_len) == 0, "sign");
		/* The reply: the request's header and zone section, QR set, no updates. */
		memcpy(reply, wire, 12);
		reply[2] |= 0x80, reply[8] = reply[9] = 0, reply[11] = 0;
		memcpy(reply + 12, wire + 12, 21);
		rl = server_sign(&k, mac, mac_len, reply, 33, T0 + 2, 0, false);
		reply[0] ^= 0xff; /* a forwarder may rewrite the ID; original ID is signed */
		int rc = tsig_verify(&k, reply, rl, mac, mac_len, T0, &err);
		ok(rc == 0 && err == 0, "round trip %s (rc %d)", tsig_alg_name(k.alg), rc);
		reply[20] ^= 1;
		is_int(tsig_verify(&k, reply, rl, mac, mac_len, T0, &err), ERR_CRYPTO,
		       "tampered reply fails");
	}
	/* BADSIG as BIND sends it: NOTAUTH, TSIG with error 16 and an empty MAC. */
	unsigned char reply[512], mac[TSIG_MAX_MAC] = {0};
	struct tsig_key k;
	int err = 0;
	test_key(&k, TSIG_HMAC_SHA256);
	size_t rl = unhex(unsigned_update, reply, 33);
	reply[2] |= 0x80, reply[3] = 9, reply[8] = reply[9] = 0;
	rl = server_sign(&k, mac, 32, reply, rl, T0, TSIG_BADSIG, true);
	is_int(tsig_verify(&k, reply, rl, mac, 32, T0, &err), ERR_CRYPTO, "BADSIG not verified");
	is_int(err, TSIG_BADSIG, "BADSIG error field reported");
	is_str(tsig_error_str(err), "BADSIG", "BADSIG name");
	/* No TSIG at all. */
	rl = unhex(unsigned_update, reply, sizeof(reply));
	is_int(tsig_verify(&k, reply, rl, mac, 32, T0, &err), ERR_NOTFOUND, "unsigned reply");
	is_int(err, 0, "unsigned: no error field");
	is_int(tsig_verify(&k, reply, 5, mac, 32, T0, &err), ERR_INVAL, "short message");
}

int
main(void)
{
	test_alg_names();
	test_keygen_files();
	test_syntax_variants();
	test_malformed();
	test_load();
	test_hmac_vectors();
	test_sign_vectors();
	test_verify_dnspython();
	test_round_trip();
	return tap_done();
}
