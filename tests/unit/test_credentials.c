/* SPDX-License-Identifier: MIT */
/* Tests of credentials.c against a real SQLite database and real Argon2: the password
 * path with and without the cache (hit, miss, a changed stored hash, unknown users,
 * missing credentials), and host tokens (owner or fqdn as user name, another user, a
 * deleted token, a password that only looks like a token). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "credentials.h"
#include "err.h"
#include "tap.h"
#include "token.h"

static struct db *db;
static struct credcache *cache;
/* A password of a token's form that is a user's password, not a token. */
#define LOOKALIKE "ddns_ABCDEFGHIJKLMNOPQRSTUVWXYZab-_01"

static struct credentials_ctx
ctx_at(int64_t now)
{
	return (struct credentials_ctx){
		.db = db, .cache = cache, .ttl = 600, .size = 100, .now = now};
}

static int
add_user(const char *name, const char *pw)
{
	struct db_user u;

	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "%s", name);
	snprintf(u.email, sizeof(u.email), "%s@example.com", name);
	if (auth_hash(pw, u.pw_hash, sizeof(u.pw_hash)) < 0)
		return -1;
	return db_user_add(db, &u);
}

static int
add_host(const char *user, const char *host)
{
	struct db_host h;

	memset(&h, 0, sizeof(h));
	snprintf(h.owner, sizeof(h.owner), "%s", user);
	snprintf(h.hostname, sizeof(h.hostname), "%s", host);
	snprintf(h.zone, sizeof(h.zone), "dyn.example.com");
	h.dns_ttl = 60;
	h.expiry_ttl = 3600;
	return db_host_add(db, &h);
}

/* A new token for host.dyn.example.com into secret; its id into *id. */
static int
add_token(const char *host, char *secret, size_t len, int64_t *id)
{
	struct db_token t;

	memset(&t, 0, sizeof(t));
	snprintf(t.fqdn, sizeof(t.fqdn), "%s.dyn.example.com", host);
	if (token_generate(secret, len) != 0 || token_hash(secret, t.hash, sizeof(t.hash)) != 0)
		return -1;
	return db_token_add(db, &t, id);
}

static enum credentials_kind
check(int64_t now, const char *user, const char *pw, struct credentials *c)
{
	struct credentials_ctx ctx = ctx_at(now);

	if (credentials_check(&ctx, user, pw, c) != 0)
		return (enum credentials_kind) - 1;
	return c->kind;
}

static void
test_passwords(void)
{
	struct credentials c;
	struct credentials_ctx ctx = ctx_at(1000);
	char phc[AUTH_PHC_MAX];

	is_int(credentials_lookup(&ctx, "alice", "pw-alice", &c), 0, "lookup");
	is_int(c.kind, CREDENTIALS_PENDING, "a first request needs its verification");
	credentials_verify(&ctx, "pw-alice", &c);
	is_int(c.kind, CREDENTIALS_USER, "verified: the user");
	ok(!c.cached, "by Argon2");
	is_str(c.user, "alice", "user");
	is_str(c.email, "alice@example.com", "the e-mail for notifications");
	is_int(credentials_lookup(&ctx, "alice", "pw-alice", &c), 0, "lookup again");
	is_int(c.kind, CREDENTIALS_USER, "a hit: decided without a verification");
	ok(c.cached, "from the cache");
	is_int(check(1001, "alice", "wrong", &c), CREDENTIALS_FAILED, "wrong password");
	is_int(check(1001, "nobody", "pw-alice", &c), CREDENTIALS_FAILED, "unknown user");
	is_int(check(1001, "Alice", "pw-alice", &c), CREDENTIALS_FAILED, "not a user name");
	is_int(check(1001, NULL, "pw-alice", &c), CREDENTIALS_FAILED, "no user name");
	is_int(check(1001, "alice", NULL, &c), CREDENTIALS_FAILED, "no password");
	is_int(check(1001, "alice", "", &c), CREDENTIALS_FAILED, "empty password");
	is_int(check(1600, "alice", "pw-alice", &c), CREDENTIALS_USER, "after the ttl");
	ok(!c.cached, "verified again");

	/* The stored hash changes (user passwd): the entry no longer applies. */
	ok(auth_hash("new-pw", phc, sizeof(phc)) == 0 &&
		   db_user_set_password(db, "alice", phc) == 0,
	   "change alice's password");
	is_int(check(1601, "alice", "pw-alice", &c), CREDENTIALS_FAILED,
	       "the old password is refused at once");
	is_int(check(1601, "alice", "new-pw", &c), CREDENTIALS_USER, "the new one is good");
	ok(auth_hash("pw-alice", phc, sizeof(phc)) == 0 &&
		   db_user_set_password(db, "alice", phc) == 0,
	   "and back");
	credentials_wipe(&c);
	credentials_wipe(NULL);
}

