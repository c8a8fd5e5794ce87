/* SPDX-License-Identifier: MIT */
/* Tests of db.c + db_sqlite.c + db_mariadb.c against real databases: every operation,
 * the error codes of the contract, expiry claims, the per-host lock, migrations and the
 * due-query plan at scale. The same tests run on SQLite files and, when mariadbd is
 * installed, on a throwaway mariadbd this program starts and stops itself
 * (DDNS_TEST_DB_BACKENDS=sqlite or =mariadb runs one of them). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "err.h"
#include "tap.h"

#if HAVE_MARIADB
#include <mysql.h>
#endif

static char dir[64];
static int file_no;

/* What differs between the backends in these tests: how a fresh database is made
 * (`where` is the SQLite path or the MariaDB database name) and raw SQL beside the
 * code under test. */
struct backend {
	const char *name;
	void (*fresh)(struct config *cfg, char *where, size_t len);
	int (*raw_exec)(const char *where, const char *sql);
	int (*raw_count)(const char *where, const char *sql);
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A config naming a fresh database file in the test directory. */
static void
fresh_config(struct config *cfg, char *path, size_t len)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(path, len, "%s/db%d.sqlite", dir, file_no++);
	cfg->database.backend = DB_BACKEND_SQLITE;
	cfg->database.path = path;
}

static void
make_user(struct db_user *u, const char *name)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->email, sizeof(u->email), "%s@example.com", name);
	snprintf(u->pw_hash, sizeof(u->pw_hash), "$argon2id$fake-%s", name);
}

static void
make_host(struct db_host *h, const char *owner, const char *host, const char *zone, int expiry)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->owner, sizeof(h->owner), "%s", owner);
	snprintf(h->hostname, sizeof(h->hostname), "%s", host);
	snprintf(h->zone, sizeof(h->zone), "%s", zone);
	snprintf(h->fqdn, sizeof(h->fqdn), "%s.%s", host, zone);
	h->dns_ttl = 60;
	h->expiry_ttl = expiry;
}

static int64_t
host_id(struct db *db, const char *fqdn)
{
	struct db_host h;

	return db_host_get(db, fqdn, &h) == 0 ? h.id : -1;
}

static void
test_open(const struct backend *b)
{
	struct config cfg;
	char where[128];
	struct db *db = NULL;
	int v = -1;

	b->fresh(&cfg, where, sizeof(where));
	is_int(db_open(&cfg, &db), 0, "open creates a fresh database");
	is_int(db_schema_version(db, &v), 0, "schema_version");
	is_int(v, DB_SCHEMA_VERSION, "fresh database is at the current version");
	db_close(db);
	is_int(db_open(&cfg, &db), 0, "reopen");
	is_int(db_schema_version(db, &v), 0, "schema_version again");
	is_int(v, DB_SCHEMA_VERSION, "reopen keeps the version (no second migration)");
	db_close(db);
	db_close(NULL);
#if !HAVE_MARIADB
	cfg.database.backend = DB_BACKEND_MARIADB;
	is_int(db_open(&cfg, &db), ERR_INVAL, "mariadb backend refused in this build");
	ok(db == NULL, "no handle on failure");
#endif
}

static void
test_users(struct db *db)
{
	struct db_user u, got, *list = NULL;
	size_t len = 0;

	make_user(&u, "bob");
	is_int(db_user_add(db, &u), 0, "add bob");
	make_user(&u, "alice");
	u.created = 1700000000;
	is_int(db_user_add(db, &u), 0, "add alice");
	is_int(db_user_add(db, &u), ERR_EXISTS, "duplicate user is ERR_EXISTS");
	is_int(db_user_get(db, "alice", &got), 0, "get alice");
	is_str(got.email, "alice@example.com", "email stored");
	is_str(got.pw_hash, "$argon2id$fake-alice", "hash stored");
	is_int(got.created, 1700000000, "created stored");
	ok(got.id > 0, "id assigned");
	is_int(db_user_get(db, "carol", &got), ERR_NOTFOUND, "unknown user is ERR_NOTFOUND");
	is_int(db_user_list(db, &list, &len), 0, "list");
	is_int(len, 2, "two users");
	if (len == 2) {
		is_str(list[0].name, "alice", "ordered by name (1)");
		is_str(list[1].name, "bob", "ordered by name (2)");
		ok(list[1].created > 1700000000, "created defaults to now");
	}
	free(list);
	is_int(db_user_set_password(db, "alice", "$argon2id$new"), 0, "set password");
	is_int(db_user_set_email(db, "alice", "a@example.org"), 0, "set email");
	is_int(db_user_get(db, "alice", &got), 0, "get after changes");
	is_str(got.pw_hash, "$argon2id$new", "password changed");
	is_str(got.email, "a@example.org", "email changed");
	is_int(db_user_set_password(db, "carol", "x"), ERR_NOTFOUND, "passwd unknown user");
	is_int(db_user_set_email(db, "carol", "x@y.z"), ERR_NOTFOUND, "email unknown user");
	is_int(db_user_delete(db, "carol"), ERR_NOTFOUND, "delete unknown user");
}

static void
test_hosts(struct db *db)
{
	struct db_host h, got, *list = NULL;
	size_t len = 0;

	make_host(&h, "alice", "home", "dyn.example.com", 7200);
	is_int(db_host_add(db, &h), 0, "add home");
	is_int(db_host_add(db, &h), ERR_EXISTS, "duplicate fqdn is ERR_EXISTS");
	make_host(&h, "carol", "x", "dyn.example.com", 3600);
	is_int(db_host_add(db, &h), ERR_NOTFOUND, "unknown owner is ERR_NOTFOUND");
	make_host(&h, "bob", "office", "dyn.example.com", 3600);
	h.fqdn[0] = '\0'; /* computed from hostname + zone */
	is_int(db_host_add(db, &h), 0, "add office for bob");
	make_host(&h, "alice", "xn--bcher-kva", "dyn.example.com", 0);
	is_int(db_host_add(db, &h), 0, "add an A-label host");
	make_host(&h, "alice", "x", "", 0);
	memset(h.zone, 'z', HOSTNAME_MAX - 1);
	h.zone[HOSTNAME_MAX - 1] = '\0';
	h.fqdn[0] = '\0';
	is_int(db_host_add(db, &h), ERR_TOOBIG, "hostname.zone too long for an fqdn");

	is_int(db_host_get(db, "home.dyn.example.com", &got), 0, "get home");
	is_str(got.owner, "alice", "owner");
	is_str(got.owner_email, "a@example.org", "the owner's e-mail comes with the row");
	is_str(got.hostname, "home", "hostname");
	is_str(got.zone, "dyn.example.com", "zone");
	is_int(got.dns_ttl, 60, "dns_ttl");
	is_int(got.expiry_ttl, 7200, "expiry_ttl");
	is_str(got.v4.ip, "", "no ipv4 yet");
	is_int(got.v4.updated, 0, "never updated");
	ok(!got.v4.expired && !got.v6.expired, "not expired");
	is_int(db_host_get(db, "office.dyn.example.com", &got), 0, "fqdn computed");
	is_int(db_host_get(db, "nope.dyn.example.com", &got), ERR_NOTFOUND, "unknown host");

	is_int(db_host_list(db, NULL, &list, &len), 0, "list all");
	is_int(len, 3, "three hosts");
	if (len == 3) {
		is_str(list[0].fqdn, "home.dyn.example.com", "ordered by fqdn (1)");
		is_str(list[2].fqdn, "xn--bcher-kva.dyn.example.com", "ordered by fqdn (3)");
	}
	free(list);
	is_int(db_host_list(db, "alice", &list, &len), 0, "list alice's");
	is_int(len, 2, "alice has two");
	if (len == 2)
		is_str(list[1].owner_email, "a@example.org", "listed rows bring the e-mail");
	free(list);
	is_int(db_host_list(db, "carol", &list, &len), 0, "list of an unknown user");
	is_int(len, 0, "is empty");
	free(list);

	is_int(db_host_set_ttls(db, "home.dyn.example.com", 120, 600), 0, "set ttls");
	is_int(db_host_get(db, "home.dyn.example.com", &got), 0, "get after ttls");
	ok(got.dns_ttl == 120 && got.expiry_ttl == 600, "ttls changed");
	is_int(db_host_set_ttls(db, "nope.example.com", 1, 0), ERR_NOTFOUND, "ttls unknown");

	is_int(db_user_delete(db, "alice"), ERR_BUSY, "user with hosts: ERR_BUSY");
	is_int(db_user_get(db, "alice", &(struct db_user){0}), 0, "alice still there");
}

/* Token hashes: 64 lower-case hex digits, as token.c makes them. */
#define HASH_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HASH_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define HASH_C "00000000000000000000000000000000000000000000000000000000000000cc"
#define HASH_D "00000000000000000000000000000000000000000000000000000000000000dd"

static void
make_token(struct db_token *t, const char *fqdn, const char *hash, const char *note)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->fqdn, sizeof(t->fqdn), "%s", fqdn);
	snprintf(t->hash, sizeof(t->hash), "%s", hash);
	snprintf(t->note, sizeof(t->note), "%s", note);
}

