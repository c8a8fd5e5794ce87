/* SPDX-License-Identifier: MIT */
/* TSIG keys: BIND key files (tsig-keygen output) and HMAC signing/verification of DNS
 * messages for every algorithm tsig-keygen offers (RFC 8945). */
#ifndef TSIG_H
#define TSIG_H

#include <stddef.h>
#include <stdint.h>

#define TSIG_MAX_SECRET	 128  /* bytes; tsig-keygen makes at most 64 */
#define TSIG_MAX_KEYFILE 4096 /* bytes of a key file we are willing to read */

enum tsig_alg {
	TSIG_HMAC_MD5,
	TSIG_HMAC_SHA1,
	TSIG_HMAC_SHA224,
	TSIG_HMAC_SHA256,
	TSIG_HMAC_SHA384,
	TSIG_HMAC_SHA512
};

struct tsig_key {
	char name[256]; /* key name as a dname, lower-case, with trailing dot */
	enum tsig_alg alg;
	unsigned char secret[TSIG_MAX_SECRET]; /* wiped by tsig_key_wipe */
	size_t secret_len;
};

/* tsig_key_parse: parses BIND key-file text (`key "name" { algorithm A; secret "B64"; };`,
 * comments allowed). Returns 0, or ERR_INVAL with a message and the 1-based line of the
 * problem in *err_line / errbuf. */
int tsig_key_parse(const char *text, size_t len, struct tsig_key *out, int *err_line, char *errbuf,
		   size_t errlen);

/* tsig_key_load: reads and parses a key file (at most TSIG_MAX_KEYFILE bytes).
 * ERR_IO when unreadable (errbuf says why), ERR_INVAL when malformed. */
int tsig_key_load(const char *path, struct tsig_key *out, char *errbuf, size_t errlen);

/* tsig_alg_name: the algorithm's wire name ("hmac-sha256.", "hmac-md5.sig-alg.reg.int."). */
const char *tsig_alg_name(enum tsig_alg alg);

#define TSIG_FUDGE   300 /* seconds of clock skew allowed, as BIND and ldns use */
#define TSIG_MAX_MAC 64	 /* bytes of the longest MAC (HMAC-SHA512) */
#define TSIG_MAX_RR  600 /* bytes a TSIG RR can take: two names of 255, MAC, fixed fields */
#define TSIG_TYPE    250 /* RR type of TSIG */

/* TSIG error codes (RFC 8945 section 3) carried in the TSIG RR's error field. */
#define TSIG_BADSIG   16
#define TSIG_BADKEY   17
#define TSIG_BADTIME  18
#define TSIG_BADTRUNC 22

/* tsig_alg_parse: the algorithm for a key-file name ("hmac-sha256", "HMAC-SHA1",
 * "hmac-md5.sig-alg.reg.int", each with or without a trailing dot).
 * Returns 0 or ERR_INVAL. */
int tsig_alg_parse(const char *name, size_t len, enum tsig_alg *out);

/* tsig_mac_len: the MAC length of the algorithm in bytes (16..64). */
size_t tsig_mac_len(enum tsig_alg alg);

/* tsig_hmac: HMAC of `data` under `secret` into mac (at least TSIG_MAX_MAC bytes);
 * *mac_len receives the MAC's length. Returns 0 or ERR_CRYPTO (e.g. MD5 in FIPS mode). */
int tsig_hmac(enum tsig_alg alg, const void *secret, size_t secret_len, const void *data,
	      size_t len, unsigned char *mac, size_t *mac_len);

/* tsig_sign: signs the DNS message wire[0..*len) (a request without TSIG, its ID final)
 * with `key` at time `now` (seconds since the epoch), appends the TSIG RR to the
 * additional section and increments ARCOUNT; *len grows, never beyond `cap`. The MAC is
 * copied to mac_out (TSIG_MAX_MAC bytes) for verifying the reply. Returns 0, ERR_TOOBIG
 * (no room), ERR_INVAL (not a DNS message) or ERR_CRYPTO. */
int tsig_sign(const struct tsig_key *key, unsigned char *wire, size_t *len, size_t cap,
	      uint64_t now, unsigned char *mac_out, size_t *mac_len);

/* tsig_verify: checks the TSIG RR that ends the reply wire[0..len) against `key` and the
 * request's MAC (req_mac, req_mac_len), and that its time lies within its fudge of `now`.
 * *tsig_error receives the TSIG error field whenever a TSIG RR was found (else 0).
 * Returns 0 when the MAC verified (the error field may still be non-zero, e.g. BADTIME);
 * ERR_NOTFOUND when the reply carries no TSIG; ERR_CRYPTO when the key name, algorithm,
 * MAC or time is wrong (BADSIG/BADKEY replies come with an empty MAC and end here);
 * ERR_INVAL when the message is malformed. */
int tsig_verify(const struct tsig_key *key, const unsigned char *wire, size_t len,
		const unsigned char *req_mac, size_t req_mac_len, uint64_t now, int *tsig_error);

/* tsig_error_str: "BADSIG", "BADKEY", "BADTIME", "BADTRUNC" or NULL for other values. */
const char *tsig_error_str(int error);

/* tsig_key_wipe: erases the secret. */
void tsig_key_wipe(struct tsig_key *k);

#endif
