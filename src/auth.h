/* SPDX-License-Identifier: MIT */
/* Passwords: argon2id PHC hashes, verification limited to N at a time, and the
 * syntax of user names (e-mail addresses: email.h). */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 9106's second recommended option; compatible with argon2-cffi >= 21.2 defaults. */
#define AUTH_T_COST	  3
#define AUTH_M_COST	  65536 /* KiB: each verification holds 64 MiB */
#define AUTH_PARALLELISM  4
#define AUTH_SALT_LEN	  16
#define AUTH_HASH_LEN	  32
#define AUTH_PHC_MAX	  256 /* bytes of a stored PHC string incl. NUL */
#define AUTH_PASSWORD_MAX 1024
#define AUTH_USERNAME_MAX 64
#define AUTH_EMAIL_MAX	  254 /* bytes of a user's stored address, >= EMAIL_ADDRESS_MAX */

/* auth_init: at most `max_concurrent` verifications run at once (0 = number of
 * cores). Call once before auth_verify is used from several threads. */
void auth_init(int max_concurrent);

/* auth_hash: hashes `password` with a fresh random salt into `out` (a PHC string,
 * at least AUTH_PHC_MAX bytes). Returns 0, ERR_TOOBIG, ERR_CRYPTO. */
int auth_hash(const char *password, char *out, size_t outlen);

/* auth_verify: checks `password` against any argon2 (i/d/id) PHC string.
 * Returns 0 on match, ERR_AUTH on mismatch, ERR_INVAL for an unparsable hash. */
int auth_verify(const char *phc, const char *password);

/* AUTH_INLINE_COST: the largest Argon2 cost (memory in KiB times passes) of a stored
 * hash that is verified where the request runs instead of on the Argon2 pool: such a
 * verification takes less than a database read (our own hashes cost 65536 x 3, ~0.3 s;
 * this is ~1 ms), so moving it to another thread would cost more than it saves. */
#define AUTH_INLINE_COST 4096

/* auth_is_cheap: whether verifying against `phc` costs at most AUTH_INLINE_COST (its
 * m= and t= parameters). An unparsable string is not cheap. */
bool auth_is_cheap(const char *phc);

/* auth_verify_dummy: costs what a verification with our parameters costs and always
 * fails (ERR_AUTH), so that unknown users cannot be told apart by timing. */
int auth_verify_dummy(const char *password);

/* auth_username_is_valid: [a-z0-9._-]{1,64}. */
bool auth_username_is_valid(const char *name);

#endif