static void
test_token_errors(struct db *db)
{
	struct db_token t, got;
	int64_t id = -1;

	make_token(&t, "nope.dyn.example.com", HASH_D, "");
	is_int(db_token_add(db, &t, &id), ERR_NOTFOUND, "token for an unknown host");
	make_token(&t, "home.dyn.example.com", "0123", "");
	is_int(db_token_add(db, &t, &id), ERR_INVAL, "a hash that is not 64 hex digits");
	make_token(&t, "home.dyn.example.com", HASH_A, "");
	t.hash[0] = 'A';
	is_int(db_token_add(db, &t, &id), ERR_INVAL, "upper-case hex is not what we store");
	is_int(db_token_find(db, "", &got), ERR_NOTFOUND, "find a malformed hash");
	is_int(db_token_find(db, HASH_D, &got), ERR_NOTFOUND, "find an unknown hash");
	is_int(db_token_delete(db, 999999), ERR_NOTFOUND, "delete an unknown token");
}

static void
test_tokens(struct db *db)
{
	struct db_token t, got, *list = NULL;
	int64_t a = 0, b = 0, c = 0;
	size_t len = 0;

	make_token(&t, "home.dyn.example.com", HASH_A, "router in the hall");
	is_int(db_token_add(db, &t, &a), 0, "token for alice's home");
	ok(a > 0, "it has an id");
	is_int(db_token_add(db, &t, &c), ERR_EXISTS, "the same hash twice is ERR_EXISTS");
	make_token(&t, "office.dyn.example.com", HASH_B, "");
	is_int(db_token_add(db, &t, &b), 0, "token for bob's office");
	ok(b != a, "another id");
	make_token(&t, "home.dyn.example.com", HASH_C, "second");
	t.created = 1700000000;
	is_int(db_token_add(db, &t, &c), 0, "a second token for home");

	is_int(db_token_find(db, HASH_A, &got), 0, "find by hash");
	ok(got.id == a && got.host_id == host_id(db, "home.dyn.example.com"), "id and host");
	is_str(got.fqdn, "home.dyn.example.com", "with the host's fqdn");
	is_str(got.owner, "alice", "its owner");
	is_str(got.owner_email, "a@example.org", "and the owner's e-mail");
	is_str(got.note, "router in the hall", "note");
	is_str(got.hash, "", "the hash is not read back");
	ok(got.created > 1700000000, "created defaults to now");

	is_int(db_token_list(db, NULL, &list, &len), 0, "list all tokens");
	is_int(len, 3, "three");
	if (len == 3) {
		ok(list[0].id == a && list[1].id == c, "ordered by fqdn, then id");
		is_str(list[2].fqdn, "office.dyn.example.com", "bob's last");
		is_int(list[1].created, 1700000000, "created as given");
	}
	free(list);
	is_int(db_token_list(db, "bob", &list, &len), 0, "list bob's");
	ok(len == 1 && list[0].id == b, "bob has one");
	free(list);
	is_int(db_token_list(db, "carol", &list, &len), 0, "list of an unknown user");
	is_int(len, 0, "is empty");
	free(list);

	is_int(db_token_delete(db, b), 0, "delete bob's token");
	is_int(db_token_delete(db, b), ERR_NOTFOUND, "delete it again");
	is_int(db_token_find(db, HASH_B, &got), ERR_NOTFOUND, "a deleted token is not found");
	test_token_errors(db);
}

static void
test_addr(struct db *db)
{
	int64_t id = host_id(db, "home.dyn.example.com"); /* expiry_ttl 600 */
	struct db_host got;

	is_int(db_host_set_addr(db, id, DB_V4, "192.0.2.1", NULL, 1000), 0, "set v4");
	is_int(db_host_get(db, "home.dyn.example.com", &got), 0, "get");
	is_str(got.v4.ip, "192.0.2.1", "v4 stored");
	is_int(got.v4.updated, 1000, "v4 updated");
	is_str(got.v6.ip, "", "v6 untouched");
	is_int(got.v6.updated, 0, "v6 never updated");

	is_int(db_host_set_addr(db, id, DB_V4 | DB_V6, "192.0.2.2", "2001:db8::1", 1100), 0,
	       "set both");
	is_int(db_host_touch(db, id, DB_V6, 1500), 0, "touch v6 (nochg)");
	is_int(db_host_get(db, "home.dyn.example.com", &got), 0, "get");
	is_str(got.v4.ip, "192.0.2.2", "v4 replaced");
	is_int(got.v4.updated, 1100, "touch of v6 leaves v4's time");
	is_str(got.v6.ip, "2001:db8::1", "touch keeps the address");
	is_int(got.v6.updated, 1500, "touch refreshes the time");

	is_int(db_host_set_addr(db, id, DB_V6, NULL, "", 1600), 0, "record a v6 deletion");
	is_int(db_host_get(db, "home.dyn.example.com", &got), 0, "get");
	is_str(got.v6.ip, "", "v6 deleted");
	is_int(got.v6.updated, 1600, "deletion time recorded");

	is_int(db_host_set_addr(db, 999999, DB_V4, "192.0.2.9", NULL, 1), ERR_NOTFOUND,
	       "set_addr unknown host");
	is_int(db_host_touch(db, 999999, DB_V4, 1), ERR_NOTFOUND, "touch unknown host");
	is_int(db_host_set_addr(db, id, 0, NULL, NULL, 1), ERR_INVAL, "no family");
	is_int(db_host_set_addr(db, id, DB_V4, NULL, NULL, 1), ERR_INVAL, "family without ip");
	is_int(db_host_touch(db, id, 4, 1), ERR_INVAL, "unknown family bit");
	{
		char longip[ADDR_STRLEN + 8];
		int touched = -1;

		memset(longip, '1', sizeof(longip) - 1);
		longip[sizeof(longip) - 1] = '\0';
		is_int(db_host_set_addr(db, id, DB_V4, longip, NULL, 1), ERR_TOOBIG,
		       "address longer than a row holds");
		is_int(db_host_touch_live(db, id, 8, NULL, NULL, 1, &touched), ERR_INVAL,
		       "touch_live: unknown family bit");
		is_int(touched, 0, "touch_live: nothing touched on ERR_INVAL");
	}
}

/* Whether the due list at `now` is exactly the one host `fqdn` (or empty for NULL). */
static bool
due_is(struct db *db, int64_t now, const char *fqdn)
{
	struct db_host *list = NULL;
	size_t len = 99;
	bool res;

	if (db_host_due(db, now, 100, &list, &len) != 0)
		return false;
	res = fqdn == NULL ? len == 0 : len == 1 && strcmp(list[0].fqdn, fqdn) == 0;
	free(list);
	return res;
}

static void test_touch_live(struct db *db, int64_t id, const char *home);

static void
test_expiry(struct db *db)
{
	const char *home = "home.dyn.example.com";
	int64_t id = host_id(db, home);
	int64_t bid = host_id(db, "xn--bcher-kva.dyn.example.com");
	int claimed = -1;
	struct db_host got;

	/* home: v4 192.0.2.2 updated 1100, v6 deleted at 1600, expiry_ttl 600. */
	ok(due_is(db, 1699, NULL), "not due before updated + expiry_ttl");
	ok(due_is(db, 1700, home), "due at updated + expiry_ttl");
	{
		struct db_host *due = NULL;
		size_t n = 0;

		is_int(db_host_due(db, 1700, 10, &due, &n), 0, "due rows");
		ok(n == 1 && strcmp(due[0].owner_email, "a@example.org") == 0,
		   "due rows bring the owner's e-mail (the expiry mail needs no second query)");
		free(due);
	}
	ok(due_is(db, 99999, home), "a deleted family is never due; expiry 0 never");
	is_int(db_host_set_addr(db, bid, DB_V4, "192.0.2.50", NULL, 1), 0, "expiry 0 host set");
	ok(due_is(db, 99999, home), "expiry_ttl 0 is never due");

	/* A concurrent update between host_due and host_expire wins. */
	is_int(db_host_touch(db, id, DB_V4, 1700), 0, "refresh at the deadline");
	is_int(db_host_expire(db, id, DB_V4 | DB_V6, 1700, &claimed), 0, "expire");
	is_int(claimed, 0, "refreshed host is not claimed");

	is_int(db_host_set_addr(db, id, DB_V6, NULL, "2001:db8::2", 1800), 0, "v6 back at 1800");
	is_int(db_host_expire(db, id, DB_V4 | DB_V6, 2300, &claimed), 0, "expire at 2300");
	is_int(claimed, DB_V4, "only the due family is claimed");
	is_int(db_host_expire(db, id, DB_V4 | DB_V6, 2300, &claimed), 0, "second cleanup");
	is_int(claimed, 0, "claims nothing");
	is_int(db_host_get(db, home, &got), 0, "get");
	ok(got.v4.expired && !got.v6.expired, "v4 marked expired, v6 not");
	is_str(got.v4.ip, "192.0.2.2", "expired keeps the last address (for the mail)");
	is_int(got.v4.updated, 1700, "and its last update time");
	ok(due_is(db, 2399, NULL), "an expired family is not due again");
	ok(due_is(db, 2400, home), "v6 due at 2400");
	is_int(db_host_touch(db, id, DB_V4, 2400), 0, "touch an expired family");
	is_int(db_host_get(db, home, &got), 0, "get");
	ok(got.v4.expired, "touch does not revive an expired family (only set does)");
	is_int(db_host_expire(db, id, DB_V6, 5000, &claimed), 0, "expire v6");
	is_int(claimed, DB_V6, "v6 claimed");
	ok(due_is(db, 99999, NULL), "nothing due after both expired");
	is_int(db_host_set_addr(db, id, DB_V4, "192.0.2.3", NULL, 6000), 0, "v4 updated again");
	is_int(db_host_get(db, home, &got), 0, "get");
	ok(!got.v4.expired && got.v6.expired, "set revives v4 only");
	ok(due_is(db, 6600, home), "due again after a new update");
	is_int(db_host_expire(db, 999999, DB_V4, 1, &claimed), 0, "expire unknown host");
	is_int(claimed, 0, "claims nothing");
	is_int(db_host_expire(db, id, 0, 1, &claimed), ERR_INVAL, "expire without family");
	test_touch_live(db, id, home);
}

