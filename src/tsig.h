/* SPDX-License-Identifier: MIT */
/* TSIG keys: BIND key files (tsig-keygen output) and HMAC signing/verification of DNS
 * messages for every algorithm tsig-keygen offers (RFC 8945). */
#ifndef TSIG_H
#define TSIG_H

#include <stddef.h>
#include <stdint.h>

#define TSIG_MAX_SECRET 128   /* bytes; tsig-keygen makes at most 64 */
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
	char name[256];                        /* key name as a dname, lower-case, with trailing dot */
	enum tsig_alg alg;
	unsigned char secret[TSIG_MAX_SECRET]; /* wiped by tsig_key_wipe */
	size_t secret_len;
};

/* tsig_key_parse: parses BIND key-file text (`key "name" { algorithm A; secret "B64"; };`,
 * comments allowed). Returns 0, or ERR_INVAL with a message and the 1-based line of the
 * problem in *err_line / errbuf. */
int tsig_key_parse(const char *text, size_t len, struct tsig_key *out, int *err_line,
		   char *errbuf, size_t errlen);

/* tsig_key_load: reads and parses a key file (at most TSIG_MAX_KEYFILE bytes).
 * ERR_IO when unreadable (errbuf says why), ERR_INVAL when malformed. */
int tsig_key_load(const char *path, struct tsig_key *out, char *errbuf, size_t errlen);

/* tsig_alg_name: the algorithm's wire name ("hmac-sha256.", "hmac-md5.sig-alg.reg.int."). */
const char *tsig_alg_name(enum tsig_alg alg);

/* tsig_key_wipe: erases the secret. */
void tsig_key_wipe(struct tsig_key *k);

#endif
