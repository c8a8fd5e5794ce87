/* SPDX-License-Identifier: MIT */
/* Tests of db.c + db_sqlite.c against real SQLite files: every operation, the error
 * codes of the contract, expiry claims, migrations and the due-query plan at scale. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "err.h"
#include "tap.h"

static char dir[64];
static int file_no;

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
test_open(void)
{
	struct config cfg;
	char path[128];
	struct db *db = NULL;
	int v = -1;

	fresh_config(&cfg, path, sizeof(path));
	is_int(db_open(&cfg, &db), 0, "open creates a fresh database");
	is_int(db_schema_version(db, &v), 0, "schema_version");
	is_int(v, DB_SCHEMA_VERSION, "fresh database is at the current version");
	db_close(db);
	is_int(db_open(&cfg, &db), 0, "reopen");
	is_int(db_schema_version(db, &v), 0, "schema_version again");
	is_int(v, DB_SCHEMA_VERSION, "reopen keeps the version (no second migration)");
	db_close(db);
	db_close(NULL);

	cfg.database.backend = DB_BACKEND_MARIADB;
	is_int(db_open(&cfg, &db), ERR_INVAL, "mariadb backend refused in this build");
	ok(db == NULL, "no handle on failure");
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

	is_int(db_host_get(db, "home.dyn.example.com", &got), 0, "get home");
	is_str(got.owner, "alice", "owner");
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
}

static void
test_delete(struct db *db)
{
	struct db_host *list = NULL;
	size_t len = 0;

	is_int(db_host_delete(db, "home.dyn.example.com"), 0, "delete home");
	is_int(db_host_delete(db, "home.dyn.example.com"), ERR_NOTFOUND, "delete again");
	is_int(db_user_delete(db, "alice"), ERR_BUSY, "alice still owns one");
	is_int(db_host_delete(db, "xn--bcher-kva.dyn.example.com"), 0, "delete the other");
	is_int(db_user_delete(db, "alice"), 0, "delete alice now");
	is_int(db_host_list(db, NULL, &list, &len), 0, "list");
	is_int(len, 1, "bob's host remains");
	free(list);
}

static void
test_crud(void)
{
	struct config cfg;
	char path[128];
	struct db *db = NULL;

	fresh_config(&cfg, path, sizeof(path));
	if (db_open(&cfg, &db) != 0) {
		ok(0, "open for crud");
		return;
	}
	test_users(db);
	test_hosts(db);
	test_addr(db);
	test_expiry(db);
	test_delete(db);
	db_close(db);
}

static int
raw_exec(const char *path, const char *sql)
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
raw_count(const char *path, const char *sql)
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

static void
test_migration_failure(void)
{
	struct config cfg;
	char path[128];
	struct db *db = NULL;

	/* A table in the way makes step 1 fail halfway: nothing of it may remain. */
	fresh_config(&cfg, path, sizeof(path));
	is_int(raw_exec(path, "CREATE TABLE hostnames (x INTEGER)"), 0, "prepare a bad db");
	is_int(db_open(&cfg, &db), ERR_DB, "migration failure is reported");
	ok(db == NULL, "no handle");
	is_int(raw_count(path, "SELECT count(*) FROM sqlite_master WHERE name = 'users'"), 0,
	       "the step's first table was rolled back");
	is_int(raw_count(path, "SELECT count(*) FROM schema_version"), 0, "no version recorded");

	fresh_config(&cfg, path, sizeof(path));
	is_int(db_open(&cfg, &db), 0, "a good db");
	db_close(db);
	is_int(raw_exec(path, "INSERT INTO schema_version VALUES (99, 0)"), 0, "from the future");
	is_int(db_open(&cfg, &db), ERR_DB, "a newer schema is refused");
}

/* The plan of the due query must use both partial indexes and scan no table. */
static void
test_due_plan(const char *path)
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

/* 100,000 hosts, most live with future deadlines, ten of them due. */
static void
test_scale(void)
{
	struct config cfg;
	char path[128];
	struct db *db = NULL;
	struct db_host *list = NULL;
	size_t len = 0;
	struct timespec t0, t1;
	const int64_t now = 10000000;
	int ok_ids = 0, rc;

	fresh_config(&cfg, path, sizeof(path));
	if (db_open(&cfg, &db) != 0) {
		ok(0, "open for scale");
		return;
	}
	db_close(db);
	/* Bulk load in one transaction: host i is due iff i % 10000 == 7. Others have a
	 * deadline in the future, no address, or expiry 0. */
	rc = raw_exec(path,
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
		      " CASE WHEN i % 2 = 0 THEN 10000000 - 10 END, 0 FROM n;");
	is_int(rc, SQLITE_OK, "100,000 hosts loaded");
	test_due_plan(path);
	if (db_open(&cfg, &db) != 0) {
		ok(0, "reopen for scale");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = db_host_due(db, now, 1000, &list, &len);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	is_int(rc, 0, "due over 100,000 hosts");
	is_int(len, 10, "exactly the 10 due hosts");
	for (size_t i = 0; i < len; i++) {
		long n = strtol(list[i].hostname + 1, NULL, 10);

		ok_ids += n % 10000 == 7 && list[i].v4.updated == now - 3600;
	}
	is_int(ok_ids, 10, "and they are the right ones");
	diag("host_due over 100,000 hosts: %.3f ms",
	     (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	free(list);
	rc = db_host_due(db, now, 4, &list, &len);
	ok(rc == 0 && len == 4, "limit honoured");
	free(list);
	rc = db_host_due(db, now - 1, 1000, &list, &len);
	ok(rc == 0 && len == 0, "one second earlier nothing is due");
	free(list);
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
	test_open();
	test_crud();
	test_migration_failure();
	test_scale();
	if (getenv("DDNS_TEST_KEEP") == NULL) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("could not remove %s", dir);
	}
	return tap_done();
}
