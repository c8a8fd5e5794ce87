/* SPDX-License-Identifier: MIT */
/* Per-host update tokens: making one, recognising one, the hash that is stored, and
 * which user names may come with it. */
#ifndef TOKEN_H
#define TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"

/* A token is TOKEN_PREFIX and the base64url form (RFC 4648 §5, no padding) of
 * TOKEN_RANDOM_BYTES random bytes: 192 bits, URL-safe, recognisable in a config file.
 * Guessing one is hopeless, so it is stored as its plain SHA-256 (DB_TOKEN_HASH_LEN hex
 * digits), not an Argon2 hash. */
#define TOKEN_PREFIX	   "ddns_"
#define TOKEN_PREFIX_LEN   5
#define TOKEN_RANDOM_BYTES 24
#define TOKEN_LEN	   (TOKEN_PREFIX_LEN + TOKEN_RANDOM_BYTES / 3 * 4) /* 37 */

/* token_generate: a new token into out (at least TOKEN_LEN + 1 bytes) from getrandom.
 * Returns 0 or ERR_CRYPTO. The caller shows it once and wipes it. */
int token_generate(char *out, size_t outlen);

/* token_is_wellformed: whether `s` has the form of a token (prefix, then exactly
 * TOKEN_LEN - TOKEN_PREFIX_LEN base64url characters). NULL → false. A password of that
 * form is looked up as a token first (and checked as a password when it is none). */
bool token_is_wellformed(const char *s);

/* token_hash: the stored form of `token`, its SHA-256 in lower-case hex, into out (at
 * least DB_TOKEN_HASH_LEN + 1 bytes). Returns 0 or ERR_CRYPTO. */
int token_hash(const char *token, char *out, size_t outlen);

/* token_user_matches: whether the user name a request sent with a token may go with
 * it: the name of the host's owner, or the host's fqdn (routers such as the FritzBox
 * put it there), in any case or Unicode form, with or without the trailing dot. */
bool token_user_matches(const char *user, const struct db_token *t);

#endif
