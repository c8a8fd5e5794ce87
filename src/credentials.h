/* SPDX-License-Identifier: MIT */
/* The credential decision of an update request, in one place: who is asking and for
 * which hosts (a user for all of its hosts, or a host token for one host), or that the
 * credentials are bad. */
#ifndef CREDENTIALS_H
#define CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "credcache.h"
#include "db.h"
#include "hostname.h"

enum credentials_kind {
	CREDENTIALS_FAILED,  /* bad or missing credentials: badauth */
	CREDENTIALS_USER,    /* the user `user`, for every host it owns */
	CREDENTIALS_HOST,    /* a host token: the host `fqdn` only (owned by `user`) */
	CREDENTIALS_PENDING, /* a password that needs its verification (credentials_verify) */
};

/* The decision. `user` and `email` name the account (for a token, the host's owner);
 * the rest is private to credentials.c: what credentials_verify needs. Wipe with
 * credentials_wipe. */
struct credentials {
	enum credentials_kind kind;
	char user[AUTH_USERNAME_MAX + 1];
	char email[AUTH_EMAIL_MAX + 1];
	char fqdn[HOSTNAME_MAX + 1]; /* CREDENTIALS_HOST only */
	bool cached;		     /* CREDENTIALS_USER from the cache, without Argon2 */

	/* Private. */
	bool known;		  /* the user exists: its hash is `phc` */
	char phc[AUTH_PHC_MAX];	  /* the stored hash the password is checked against */
	bool keyed;		  /* `key` holds the cache's digest */
	struct credcache_key key; /* the cache's digest of user, phc and password */
};

/* What a check uses; borrowed. `cache` NULL verifies every password with Argon2
 * (nothing remembered, nothing shared). ttl and size are the configuration's
 * credential_cache_ttl and credential_cache_size; `now` is monotonic seconds. */
struct credentials_ctx {
	struct db *db;
	struct credcache *cache;
	int ttl;
	size_t size;
	int64_t now;
};

/*
 * credentials_lookup: everything of the decision but Argon2. A password of a token's
 * form (token.h) is looked up as a host token first: found, with the host's owner or
 * the host's fqdn as user name, it gives CREDENTIALS_HOST. Otherwise it reads the
 * user's row and answers from the cache when it can: CREDENTIALS_USER (a hit) or
 * CREDENTIALS_PENDING (finish with credentials_verify; that includes missing or
 * malformed credentials, unknown users and tokens that are none, which cost a
 * verification there, so that no failure is cheaper than a verification and timing
 * tells neither which user names nor which host names exist). `user` and `password`
 * may be NULL (absent). Returns 0, or ERR_DB when the database could not be read
 * (→ 911).
 */
int credentials_lookup(const struct credentials_ctx *ctx, const char *user, const char *password,
		       struct credentials *out);

/* credentials_verify: finishes a CREDENTIALS_PENDING decision with its verification
 * (Argon2, once for all the requests that carry the same credentials at the same
 * time; remembered in the cache when good): *io becomes CREDENTIALS_USER or
 * CREDENTIALS_FAILED. `password` is the one given to credentials_lookup. May block
 * for a verification (about a quarter second, more while the Argon2 gate is full). */
void credentials_verify(const struct credentials_ctx *ctx, const char *password,
			struct credentials *io);

/* credentials_check: credentials_lookup, then credentials_verify when pending. */
int credentials_check(const struct credentials_ctx *ctx, const char *user, const char *password,
		      struct credentials *out);

/* credentials_wipe: erases the decision (its stored hash and digest). NULL ok. */
void credentials_wipe(struct credentials *c);

#endif
