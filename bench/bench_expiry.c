/* SPDX-License-Identifier: MIT */
/* Shows that finding the hosts due to expire costs in proportion to the result, not to
 * the table: the due query on 1,000 / 10,000 / 100,000 hosts with 10 due each. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "err.h"

#define DUE  10
#define RUNS 200

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Bulk-loads n hosts through SQLite directly (one transaction); DUE of them stale. */
static int
fill(const char *path, int n, int64_t now)
{
	sqlite3 *s = NULL;
	sqlite3_stmt *st = NULL;
	int rc = 1;

	if (sqlite3_open(path, &s) != SQLITE_OK)
		goto out;
	if (sqlite3_exec(s,
			 "BEGIN; INSERT INTO users(name, email, pw_hash, created)"
			 " VALUES ('bench', 'bench@example.com', 'x', 0);",
			 NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(s,
			       "INSERT INTO hostnames(user_id, hostname, zone, fqdn, dns_ttl,"
			       " expiry_ttl, ipv4, ipv4_updated, created)"
			       " VALUES (1, ?1, 'dyn.example.com', ?1 || '.dyn.example.com', 60,"
			       " 3600, '192.0.2.1', ?2, 0)",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	for (int i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "h%d", i);
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		/* Spread the stale hosts over the table. */
		sqlite3_bind_int64(st, 2, i % (n / DUE) == 0 ? now - 7200 : now - 60);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_reset(st);
	}
	rc = sqlite3_exec(s, "COMMIT; ANALYZE;", NULL, NULL, NULL) != SQLITE_OK;
out:
	sqlite3_finalize(st);
	sqlite3_close(s);
	return rc;
}

static double
bench_one(const char *dir, int n)
{
	char path[512], text[1024];
	struct config *cfg = NULL;
	struct config_error cerr;
	struct db *db = NULL;
	double t[RUNS], med = -1;
	int64_t now = time(NULL);

	snprintf(path, sizeof(path), "%s/bench-%d.db", dir, n);
	unlink(path);
	snprintf(text, sizeof(text), "[database]\npath = \"%s\"\n", path);
	if (config_parse(text, strlen(text), "bench.toml", &cfg, &cerr) != 0) {
		fprintf(stderr, "%s\n", cerr.msg);
		return -1;
	}
	if (db_open(cfg, &db) != 0 || fill(path, n, now) != 0) {
		fprintf(stderr, "cannot set up %s\n", path);
		goto out;
	}
	for (int r = 0; r < RUNS; r++) {
		struct db_host *hosts = NULL;
		size_t len = 0;
		double t0 = now_us();

		if (db_host_due(db, now, 500, &hosts, &len) != 0 || len != DUE) {
			fprintf(stderr, "due query returned %zu hosts, want %d\n", len, DUE);
			free(hosts);
			goto out;
		}
		t[r] = now_us() - t0;
		free(hosts);
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	med = t[RUNS / 2];
out:
	db_close(db);
	config_free(cfg);
	unlink(path);
	return med;
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	int sizes[] = {1000, 10000, 100000};
	double base = 0;

	printf("expiry due query, %d due hosts, median of %d runs\n", DUE, RUNS);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		double us = bench_one(dir, sizes[i]);

		if (us < 0)
			return 1;
		if (i == 0)
			base = us;
		printf("  %7d hosts: %8.1f us  (ratio to 1,000 hosts: %.2f; table ratio %dx)\n",
		       sizes[i], us, us / base, sizes[i] / sizes[0]);
	}
	return 0;
}