/* nochg without the lock: only while the row holds what the decision saw. Runs after
 * test_expiry: home has v4 192.0.2.3 updated 6000 (expiry_ttl 600), v6 expired. */
static void
test_touch_live(struct db *db, int64_t id, const char *home)
{
	struct db_host got;
	int touched = -1;

	is_int(db_host_touch_live(db, id, DB_V4, "192.0.2.3", NULL, 6100, &touched), 0, "live");
	is_int(touched, DB_V4, "same address, live, not due: refreshed");
	is_int(db_host_get(db, home, &got), 0, "get");
	is_int(got.v4.updated, 6100, "to now");
	is_int(db_host_touch_live(db, id, DB_V4, "192.0.2.9", NULL, 6200, &touched), 0, "other");
	is_int(touched, 0, "another address: not refreshed");
	is_int(db_host_touch_live(db, id, DB_V4, "192.0.2.3", NULL, 6700, &touched), 0, "due");
	is_int(touched, 0, "due at now: not refreshed (the locked path decides)");
	is_int(db_host_touch_live(db, id, DB_V6, NULL, "2001:db8::2", 6200, &touched), 0, "exp");
	is_int(touched, 0, "an expired family: not refreshed");
	is_int(db_host_get(db, home, &got), 0, "get");
	is_int(got.v4.updated, 6100, "v4 kept its time");
	is_int(db_host_touch_live(db, id, 0, NULL, NULL, 1, &touched), ERR_INVAL, "no family");
}

/* Whether the due list at `now` holds `fqdn`. */
static bool
is_due(struct db *db, int64_t now, const char *fqdn)
{
	struct db_host *list = NULL;
	size_t len = 0;
	bool res = false;

	if (db_host_due(db, now, 1000, &list, &len) != 0)
		return true; /* fail the caller's "not due" */
	for (size_t i = 0; i < len; i++)
		res = res || strcmp(list[i].fqdn, fqdn) == 0;
	free(list);
	return res;
}

/* The interface identifier: set with the host or later, cleared with "", refused when
 * it is not an IPv6 address. */
