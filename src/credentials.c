/* SPDX-License-Identifier: MIT */
/* Who an update request comes from: a host token (a hash and an indexed read), or the
 * password path (the user's row, the verified-credential cache, Argon2 through the
 * cache's single flight, a dummy verification for unknown users). */
#include "credentials.h"

#include <string.h>

#include "err.h"
#include "log.h"
#include "metrics.h"
#include "token.h"

void
credentials_wipe(struct credentials *c)
{
	if (c)
		explicit_bzero(c, sizeof(*c));
}

/* Reads the user `user` into *out when the name can be one; out->known says whether it
 * exists. ERR_DB when the table could not be read. */
static int
read_user(const struct credentials_ctx *ctx, const char *user, struct credentials *out)
{
	struct db_user row;
	int rc;

	if (!user || !auth_username_is_valid(user))
		return 0;
	rc = db_user_get(ctx->db, user, &row);
	if (rc == 0) {
		out->known = true;
		memcpy(out->user, row.name, sizeof(out->user));
		memcpy(out->email, row.email, sizeof(out->email));
		memcpy(out->phc, row.pw_hash, sizeof(out->phc));
	}
	explicit_bzero(row.pw_hash, sizeof(row.pw_hash));
	return rc == 0 || rc == ERR_NOTFOUND ? 0 : ERR_DB;
}

/*
 * A password of a token's form: the token whose SHA-256 it is, if the user name is its
 * host's owner or its host's fqdn. Anything else (no such token, a deleted one, another
 * user name) leaves *out pending and the password path goes on, so that a wrong token
 * costs a full verification like a wrong password, and a wrong token with an fqdn as
 * user name costs the same whether that host exists or not (the password path looks
 * the name up as a user either way): no password oracle, no host enumeration by
 * timing. ERR_DB when the token table could not be read.
 */
static int
check_token(const struct credentials_ctx *ctx, const char *user, const char *password,
	    struct credentials *out)
{
	char hash[DB_TOKEN_HASH_LEN + 1];
	struct db_token t;
	int rc;

	if (token_hash(password, hash, sizeof(hash)) != 0)
		return 0;
	rc = db_token_find(ctx->db, hash, &t);
	explicit_bzero(hash, sizeof(hash));
	if (rc == ERR_NOTFOUND)
		return 0;
	if (rc < 0)
		return ERR_DB;
	if (!token_user_matches(user, &t))
		return 0;
	out->kind = CREDENTIALS_HOST;
	memcpy(out->user, t.owner, sizeof(out->user));
	memcpy(out->email, t.owner_email, sizeof(out->email));
	memcpy(out->fqdn, t.fqdn, sizeof(out->fqdn));
	log_debug("%s: update token %lld accepted", t.fqdn, (long long)t.id);
	return 0;
}

int
credentials_lookup(const struct credentials_ctx *ctx, const char *user, const char *password,
		   struct credentials *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->kind = CREDENTIALS_PENDING;
	if (token_is_wellformed(password)) {
		if ((rc = check_token(ctx, user, password, out)) != 0)
			return rc;
		if (out->kind == CREDENTIALS_HOST)
			return 0;
	}
	if ((rc = read_user(ctx, user, out)) != 0)
		return rc;
	/* An unknown user gets the digest of an empty stored hash: its dummy verification
	 * is shared like any other but never succeeds, so it is never remembered. Without
	 * a digest (no cache, or HMAC failed) the password is verified on its own. */
	out->keyed =
		ctx->cache && credcache_key(ctx->cache, user, out->phc, password, &out->key) == 0;
	if (out->keyed && out->known &&
	    credcache_lookup(ctx->cache, &out->key, ctx->now, ctx->ttl)) {
		out->kind = CREDENTIALS_USER;
		out->cached = true;
		log_debug("user %s: credentials verified from the cache", out->user);
	}
	if (ctx->cache && ctx->ttl > 0)
		metrics_count_auth(out->cached ? METRICS_AUTH_CACHE_HIT : METRICS_AUTH_CACHE_MISS);
	return 0;
}

/* What the cache's single flight runs for a miss. */
struct verify_arg {
	const struct credentials *c;
	const char *password;
};

/* Argon2 against the stored hash; unknown users (and missing credentials) against a
 * dummy hash of the same cost. 0 or ERR_AUTH (an unusable stored hash is logged). */
static int
verify_password(void *arg)
{
	const struct verify_arg *v = arg;
	const char *password = v->password ? v->password : "";
	int rc;

	if (!v->c->known || !v->password)
		return auth_verify_dummy(password);
	rc = auth_verify(v->c->phc, password);
	if (rc == ERR_INVAL)
		log_warnx("user %s: stored password hash is unusable", v->c->user);
	log_debug("user %s: password %s by Argon2", v->c->user, rc == 0 ? "verified" : "refused");
	return rc == 0 ? 0 : ERR_AUTH;
}

void
credentials_verify(const struct credentials_ctx *ctx, const char *password, struct credentials *io)
{
	struct verify_arg v = {io, password};
	int rc;

	if (io->kind != CREDENTIALS_PENDING)
		return;
	if (io->keyed)
		rc = credcache_verify(ctx->cache, &io->key, ctx->now, ctx->ttl, ctx->size,
				      verify_password, &v);
	else
		rc = verify_password(&v);
	io->kind = rc == 0 && io->known ? CREDENTIALS_USER : CREDENTIALS_FAILED;
}

int
credentials_check(const struct credentials_ctx *ctx, const char *user, const char *password,
		  struct credentials *out)
{
	int rc = credentials_lookup(ctx, user, password, out);

	if (rc == 0)
		credentials_verify(ctx, password, out);
	return rc;
}
