/* SPDX-License-Identifier: MIT */
/* Per-host update tokens: random base64url secrets with a prefix, stored as SHA-256. */
#include "token.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <sys/random.h>

#include "err.h"
#include "hostname.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
token_generate(char *out, size_t outlen)
{
	unsigned char r[TOKEN_RANDOM_BYTES];
	size_t o = TOKEN_PREFIX_LEN;

	if (outlen < TOKEN_LEN + 1)
		return ERR_TOOBIG;
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return ERR_CRYPTO;
	memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	/* Three bytes are four characters; 24 bytes need no padding. */
	for (size_t i = 0; i < sizeof(r); i += 3) {
		unsigned long v =
			(unsigned long)r[i] << 16 | (unsigned long)r[i + 1] << 8 | r[i + 2];

		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
	explicit_bzero(r, sizeof(r));
	return 0;
}

bool
token_is_wellformed(const char *s)
{
	size_t i;

	if (!s || strncmp(s, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
		return false;
	for (i = TOKEN_PREFIX_LEN; s[i] != '\0'; i++)
		if (i >= TOKEN_LEN || !strchr(b64url, s[i]))
			return false;
	return i == TOKEN_LEN;
}

int
token_hash(const char *token, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];

	if (outlen < DB_TOKEN_HASH_LEN + 1)
		return ERR_TOOBIG;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token), d) < 0)
		return ERR_CRYPTO;
	for (size_t i = 0; i < sizeof(d); i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[DB_TOKEN_HASH_LEN] = '\0';
	return 0;
}

bool
token_user_matches(const char *user, const struct db_token *t)
{
	char name[HOSTNAME_MAX + 1];

	if (!user || !user[0])
		return false;
	if (strcmp(user, t->owner) == 0)
		return true;
	return hostname_normalize(user, name, sizeof(name)) == 0 && strcmp(name, t->fqdn) == 0;
}