static void
test_iid(struct db *db, const char *fqdn)
{
	struct db_host got, h;
	char longer[ADDR_STRLEN + 8];

	is_int(db_host_get(db, fqdn, &got), 0, "get router");
	is_str(got.ipv6_iid, "::1234:5678:9abc:def0", "identifier stored with the host");
	is_int(db_host_set_iid(db, fqdn, "2001:db8::77"), 0, "a full address as identifier");
	is_int(db_host_get(db, fqdn, &got), 0, "get");
	is_str(got.ipv6_iid, "2001:db8::77", "identifier replaced");
	is_int(db_host_set_iid(db, fqdn, ""), 0, "cleared");
	is_int(db_host_get(db, fqdn, &got), 0, "get");
	is_str(got.ipv6_iid, "", "no identifier");
	is_int(db_host_set_iid(db, fqdn, "192.0.2.1"), ERR_INVAL, "IPv4 refused");
	is_int(db_host_set_iid(db, fqdn, "junk"), ERR_INVAL, "junk refused");
	memset(longer, '1', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	is_int(db_host_set_iid(db, fqdn, longer), ERR_TOOBIG, "too long");
	is_int(db_host_set_iid(db, "nope.dyn.example.com", "::1"), ERR_NOTFOUND, "unknown host");
	make_host(&h, "dora", "bad", "dyn.example.com", 0);
	snprintf(h.ipv6_iid, sizeof(h.ipv6_iid), "fe80::1%%eth0");
	is_int(db_host_add(db, &h), ERR_INVAL, "host add with a bad identifier");
}

/* offline=YES: deleted (expired) and offline, address kept, never due; a set ends it
 * for that family only. */
static void
test_offline(struct db *db, const char *fqdn)
{
	int64_t id = host_id(db, fqdn);
	struct db_host got;
	int claimed = -1;

	is_int(db_host_set_addr(db, id, DB_V4 | DB_V6, "192.0.2.7", "2001:db8::7", 1000), 0,
	       "router published");
	ok(is_due(db, 99999, fqdn), "published: due one day");
	is_int(db_host_set_offline(db, id, DB_V4 | DB_V6), 0, "offline");
	is_int(db_host_get(db, fqdn, &got), 0, "get");
	ok(got.v4.offline && got.v6.offline, "both offline");
	ok(got.v4.expired && got.v6.expired, "both deleted (expired)");
	is_str(got.v4.ip, "192.0.2.7", "the address stays");
	is_int(got.v4.updated, 1000, "and its update time");
	ok(!is_due(db, 99999, fqdn), "an offline family is never due");
	is_int(db_host_expire(db, id, DB_V4 | DB_V6, 99999, &claimed), 0, "expire");
	is_int(claimed, 0, "an offline family is never claimed (no mail)");
	is_int(db_host_set_addr(db, id, DB_V6, NULL, "2001:db8::8", 2000), 0, "v6 back");
	is_int(db_host_get(db, fqdn, &got), 0, "get");
	ok(!got.v6.offline && !got.v6.expired, "set ends offline for v6");
	ok(got.v4.offline && got.v4.expired, "v4 stays offline");
	ok(is_due(db, 99999, fqdn), "v6 due again");
	is_int(db_host_set_offline(db, id, 0), ERR_INVAL, "offline without family");
	is_int(db_host_set_offline(db, 999999, DB_V4), ERR_NOTFOUND, "offline unknown host");
}

/* A user's only host (hostname-less requests), the identifier and offline marks. */
static void
test_routers(struct db *db)
{
	const char *fqdn = "router.dyn.example.com";
	struct db_user u;
	struct db_host h, got;

	make_user(&u, "dora");
	is_int(db_user_add(db, &u), 0, "add dora");
	is_int(db_host_sole(db, "dora", &got), ERR_NOTFOUND, "no host: ERR_NOTFOUND");
	make_host(&h, "dora", "router", "dyn.example.com", 3600);
	snprintf(h.ipv6_iid, sizeof(h.ipv6_iid), "::1234:5678:9abc:def0");
	is_int(db_host_add(db, &h), 0, "add router with an identifier");
	memset(&got, 0, sizeof(got));
	is_int(db_host_sole(db, "dora", &got), 0, "one host: that one");
	is_str(got.fqdn, fqdn, "the sole host");
	is_str(got.owner, "dora", "with its row");
	is_int(db_host_sole(db, "alice", &got), ERR_EXISTS, "several hosts: ERR_EXISTS");
	is_int(db_host_sole(db, "nobody", &got), ERR_NOTFOUND, "unknown user: ERR_NOTFOUND");
	test_iid(db, fqdn);
	test_offline(db, fqdn);
	is_int(db_host_delete(db, fqdn), 0, "delete router");
	is_int(db_user_delete(db, "dora"), 0, "delete dora");
}

static void
test_delete(struct db *db)
{
	struct db_host *list = NULL;
	struct db_token t, *tokens = NULL;
	size_t len = 0;

	is_int(db_token_find(db, HASH_A, &t), 0, "home has its token before");
	is_int(db_host_delete(db, "home.dyn.example.com"), 0, "delete home");
	is_int(db_host_delete(db, "home.dyn.example.com"), ERR_NOTFOUND, "delete again");
	is_int(db_token_find(db, HASH_A, &t), ERR_NOTFOUND, "the host's tokens went with it");
	is_int(db_token_find(db, HASH_C, &t), ERR_NOTFOUND, "all of them");
	is_int(db_token_list(db, NULL, &tokens, &len), 0, "list tokens");
	is_int(len, 0, "none left");
	free(tokens);
	is_int(db_user_delete(db, "alice"), ERR_BUSY, "alice still owns one");
	is_int(db_host_delete(db, "xn--bcher-kva.dyn.example.com"), 0, "delete the other");
	is_int(db_user_delete(db, "alice"), 0, "delete alice now");
	is_int(db_host_list(db, NULL, &list, &len), 0, "list");
	is_int(len, 1, "bob's host remains");
	free(list);
}

/* State shared with the thread of test_lock_waits. */
struct locker {
	struct db *db;
	int rc;
	int64_t waited_ms;
	struct db_host seen;
};

static void *
lock_in_thread(void *arg)
{
	struct locker *l = arg;
	int64_t t0 = mono_ms();

	l->rc = db_host_lock(l->db, "office.dyn.example.com", &l->seen);
	l->waited_ms = mono_ms() - t0;
	if (l->rc == 0) {
		l->rc = db_host_touch(l->db, l->seen.id, DB_V4, 7777);
		if (l->rc == 0)
			l->rc = db_commit(l->db);
	}
	return NULL;
}

/* A second connection waits for the lock and then reads what the first committed. */
static void
test_lock_waits(struct db *a, struct db *bdb)
{
	const char *office = "office.dyn.example.com";
	struct locker l = {.db = bdb, .rc = -99};
	struct db_host h;
	pthread_t t;

	is_int(db_host_lock(a, office, &h), 0, "lock office on connection A");
	if (pthread_create(&t, NULL, lock_in_thread, &l) != 0) {
		ok(0, "thread");
		(void)db_rollback(a);
		return;
	}
	usleep(300 * 1000);
	is_int(db_host_set_addr(a, h.id, DB_V4, "192.0.2.77", NULL, 7000), 0, "A writes");
	is_int(db_commit(a), 0, "A commits");
	pthread_join(t, NULL);
	is_int(l.rc, 0, "B got the lock after A's commit and wrote");
	ok(l.waited_ms >= 250, "B waited for A (%lld ms)", (long long)l.waited_ms);
	is_str(l.seen.v4.ip, "192.0.2.77", "B read the row A committed, not an older one");
	is_int(db_host_get(a, office, &h), 0, "get");
	ok(h.v4.updated == 7777 && strcmp(h.v4.ip, "192.0.2.77") == 0, "both writes are there");
}

static void
test_lock(const struct backend *b, const struct config *cfg, struct db *a)
{
	struct db *bdb = NULL;
	struct db_host h, h2;
	int64_t t0;

	is_int(db_host_lock(a, "nope.dyn.example.com", &h), ERR_NOTFOUND, "lock unknown host");
	is_int(db_host_lock(a, "office.dyn.example.com", &h), 0, "lock office");
	is_str(h.owner, "bob", "the locked row is read");
	is_str(h.owner_email, "bob@example.com", "the locked row brings the owner's e-mail");
	is_int(db_host_lock(a, "office.dyn.example.com", &h2), ERR_INTERNAL,
	       "a second lock on the same handle is a bug");
	is_int(db_host_set_addr(a, h.id, DB_V4, "192.0.2.66", NULL, 6000), 0, "write under lock");
	is_int(db_rollback(a), 0, "rollback");
	is_int(db_host_get(a, "office.dyn.example.com", &h2), 0, "get");
	is_str(h2.v4.ip, "", "the rolled back write is gone");
	is_int(db_rollback(a), 0, "rollback without a transaction does nothing");

	if (db_open(cfg, &bdb) != 0) {
		ok(0, "second connection");
		return;
	}
	/* After ERR_NOTFOUND no transaction may be left holding the lock. */
	t0 = mono_ms();
	is_int(db_host_lock(a, "nope.dyn.example.com", &h), ERR_NOTFOUND, "lock unknown again");
	is_int(db_host_lock(bdb, "office.dyn.example.com", &h), 0, "B locks at once");
	ok(mono_ms() - t0 < 1000, "nothing was left locked by the failed lock");
	is_int(db_commit(bdb), 0, "B commits");
	if (strcmp(b->name, "mariadb") == 0) {
		/* InnoDB locks rows: another host is not blocked. */
		is_int(db_host_lock(a, "office.dyn.example.com", &h), 0, "A locks office");
		t0 = mono_ms();
		is_int(db_host_lock(bdb, "xn--bcher-kva.dyn.example.com", &h2), 0,
		       "B locks another host meanwhile");
		ok(mono_ms() - t0 < 1000, "without waiting for A");
		is_int(db_commit(bdb), 0, "B commits");
		is_int(db_commit(a), 0, "A commits");
	}
	test_lock_waits(a, bdb);
	db_close(bdb);
}

#define V1 "LHDhK3oGRvkiefQnx7OOczTY5Tic_xZ6HcMOc_gmtoM"
#define V2 "lhdhk3ogrvkiefqnx7ooczty5tic_xz6hcmoc_gmtom" /* V1 in lower case: another value */

/* ACME challenge values: idempotent add, exact (case-sensitive) values, the due scan
 * oldest first with the host's names, and the critical section's rollback. */
static void
test_acme(struct db *db)
{
	int64_t home = host_id(db, "home.dyn.example.com"),
		office = host_id(db, "office.dyn.example.com");
	int64_t created = -1, n = -1;
	struct db_acme *due = NULL;
	struct db_host h;
	size_t len = 0;
	char big[DB_ACME_VALUE_MAX + 2];

	is_int(db_acme_add(db, home, V1, 1000), 0, "acme: add a value");
	is_int(db_acme_add(db, home, V2, 1100), 0, "acme: add a second value (case differs)");
	is_int(db_acme_add(db, home, V1, 1200), 0, "acme: add the first again");
	is_int(db_acme_get(db, home, V1, &created), 0, "acme: get");
	is_int(created, 1200, "acme: adding again restarts the value's time");
	is_int(db_acme_count(db, home, &n), 0, "acme: count");
	is_int(n, 2, "acme: two values, each once");
	is_int(db_acme_add(db, office, V1, 900), 0, "acme: the same value for another host");
	is_int(db_acme_add(db, 999999, V1, 900), ERR_NOTFOUND, "acme: an unknown host");
	is_int(db_acme_due(db, 1100, 10, &due, &len), 0, "acme: due at 1100");
	ok(len == 2 && due[0].host_id == office && due[1].host_id == home &&
		   strcmp(due[1].value, V2) == 0 && due[1].created == 1100 &&
		   strcmp(due[1].fqdn, "home.dyn.example.com") == 0 &&
		   strcmp(due[1].zone, "dyn.example.com") == 0,
	   "acme: the two oldest, oldest first, with the host's names");
	free(due);
	is_int(db_acme_due(db, 1100, 1, &due, &len), 0, "acme: due with a limit");
	ok(len == 1 && due[0].host_id == office, "acme: the limit keeps the oldest");
	free(due);
	is_int(db_acme_delete(db, office, V1), 0, "acme: delete");
	is_int(db_acme_delete(db, office, V1), ERR_NOTFOUND, "acme: delete again");
	is_int(db_acme_get(db, office, V1, &created), ERR_NOTFOUND, "acme: gone");
	is_int(db_acme_add(db, home, "", 1), ERR_INVAL, "acme: an empty value");
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(db_acme_add(db, home, big, 1), ERR_TOOBIG, "acme: 256 bytes");
	big[DB_ACME_VALUE_MAX] = '\0';
	is_int(db_acme_add(db, office, big, 1300), 0, "acme: 255 bytes");
	is_int(db_acme_get(db, office, big, &created), 0, "acme: 255 bytes read back");
	is_int(db_host_lock(db, "office.dyn.example.com", &h), 0, "acme: lock office");
	is_int(db_acme_delete(db, office, big), 0, "acme: delete under the lock");
	is_int(db_rollback(db), 0, "acme: roll back");
	is_int(db_acme_count(db, office, &n), 0, "acme: count office");
	is_int(n, 1, "acme: the rolled back delete left the value");
	is_int(db_host_lock(db, "office.dyn.example.com", &h), 0, "acme: lock office again");
	is_int(db_acme_delete(db, office, big), 0, "acme: delete under the lock");
	is_int(db_commit(db), 0, "acme: commit");
	is_int(db_acme_count(db, office, &n), 0, "acme: count office again");
	is_int(n, 0, "acme: the committed delete took");
}

static void
test_crud(const struct backend *b)
{
	struct config cfg;
	char where[128];
	struct db *db = NULL;

	b->fresh(&cfg, where, sizeof(where));
	if (db_open(&cfg, &db) != 0) {
		ok(0, "open for crud");
		return;
	}
	test_users(db);
	test_hosts(db);
	test_tokens(db);
	test_addr(db);
	test_expiry(db);
	test_routers(db);
	test_lock(b, &cfg, db);
	test_acme(db);
	test_delete(db);
	is_int(b->raw_count(where, "SELECT count(*) FROM acme_challenges"), 0,
	       "deleting a host deleted its ACME values");
	db_close(db);
}

/* host_count for the ddns_hosts gauge; ping for /health: fine on a healthy database,
 * an error with a reason on a database that is not there. */
static void
test_count_and_ping(const struct backend *b)
{
	struct config cfg;
	char where[128], why[256] = "";
	struct db *db = NULL;
	struct db_user u;
	struct db_host h;
	int64_t n = -1;

	b->fresh(&cfg, where, sizeof(where));
	if (db_open(&cfg, &db) != 0) {
		ok(0, "open for count and ping");
		return;
	}
	is_int(db_host_count(db, &n), 0, "host_count on an empty table");
	is_int(n, 0, "no hosts");
	make_user(&u, "cora");
	db_user_add(db, &u);
	make_host(&h, "cora", "a", "dyn.example.com", 600);
	db_host_add(db, &h);
	make_host(&h, "cora", "b", "dyn.example.com", 600);
	db_host_add(db, &h);
	is_int(db_host_count(db, &n), 0, "host_count");
	is_int(n, 2, "two hosts counted");
	is_int(db_ping(&cfg, 1000, why, sizeof(why)), 0, "ping a healthy database");
	is_str(why, "", "no reason when healthy");
	db_close(db);
	if (cfg.database.backend == DB_BACKEND_SQLITE)
		snprintf(where, sizeof(where), "%s/missing/ddns.db", dir);
	else
		cfg.database.name = "ddns_no_such_database";
	is_int(db_ping(&cfg, 1000, why, sizeof(why)), ERR_DB, "ping a database that is not there");
	ok(why[0] != '\0', "with a reason: %s", why);
}

/* A writer holding SQLite's write lock must not hold the health check up: WAL readers
 * do not wait for it. */
static void
test_sqlite_ping_busy(void)
{
	struct config cfg;
	char path[512], why[256] = "";
	struct db *db = NULL;
	sqlite3 *w = NULL;
	int64_t t0;

	fresh_config(&cfg, path, sizeof(path));
	if (db_open(&cfg, &db) != 0 || sqlite3_open(path, &w) != SQLITE_OK ||
	    sqlite3_exec(w,
			 "BEGIN EXCLUSIVE; INSERT INTO users (name, email, pw_hash, created)"
			 " VALUES ('x', 'x@example.com', 'h', 0)",
			 NULL, NULL, NULL) != SQLITE_OK) {
		ok(0, "a writer holds the lock");
		sqlite3_close(w);
		db_close(db);
		return;
	}
	t0 = mono_ms();
	is_int(db_ping(&cfg, 1000, why, sizeof(why)), 0, "ping while a writer holds the lock");
	ok(mono_ms() - t0 < 1000, "answered within the second (%lld ms)",
	   (long long)(mono_ms() - t0));
	sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(w);
	db_close(db);
}

static int
sqlite_exec(const char *path, const char *sql)
{
	sqlite3 *h = NULL;
	int rc;

	if (sqlite3_open(path, &h) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc;
}

static int
sqlite_count(const char *path, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;

	if (sqlite3_open(path, &h) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

/* Counts the tables named `table` (0 or 1). */
static int
has_table(const struct backend *b, const char *where, const char *table)
{
	char sql[256];

	if (strcmp(b->name, "sqlite") == 0)
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'",
			 table);
	else
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM information_schema.TABLES"
			 " WHERE table_schema = DATABASE() AND table_name = '%s'",
			 table);
	return b->raw_count(where, sql);
}

static void
test_migration_failure(const struct backend *b)
{
	struct config cfg;
	char where[128];
	struct db *db = NULL;

	/* A table in the way makes step 1 fail halfway: nothing of it may remain. */
	b->fresh(&cfg, where, sizeof(where));
	is_int(b->raw_exec(where, "CREATE TABLE hostnames (x INTEGER)"), 0, "prepare a bad db");
	is_int(db_open(&cfg, &db), ERR_DB, "migration failure is reported");
	ok(db == NULL, "no handle");
	is_int(has_table(b, where, "users"), 0, "the step's first table was undone");
	is_int(b->raw_count(where, "SELECT count(*) FROM hostnames"), 0,
	       "the table in the way is untouched");
	is_int(b->raw_count(where, "SELECT count(*) FROM schema_version"), 0,
	       "no version recorded");

	b->fresh(&cfg, where, sizeof(where));
	is_int(db_open(&cfg, &db), 0, "a good db");
	db_close(db);
	is_int(b->raw_exec(where, "INSERT INTO schema_version VALUES (99, 0)"), 0,
	       "from the future");
	is_int(db_open(&cfg, &db), ERR_DB, "a newer schema is refused");
}

/* The schema steps that later features added, and how a test undoes each on a
 * current database to make an older one (newest first). */
#define IID_STEP   3 /* the interface identifier and the offline marks */
#define TOKEN_STEP 4 /* per-host update tokens */
#define ACME_STEP  5 /* ACME challenge values */

static const char *const STEP_UNDO[][3] = {
	[IID_STEP] = {"ALTER TABLE hostnames DROP COLUMN ipv6_iid",
		      "ALTER TABLE hostnames DROP COLUMN ipv4_offline",
		      "ALTER TABLE hostnames DROP COLUMN ipv6_offline"},
	[TOKEN_STEP] = {"DROP TABLE host_tokens"},
	[ACME_STEP] = {"DROP TABLE acme_challenges"},
};
_Static_assert(sizeof(STEP_UNDO) / sizeof(STEP_UNDO[0]) == DB_SCHEMA_VERSION + 1,
	       "a new schema step needs its undo here");

/* Turns the current database at `where` into one of version `v`: undoes the steps after
 * it, newest first, and forgets their versions. Returns whether all of it worked. */
static bool
back_to_version(const struct backend *b, const char *where, int v)
{
	char sql[128];
	bool good = true;

	for (int step = DB_SCHEMA_VERSION; step > v; step--)
		for (size_t i = 0; i < 3 && STEP_UNDO[step][i]; i++)
			good = b->raw_exec(where, STEP_UNDO[step][i]) == 0 && good;
	snprintf(sql, sizeof(sql), "DELETE FROM schema_version WHERE version > %d", v);
	return b->raw_exec(where, sql) == 0 && good;
}

/* A database of the version before IID_STEP, with a host and its addresses, migrates:
 * the data stays, the new columns read as "no identifier" and "not offline". The
 * older schema is made by undoing the steps on a current one. */
static void
test_migrate_iid_step(const struct backend *b)
{
	struct config cfg;
	char where[128];
	struct db *db = NULL;
	struct db_user u;
	struct db_host h;
	int v = 0;

	b->fresh(&cfg, where, sizeof(where));
	if (db_open(&cfg, &db) != 0) {
		ok(0, "open for the step test");
		return;
	}
	make_user(&u, "erin");
	make_host(&h, "erin", "old", "dyn.example.com", 3600);
	ok(db_user_add(db, &u) == 0 && db_host_add(db, &h) == 0 &&
		   db_host_set_addr(db, host_id(db, "old.dyn.example.com"), DB_V4 | DB_V6,
				    "192.0.2.5", "2001:db8::5", 1000) == 0,
	   "a host with addresses");
	db_close(db);
	ok(back_to_version(b, where, IID_STEP - 1), "back to the version before the step");
	is_int(db_open(&cfg, &db), 0, "the older database migrates");
	is_int(db_schema_version(db, &v), 0, "version");
	is_int(v, DB_SCHEMA_VERSION, "at the current version");
	is_int(db_host_get(db, "old.dyn.example.com", &h), 0, "the host is still there");
	ok(strcmp(h.v4.ip, "192.0.2.5") == 0 && strcmp(h.v6.ip, "2001:db8::5") == 0,
	   "with its addresses");
	ok(h.ipv6_iid[0] == '\0' && !h.v4.offline && !h.v6.offline, "no identifier, online");
	is_int(db_host_set_iid(db, "old.dyn.example.com", "::1"), 0, "the new column works");
	db_close(db);
}

/* A database of the version before TOKEN_STEP migrates and keeps its rows; a step that
 * fails (a table of someone else's where ours would go) leaves the schema at the older
 * version and the foreign table alone. */
static void
test_token_migration(const struct backend *b)
{
	struct config cfg;
	char where[128];
	struct db *db = NULL;
	struct db_user u;
	struct db_host h;
	struct db_token t;
	int64_t id = 0;
	int v = 0;

	b->fresh(&cfg, where, sizeof(where));
	if (db_open(&cfg, &db) != 0) {
		ok(0, "open for the token migration");
		return;
	}
	make_user(&u, "alice");
	make_host(&h, "alice", "home", "dyn.example.com", 600);
	ok(db_user_add(db, &u) == 0 && db_host_add(db, &h) == 0, "a user and a host");
	db_close(db);
	ok(back_to_version(b, where, TOKEN_STEP - 1) &&
		   b->raw_exec(where, "CREATE TABLE host_tokens (x INTEGER)") == 0 &&
		   b->raw_exec(where, "INSERT INTO host_tokens VALUES (7)") == 0,
	   "an older database with a foreign host_tokens table");
	is_int(db_open(&cfg, &db), ERR_DB, "the step fails");
	is_int(b->raw_count(where, "SELECT max(version) FROM schema_version"), TOKEN_STEP - 1,
	       "still at the version before");
	is_int(b->raw_count(where, "SELECT x FROM host_tokens"), 7, "the foreign table untouched");
	ok(b->raw_exec(where, "DROP TABLE host_tokens") == 0, "without it");
	is_int(db_open(&cfg, &db), 0, "the step runs");
	is_int(db_schema_version(db, &v), 0, "version");
	is_int(v, DB_SCHEMA_VERSION, "at the current version");
	is_int(db_host_get(db, "home.dyn.example.com", &h), 0, "the host is still there");
	make_token(&t, "home.dyn.example.com", HASH_A, "");
	is_int(db_token_add(db, &t, &id), 0, "and can have a token");
	is_int(db_host_delete(db, "home.dyn.example.com"), 0, "delete the host");
	is_int(db_token_find(db, HASH_A, &t), ERR_NOTFOUND, "its token went with it");
	db_close(db);
}

/* The plan of the due query must use both partial indexes and scan no table. */
static void
sqlite_due_plan(const char *path)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	char plan[2048] = "";
	size_t used = 0;

	ok(sqlite3_open(path, &h) == SQLITE_OK, "open raw");
	if (sqlite3_prepare_v2(h, "EXPLAIN QUERY PLAN SELECT 1 WHERE 0", -1, &st, NULL) !=
	    SQLITE_OK)
		return;
	sqlite3_finalize(st);
	{
		char sql[2048];

		snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", db_sqlite_due_sql);
		ok(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK, "explain prepares");
	}
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 3);
		int n = snprintf(plan + used, sizeof(plan) - used, "%s\n", d ? d : "");

		if (n > 0 && (size_t)n < sizeof(plan) - used)
			used += (size_t)n;
		diag("plan: %s", d ? d : "");
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	ok(strstr(plan, "USING INDEX hostnames_ipv4_due (ipv4_deadline<?)") != NULL ||
		   strstr(plan, "USING COVERING INDEX hostnames_ipv4_due (ipv4_deadline<?)") !=
			   NULL,
	   "v4 deadlines come from their partial index");
	ok(strstr(plan, "INDEX hostnames_ipv6_due (ipv6_deadline<?)") != NULL,
	   "v6 deadlines come from their partial index");
	ok(strstr(plan, "SCAN h") == NULL && strstr(plan, "SCAN hostnames") == NULL,
	   "no table scan of hostnames");
	ok(strstr(plan, "SCAN u") == NULL, "owners by primary key, not a scan");
}