static void
test_no_cache(void)
{
	struct credentials_ctx ctx = {.db = db, .cache = NULL, .ttl = 600, .size = 100};
	struct credentials c;

	is_int(credentials_check(&ctx, "alice", "pw-alice", &c), 0, "without a cache");
	is_int(c.kind, CREDENTIALS_USER, "the password is verified");
	is_int(credentials_lookup(&ctx, "alice", "pw-alice", &c), 0, "lookup");
	is_int(c.kind, CREDENTIALS_PENDING, "never a hit");
	is_int(credentials_check(&ctx, "alice", "nope", &c), 0, "a wrong one");
	is_int(c.kind, CREDENTIALS_FAILED, "is refused");
}

static void
test_tokens(void)
{
	char tok[TOKEN_LEN + 1], other[TOKEN_LEN + 1];
	struct credentials_ctx ctx = ctx_at(2000);
	struct credentials c;
	int64_t id = 0, id2 = 0;

	ok(add_token("home", tok, sizeof(tok), &id) == 0, "a token for alice's home");
	ok(add_token("office", other, sizeof(other), &id2) == 0, "and one for bob's office");
	is_int(credentials_lookup(&ctx, "alice", tok, &c), 0, "lookup");
	is_int(c.kind, CREDENTIALS_HOST, "with the owner's name: that host only");
	is_str(c.fqdn, "home.dyn.example.com", "its host");
	ok(strcmp(c.user, "alice") == 0 && strcmp(c.email, "alice@example.com") == 0,
	   "the owner's account and e-mail");
	is_int(check(2000, "HOME.dyn.example.com.", tok, &c), CREDENTIALS_HOST,
	       "with the fqdn as user name");
	is_int(check(2000, "bob", tok, &c), CREDENTIALS_FAILED, "another user's name");
	is_int(check(2000, "office.dyn.example.com", tok, &c), CREDENTIALS_FAILED,
	       "another host's fqdn");
	is_int(check(2000, NULL, tok, &c), CREDENTIALS_FAILED, "no user name");
	is_int(check(2000, "bob", other, &c), CREDENTIALS_HOST, "bob's token");
	is_str(c.fqdn, "office.dyn.example.com", "for bob's host");
	tok[10] = tok[10] == 'A' ? 'B' : 'A';
	is_int(check(2000, "alice", tok, &c), CREDENTIALS_FAILED, "a token off by one character");
	tok[10] = tok[10] == 'A' ? 'B' : 'A';
	is_int(db_token_delete(db, id), 0, "delete alice's token");
	is_int(check(2000, "alice", tok, &c), CREDENTIALS_FAILED, "a deleted token");
	is_int(check(2000, "home.dyn.example.com", tok, &c), CREDENTIALS_FAILED,
	       "a deleted token with the fqdn");

	ok(add_user("carol", LOOKALIKE) == 0, "a user whose password looks like a token");
	is_int(check(2000, "carol", LOOKALIKE, &c), CREDENTIALS_USER,
	       "is checked as her password when it is no token");
	ok(!c.fqdn[0], "for all of her hosts");
}

int
main(void)
{
	struct config cfg;
	char dir[] = "/tmp/test_credentials.XXXXXX";
	char path[64];

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.database.backend = DB_BACKEND_SQLITE;
	cfg.database.path = path;
	auth_init(0);
	ok(db_open(&cfg, &db) == 0 && credcache_new(&cache) == 0, "database and cache");
	if (db && cache) {
		ok(add_user("alice", "pw-alice") == 0 && add_user("bob", "pw-bob") == 0, "users");
		ok(add_host("alice", "home") == 0 && add_host("bob", "office") == 0, "hosts");
		test_passwords();
		test_no_cache();
		test_tokens();
	}
	db_close(db);
	credcache_free(cache);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.db-shm", dir);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