/* Bulk load in one transaction: host i is due iff i % 10000 == 7. Others have a
 * deadline in the future, no address, or expiry 0. */
static const char SQLITE_SCALE_SQL[] =
	"INSERT INTO users (name, email, pw_hash, created) VALUES"
	" ('u', 'u@example.com', 'x', 0);"
	"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
	" WHERE i < 100000)"
	" INSERT INTO hostnames (user_id, hostname, zone, fqdn, dns_ttl, expiry_ttl,"
	" ipv4, ipv4_updated, ipv6, ipv6_updated, created)"
	" SELECT 1, 'h' || i, 'dyn.example.com', 'h' || i || '.dyn.example.com',"
	" 60, CASE WHEN i % 7 = 0 AND i % 10000 != 7 THEN 0 ELSE 3600 END,"
	" CASE WHEN i % 3 = 0 AND i % 10000 != 7 THEN NULL ELSE '192.0.2.1' END,"
	" CASE WHEN i % 10000 = 7 THEN 10000000 - 3600 ELSE 10000000 - 3599 END,"
	" CASE WHEN i % 2 = 0 THEN '2001:db8::1' END,"
	" CASE WHEN i % 2 = 0 THEN 10000000 - 10 END, 0 FROM n;";

/* The same rows for MariaDB, from the Sequence engine's seq_1_to_100000. */
static const char MARIADB_SCALE_USER_SQL[] =
	"INSERT INTO users (name, email, pw_hash, created) VALUES ('u', 'u@example.com', 'x', 0)";
static const char MARIADB_SCALE_SQL[] =
	"INSERT INTO hostnames (user_id, hostname, zone, fqdn, dns_ttl, expiry_ttl,"
	" ipv4, ipv4_updated, ipv6, ipv6_updated, created)"
	" SELECT 1, concat('h', seq), 'dyn.example.com', concat('h', seq, '.dyn.example.com'),"
	" 60, CASE WHEN seq % 7 = 0 AND seq % 10000 != 7 THEN 0 ELSE 3600 END,"
	" CASE WHEN seq % 3 = 0 AND seq % 10000 != 7 THEN NULL ELSE '192.0.2.1' END,"
	" CASE WHEN seq % 10000 = 7 THEN 10000000 - 3600 ELSE 10000000 - 3599 END,"
	" CASE WHEN seq % 2 = 0 THEN '2001:db8::1' END,"
	" CASE WHEN seq % 2 = 0 THEN 10000000 - 10 END, 0 FROM seq_1_to_100000";

static void maria_due_plan(const char *name);

static int
scale_load(const struct backend *b, const char *where)
{
	if (strcmp(b->name, "sqlite") == 0)
		return sqlite_exec(where, SQLITE_SCALE_SQL);
	if (b->raw_exec(where, MARIADB_SCALE_USER_SQL) != 0)
		return -1;
	return b->raw_exec(where, MARIADB_SCALE_SQL);
}

/* 100,000 hosts, most live with future deadlines, ten of them due. */
static void
test_scale(const struct backend *b)
{
	struct config cfg;
	char where[128];
	struct db *db = NULL;
	struct db_host *list = NULL;
	size_t len = 0;
	int64_t t0, t1;
	const int64_t now = 10000000;
	int ok_ids = 0, rc;

	b->fresh(&cfg, where, sizeof(where));
	if (db_open(&cfg, &db) != 0) {
		ok(0, "open for scale");
		return;
	}
	db_close(db);
	t0 = mono_ms();
	is_int(scale_load(b, where), 0, "100,000 hosts loaded");
	diag("%s: loading 100,000 hosts: %lld ms", b->name, (long long)(mono_ms() - t0));
	if (strcmp(b->name, "sqlite") == 0)
		sqlite_due_plan(where);
	else
		maria_due_plan(where);
	if (db_open(&cfg, &db) != 0) {
		ok(0, "reopen for scale");
		return;
	}
	t0 = mono_ms();
	rc = db_host_due(db, now, 1000, &list, &len);
	t1 = mono_ms();
	is_int(rc, 0, "due over 100,000 hosts");
	is_int(len, 10, "exactly the 10 due hosts");
	for (size_t i = 0; i < len; i++) {
		long n = strtol(list[i].hostname + 1, NULL, 10);

		ok_ids += n % 10000 == 7 && list[i].v4.updated == now - 3600;
	}
	is_int(ok_ids, 10, "and they are the right ones");
	diag("%s: host_due over 100,000 hosts: %lld ms", b->name, (long long)(t1 - t0));
	free(list);
	rc = db_host_due(db, now, 4, &list, &len);
	ok(rc == 0 && len == 4, "limit honoured");
	free(list);
	rc = db_host_due(db, now - 1, 1000, &list, &len);
	ok(rc == 0 && len == 0, "one second earlier nothing is due");
	free(list);
	db_close(db);
}

static const struct backend SQLITE_BACKEND = {"sqlite", fresh_config, sqlite_exec, sqlite_count};

/* SQLite's per-host critical section is a lease row: holding one host does not block
 * another host (nor any other writer), a lapsed lease (a crashed holder) can be taken
 * over, and the late holder's release cannot drop the new holder's lease. */
static void
test_sqlite_leases(void)
{
	struct config cfg;
	char path[512];
	struct db *a = NULL, *b = NULL;
	struct db_user u;
	struct db_host h, got;

	fresh_config(&cfg, path, sizeof(path));
	cfg.dns.dns_timeout = 1; /* lease = 1 s + slack; waits bounded by 5 s + 1 s */
	if (db_open(&cfg, &a) != 0 || db_open(&cfg, &b) != 0) {
		ok(0, "open two handles");
		return;
	}
	make_user(&u, "lena");
	db_user_add(a, &u);
	make_host(&h, "lena", "one", "dyn.example.com", 600);
	db_host_add(a, &h);
	make_host(&h, "lena", "two", "dyn.example.com", 600);
	db_host_add(a, &h);

	is_int(db_host_lock(a, "one.dyn.example.com", &got), 0, "a leases one");
	is_int(db_host_lock(b, "two.dyn.example.com", &got), 0, "b leases two meanwhile");
	is_int(db_host_set_addr(b, got.id, DB_V4, "192.0.2.2", NULL, 10), 0, "b writes two");
	is_int(db_commit(b), 0, "b commits while a still holds one");
	is_int(db_host_touch(b, got.id, DB_V4, 11), 0, "plain writes are not blocked either");
	is_int(sqlite_count(path, "SELECT count(*) FROM host_leases"), 1, "one lease left");

	/* a crashes: its lease lapses, b takes one over, a's late release is harmless. */
	ok(sqlite_exec(path, "UPDATE host_leases SET until_ms = 0") == 0, "a's lease lapses");
	is_int(db_host_lock(b, "one.dyn.example.com", &got), 0, "b takes the lapsed lease");
	is_int(db_commit(a), 0, "a's late commit");
	is_int(sqlite_count(path, "SELECT count(*) FROM host_leases"), 1, "b's lease survives");
	is_int(db_host_set_addr(b, got.id, DB_V4, "192.0.2.1", NULL, 12), 0, "b writes one");
	is_int(db_rollback(b), 0, "b rolls back");
	is_int(db_host_get(a, "one.dyn.example.com", &got), 0, "get one");
	is_str(got.v4.ip, "", "the rolled-back write is gone");
	is_int(sqlite_count(path, "SELECT count(*) FROM host_leases"), 0, "and so is the lease");
	db_close(a);
	db_close(b);
}

/* Whether DDNS_TEST_DB_BACKENDS (default: all) names `name`. */
static bool
wanted(const char *name)
{
	const char *v = getenv("DDNS_TEST_DB_BACKENDS");

	return v == NULL || *v == '\0' || strstr(v, name) != NULL;
}

static void
run_backend(const struct backend *b)
{
	diag("backend %s", b->name);
	test_open(b);
	test_crud(b);
	test_count_and_ping(b);
	test_migration_failure(b);
	test_migrate_iid_step(b);
	test_token_migration(b);
	test_scale(b);
}

#if HAVE_MARIADB
/* ---- MariaDB: a throwaway mariadbd (RECIPES §6) in the test directory ---- */

#define MARIA_USER "ddns"
#define MARIA_PW   "ddns-unit-pw"

static struct {
	pid_t pid;
	int port;
	char dir[128], socket[160];
	MYSQL *root; /* root over the socket (unix_socket auth: tests run as root) */
	int dbs;
} maria = {.pid = -1};

static bool
port_free(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok_ = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

	if (fd >= 0)
		close(fd);
	return ok_;
}

static const char *
server_path(void)
{
	static const char *const paths[] = {"/usr/sbin/mariadbd", "/usr/bin/mariadbd",
					    "/usr/local/sbin/mariadbd"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* Starts mariadbd on the existing datadir. The server dies with this process
 * (PR_SET_PDEATHSIG), so a crashed test leaves nothing running. */
static int
maria_spawn(void)
{
	char datadir[192], sock[192], pidf[192], port[32], logf[192], tmpd[192];
	int64_t end;

	snprintf(datadir, sizeof(datadir), "--datadir=%s/data", maria.dir);
	snprintf(sock, sizeof(sock), "--socket=%s", maria.socket);
	snprintf(pidf, sizeof(pidf), "--pid-file=%s/mysqld.pid", maria.dir);
	snprintf(port, sizeof(port), "--port=%d", maria.port);
	snprintf(logf, sizeof(logf), "--log-error=%s/error.log", maria.dir);
	snprintf(tmpd, sizeof(tmpd), "--tmpdir=%s", maria.dir);
	maria.pid = fork();
	if (maria.pid < 0)
		return -1;
	if (maria.pid == 0) {
		int null = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execl(server_path(), "mariadbd", "--no-defaults", "--user=root", datadir, sock,
		      pidf, "--bind-address=127.0.0.1", port, "--skip-name-resolve", logf,
		      "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
		      "--skip-log-bin", tmpd, "--innodb-flush-log-at-trx-commit=2",
		      "--innodb-doublewrite=0", (char *)NULL);
		_exit(127);
	}
	end = mono_ms() + 30000;
	while (mono_ms() < end) {
		MYSQL *m = mysql_init(NULL);

		if (m &&
		    mysql_real_connect(m, "localhost", "root", NULL, NULL, 0, maria.socket, 0)) {
			maria.root = m;
			return 0;
		}
		mysql_close(m);
		if (waitpid(maria.pid, NULL, WNOHANG) == maria.pid) {
			maria.pid = -1;
			return -1;
		}
		usleep(50 * 1000);
	}
	return -1;
}

static void
maria_kill(void)
{
	if (maria.root) {
		mysql_close(maria.root);
		maria.root = NULL;
	}
	if (maria.pid > 0) {
		kill(maria.pid, SIGTERM);
		waitpid(maria.pid, NULL, 0);
		maria.pid = -1;
	}
}

static int
root_query(const char *sql)
{
	if (mysql_real_query(maria.root, sql, strlen(sql)) != 0) {
		diag("mariadb: %s: %s", sql, mysql_error(maria.root));
		return -1;
	}
	return 0;
}

/* A fresh server in the test directory with the application user. */
static int
maria_start(void)
{
	char cmd[512];

	snprintf(maria.dir, sizeof(maria.dir), "%s/maria", dir);
	snprintf(maria.socket, sizeof(maria.socket), "%s/mysqld.sock", maria.dir);
	for (maria.port = 13380; maria.port < 13400 && !port_free(maria.port); maria.port++)
		;
	snprintf(cmd, sizeof(cmd),
		 "mariadb-install-db --no-defaults --datadir='%s/data' --user=root"
		 " --auth-root-authentication-method=socket --skip-test-db >'%s.install.log' 2>&1",
		 maria.dir, maria.dir);
	if (mkdir(maria.dir, 0700) != 0 || system(cmd) != 0 || maria_spawn() != 0)
		return -1;
	return root_query("CREATE USER '" MARIA_USER "'@'127.0.0.1' IDENTIFIED BY '" MARIA_PW
			  "', '" MARIA_USER "'@'localhost' IDENTIFIED BY '" MARIA_PW "'") ||
	       root_query("GRANT ALL ON `ddns\\_%`.* TO '" MARIA_USER "'@'127.0.0.1', '" MARIA_USER
			  "'@'localhost'");
}

static void
maria_config(struct config *cfg, const char *name, bool use_socket)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->database.backend = DB_BACKEND_MARIADB;
	cfg->database.user = MARIA_USER;
	cfg->database.password = MARIA_PW;
	cfg->database.name = (char *)name;
	if (use_socket) {
		cfg->database.socket = maria.socket;
	} else {
		cfg->database.host = "127.0.0.1";
		cfg->database.port = maria.port;
	}
}

/* A config naming a fresh, empty database ddns_<n>. */
static void
maria_fresh(struct config *cfg, char *name, size_t len)
{
	char sql[128];

	snprintf(name, len, "ddns_u%d", maria.dbs++);
	snprintf(sql, sizeof(sql), "CREATE DATABASE `%s` CHARACTER SET utf8mb4", name);
	(void)root_query(sql);
	maria_config(cfg, name, false);
}

static int
maria_exec(const char *name, const char *sql)
{
	if (mysql_select_db(maria.root, name) != 0)
		return -1;
	return root_query(sql);
}

/* The first column of the first row as an integer; -1 on failure. */
static long long
maria_value(const char *name, const char *sql)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	long long n = -1;

	if (maria_exec(name, sql) != 0 || (res = mysql_store_result(maria.root)) == NULL)
		return -1;
	if ((row = mysql_fetch_row(res)) != NULL && row[0] != NULL)
		n = strtoll(row[0], NULL, 10);
	mysql_free_result(res);
	return n;
}

static int
maria_count(const char *name, const char *sql)
{
	return (int)maria_value(name, sql);
}

/* EXPLAIN of the due query: each family from a range on its deadline index, the
 * rows by primary key, no full scan of hostnames or users. */
static void
maria_due_plan(const char *name)
{
	char sql[2048], plan[2048] = "";
	const char *vals[] = {"10000000", "10000000", "1000"};
	size_t used = 0, o = 0, v = 0;
	MYSQL_RES *res;
	MYSQL_ROW row;

	o = (size_t)snprintf(sql, sizeof(sql), "EXPLAIN ");
	for (const char *p = db_mariadb_due_sql; *p && o + 16 < sizeof(sql); p++)
		if (*p == '?' && v < 3)
			o += (size_t)snprintf(sql + o, sizeof(sql) - o, "%s", vals[v++]);
		else
			sql[o++] = *p;
	sql[o] = '\0';
	if (maria_exec(name, sql) != 0 || (res = mysql_store_result(maria.root)) == NULL) {
		ok(0, "explain runs");
		return;
	}
	while ((row = mysql_fetch_row(res)) != NULL) {
		/* id, select_type, table, type, possible_keys, key, key_len, ref, rows */
		int n = snprintf(plan + used, sizeof(plan) - used, "%s:%s:%s\n",
				 row[2] ? row[2] : "", row[3] ? row[3] : "", row[5] ? row[5] : "");

		if (n > 0 && (size_t)n < sizeof(plan) - used)
			used += (size_t)n;
		diag("plan: %s %s %s key=%s rows=%s", row[1] ? row[1] : "", row[2] ? row[2] : "",
		     row[3] ? row[3] : "", row[5] ? row[5] : "", row[8] ? row[8] : "");
	}
	mysql_free_result(res);
	ok(strstr(plan, "hostnames:range:hostnames_ipv4_due") != NULL,
	   "v4 deadlines: a range on their index");
	ok(strstr(plan, "hostnames:range:hostnames_ipv6_due") != NULL,
	   "v6 deadlines: a range on their index");
	ok(strstr(plan, "h:eq_ref:PRIMARY") != NULL, "hosts by primary key");
	ok(strstr(plan, "u:eq_ref:PRIMARY") != NULL, "owners by primary key");
	ok(strstr(plan, "hostnames:ALL") == NULL && strstr(plan, "hostnames:index") == NULL &&
		   strstr(plan, "h:ALL") == NULL && strstr(plan, "h:index") == NULL,
	   "no full scan of hostnames");
	ok(strstr(plan, "u:ALL") == NULL && strstr(plan, "u:index") == NULL,
	   "no full scan of users");
}

/* The server-side id of the application's connections to `name` (the newest). */
static long long
conn_id(const char *name)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "SELECT max(ID) FROM information_schema.PROCESSLIST WHERE USER = '" MARIA_USER
		 "' AND DB = '%s'",
		 name);
	return maria_value(name, sql);
}

static int
kill_conn(const char *name)
{
	char sql[64];
	long long id = conn_id(name);

	if (id <= 0)
		return -1;
	snprintf(sql, sizeof(sql), "KILL CONNECTION %lld", id);
	return root_query(sql);
}

/* A lost connection: reads are retried on a new one, writes and transactions fail
 * with ERR_DB (nothing half-written) and the next operation reconnects. */
static void
test_maria_reconnect(void)
{
	struct config cfg;
	char name[64];
	struct db *db = NULL;
	struct db_host h;
	struct db_user u;

	maria_fresh(&cfg, name, sizeof(name));
	if (db_open(&cfg, &db) != 0) {
		ok(0, "open for reconnect");
		return;
	}
	make_user(&u, "alice");
	make_host(&h, "alice", "home", "dyn.example.com", 600);
	is_int(db_user_add(db, &u), 0, "add user");
	is_int(db_host_add(db, &h), 0, "add host");

	is_int(kill_conn(name), 0, "kill the connection");
	is_int(db_host_get(db, "home.dyn.example.com", &h), 0, "a read reconnects and retries");
	is_int(kill_conn(name), 0, "kill it again");
	is_int(db_host_lock(db, "home.dyn.example.com", &h), 0, "so does taking a lock");
	is_int(db_rollback(db), 0, "rollback");

	is_int(db_host_lock(db, "home.dyn.example.com", &h), 0, "lock");
	is_int(kill_conn(name), 0, "kill the connection inside the transaction");
	is_int(db_host_set_addr(db, h.id, DB_V4, "192.0.2.9", NULL, 100), ERR_DB,
	       "a write in the lost transaction fails");
	is_int(db_host_touch(db, h.id, DB_V4, 100), ERR_DB,
	       "and does not reconnect behind the transaction's back");
	is_int(db_commit(db), ERR_DB, "commit reports the loss");
	is_int(db_host_get(db, "home.dyn.example.com", &h), 0, "the next operation reconnects");
	is_str(h.v4.ip, "", "nothing was written");

	is_int(kill_conn(name), 0, "kill between operations");
	is_int(db_host_touch(db, h.id, DB_V4, 100), ERR_DB, "a write is not retried");
	is_int(db_host_set_addr(db, h.id, DB_V4, "192.0.2.10", NULL, 100), 0,
	       "the next write reconnects");

	/* The server restarts. */
	mysql_close(maria.root);
	maria.root = NULL;
	kill(maria.pid, SIGTERM);
	waitpid(maria.pid, NULL, 0);
	maria.pid = -1;
	is_int(db_host_get(db, "home.dyn.example.com", &h), ERR_DB, "server down: ERR_DB");
	is_int(db_host_lock(db, "home.dyn.example.com", &h), ERR_DB, "lock: ERR_DB");
	is_int(maria_spawn(), 0, "server back");
	is_int(db_host_lock(db, "home.dyn.example.com", &h), 0, "lock works again");
	is_str(h.v4.ip, "192.0.2.10", "with the data");
	is_int(db_commit(db), 0, "commit");
	db_close(db);
}

/* A process that died in the middle of a migration step left one table and a
 * progress row: the next start undoes that table and runs the step again. */
static void
test_maria_interrupted_migration(void)
{
	struct config cfg;
	char name[64];
	struct db *db = NULL;
	int v = -1;

	maria_fresh(&cfg, name, sizeof(name));
	ok(maria_exec(name, "CREATE TABLE schema_version (version INT NOT NULL PRIMARY KEY,"
			    " applied BIGINT NOT NULL)") == 0 &&
		   maria_exec(name, "CREATE TABLE schema_progress (version INT NOT NULL,"
				    " stmt INT NOT NULL, PRIMARY KEY (version, stmt))") == 0 &&
		   maria_exec(name, "CREATE TABLE users (leftover INT)") == 0 &&
		   maria_exec(name, "INSERT INTO schema_progress VALUES (1, 0)") == 0,
	   "simulate a step interrupted after its first statement");
	is_int(db_open(&cfg, &db), 0, "the next open completes the migration");
	is_int(db_schema_version(db, &v), 0, "version");
	is_int(v, DB_SCHEMA_VERSION, "at the current version");
	is_int(maria_count(name, "SELECT count(*) FROM information_schema.COLUMNS WHERE"
				 " table_schema = DATABASE() AND table_name = 'users'"
				 " AND column_name = 'leftover'"),
	       0, "the leftover table was replaced");
	is_int(maria_count(name, "SELECT count(*) FROM schema_progress"), 0, "progress cleared");
	db_close(db);

	/* The socket path works as well as TCP. */
	maria_config(&cfg, name, true);
	is_int(db_open(&cfg, &db), 0, "open over the unix socket");
	db_close(db);
	cfg.database.password = "wrong";
	is_int(db_open(&cfg, &db), ERR_DB, "a wrong password fails the open");

	/* Interrupted between its intent row and its statement: nothing to undo but the
	 * row; the undo (IF EXISTS) is harmless and the step runs. */
	maria_fresh(&cfg, name, sizeof(name));
	ok(maria_exec(name, "CREATE TABLE schema_progress (version INT NOT NULL,"
			    " stmt INT NOT NULL, PRIMARY KEY (version, stmt))") == 0 &&
		   maria_exec(name, "INSERT INTO schema_progress VALUES (1, 0)") == 0,
	   "simulate a step interrupted before its first statement ran");
	is_int(db_open(&cfg, &db), 0, "the next open completes the migration");
	db_close(db);

	/* A table of someone else's where ours would go: refused every time, and the
	 * foreign table is left alone (never dropped by an undo). */
	maria_fresh(&cfg, name, sizeof(name));
	ok(maria_exec(name, "CREATE TABLE users (theirs INT)") == 0, "a foreign users table");
	is_int(db_open(&cfg, &db), ERR_DB, "the migration fails");
	is_int(db_open(&cfg, &db), ERR_DB, "and fails again on the next start");
	is_int(maria_count(name, "SELECT count(*) FROM information_schema.COLUMNS WHERE"
				 " table_schema = DATABASE() AND table_name = 'users'"
				 " AND column_name = 'theirs'"),
	       1, "the foreign table is untouched");
	is_int(maria_count(name, "SELECT count(*) FROM schema_progress"), 0, "no progress left");
}

static const struct backend MARIADB_BACKEND = {"mariadb", maria_fresh, maria_exec, maria_count};

static void
run_mariadb(void)
{
	if (server_path() == NULL) {
		printf("ok %d - # SKIP mariadbd is not installed\n", ++tap_n);
		return;
	}
	if (maria_start() != 0) {
		ok(0, "start a throwaway mariadbd in %s", maria.dir);
		maria_kill();
		return;
	}
	run_backend(&MARIADB_BACKEND);
	test_maria_interrupted_migration();
	test_maria_reconnect();
	maria_kill();
}
#else
static void
maria_due_plan(const char *name)
{
	(void)name;
}

static void
run_mariadb(void)
{
	printf("ok %d - # SKIP built without libmariadb\n", ++tap_n);
}
#endif

/* db_host_due_families, the C twin of the backends' deadline columns: at exactly
 * updated + expiry_ttl a family is due, a second before it is not, each family on its
 * own clock; expired, never-published and never-expiring (expiry_ttl 0) are never due. */
static void
test_due_families(void)
{
	struct db_host h;

	make_host(&h, "alice", "home", "dyn.example.com", 600);
	snprintf(h.v4.ip, sizeof(h.v4.ip), "192.0.2.1");
	h.v4.updated = 1000;
	snprintf(h.v6.ip, sizeof(h.v6.ip), "2001:db8::1");
	h.v6.updated = 1100;
	is_int(db_host_due_families(&h, 1599), 0, "due: nothing a second before v4's deadline");
	is_int(db_host_due_families(&h, 1600), DB_V4, "due: v4 at its deadline");
	is_int(db_host_due_families(&h, 1699), DB_V4, "due: v6 not a second before its own");
	is_int(db_host_due_families(&h, 1700), DB_V4 | DB_V6, "due: both at v6's deadline");
	h.v4.expired = true;
	is_int(db_host_due_families(&h, 99999), DB_V6, "due: an expired family never");
	h.v6.ip[0] = '\0';
	is_int(db_host_due_families(&h, 99999), 0, "due: a deleted family never");
	h.v4.expired = false;
	h.expiry_ttl = 0;
	is_int(db_host_due_families(&h, INT64_MAX / 2), 0, "due: expiry_ttl 0 never");
}

/* File modes: a new database is 0640 whatever the umask allows beyond it, -wal and
 * -shm files of ours with another mode get the database file's on the next open, and
 * a connection starts usable. (Permission failures themselves need a user other than
 * root: tests/integration/test_hardening_storage.py.) */
static void
test_sqlite_files(void)
{
	struct config cfg;
	char path[128], side[160];
	struct db *db = NULL;
	struct stat st;
	mode_t old = umask(022);

	fresh_config(&cfg, path, sizeof(path));
	is_int(db_open(&cfg, &db), 0, "open a new database");
	umask(old);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "created with mode 0640 (%o)",
	   (unsigned)(st.st_mode & 0777));
	ok(db_is_usable(db), "a new connection is usable");
	ok(!db_is_usable(NULL), "NULL is not");
	is_int(db_check_writable(&cfg), 0, "the file, its side files and directory are writable");
	db_close(db);
	snprintf(side, sizeof(side), "%s-wal", path);
	close(open(side, O_WRONLY | O_CREAT | O_TRUNC, 0444));
	chmod(side, 0444);
	is_int(db_open(&cfg, &db), 0, "open with a -wal file of mode 0444");
	ok(stat(side, &st) != 0 || (st.st_mode & 0777) == 0640,
	   "the -wal file has the database file's mode again");
	db_close(db);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ddns-test-db.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_due_families();
	if (wanted("sqlite")) {
		run_backend(&SQLITE_BACKEND);
		test_sqlite_leases();
		test_sqlite_ping_busy();
		test_sqlite_files();
	}
	if (wanted("mariadb"))
		run_mariadb();
	if (getenv("DDNS_TEST_KEEP") == NULL) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("could not remove %s", dir);
	}
	return tap_done();
}
