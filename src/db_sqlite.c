/* SPDX-License-Identifier: MIT */
/* The SQLite backend of db.h: schema migrations, cached prepared statements, and the
 * conditional updates that keep concurrent writers (daemon, CLI, cleanup) honest. */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "clock.h"
#include "err.h"
#include "log.h"

/* How long a writer waits for the write lock (writes hold it for milliseconds), and
 * host_lock for another holder's lease (one DNS exchange, at most dns_timeout): that
 * plus slack; past it the request fails with ERR_DB (a retryable 911) rather than
 * hanging. */
/* A lease outlives its holder's DNS exchange (dns_timeout) by this much; a process that
 * died holding one delays that host's next update by at most the lease. */
#define SQLITE_LEASE_SLACK_MS  5000
#define SQLITE_LEASE_POLL_MS   2
#define SQLITE_BUSY_TIMEOUT_MS 5000
/* The mode of a database file we create: it holds password hashes and e-mail
 * addresses, so not for everyone (SQLite's own default is 0644). SQLite gives the -wal
 * and -shm files the mode of the database file. */
#define SQLITE_FILE_MODE 0640

/*
 * Schema migrations: MIGRATIONS[i] takes the schema from version i to i + 1. Append
 * only; never edit a step that has shipped (databases in the field ran it).
 *
 * The per-family deadlines are generated columns, so no writer can forget them: a
 * family has a deadline only while it is published (address set, not expired) and the
 * host expires at all. The partial indexes hold exactly the live, expiring families,
 * so the expiry pass is a range scan over what is due.
 */
static const char *const MIGRATIONS[] = {
	/* 0 -> 1 */
	"CREATE TABLE users ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" email TEXT NOT NULL,"
	" pw_hash TEXT NOT NULL,"
	" created INTEGER NOT NULL);"
	"CREATE TABLE hostnames ("
	" id INTEGER PRIMARY KEY,"
	" user_id INTEGER NOT NULL REFERENCES users(id),"
	" hostname TEXT NOT NULL,"
	" zone TEXT NOT NULL,"
	" fqdn TEXT NOT NULL UNIQUE,"
	" dns_ttl INTEGER NOT NULL,"
	" expiry_ttl INTEGER NOT NULL,"
	" ipv4 TEXT,"
	" ipv4_updated INTEGER,"
	" ipv4_expired INTEGER NOT NULL DEFAULT 0,"
	" ipv6 TEXT,"
	" ipv6_updated INTEGER,"
	" ipv6_expired INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL,"
	" ipv4_deadline INTEGER GENERATED ALWAYS AS (CASE WHEN expiry_ttl > 0"
	"  AND ipv4 IS NOT NULL AND ipv4_expired = 0 AND ipv4_updated IS NOT NULL"
	"  THEN ipv4_updated + expiry_ttl END) VIRTUAL,"
	" ipv6_deadline INTEGER GENERATED ALWAYS AS (CASE WHEN expiry_ttl > 0"
	"  AND ipv6 IS NOT NULL AND ipv6_expired = 0 AND ipv6_updated IS NOT NULL"
	"  THEN ipv6_updated + expiry_ttl END) VIRTUAL);"
	"CREATE INDEX hostnames_user ON hostnames(user_id);"
	"CREATE INDEX hostnames_ipv4_due ON hostnames(ipv4_deadline)"
	" WHERE ipv4_deadline IS NOT NULL;"
	"CREATE INDEX hostnames_ipv6_due ON hostnames(ipv6_deadline)"
	" WHERE ipv6_deadline IS NOT NULL;",
	/* 1 -> 2: per-host leases (see sqlite_host_lock). */
	"CREATE TABLE host_leases ("
	" host_id INTEGER PRIMARY KEY,"
	" until_ms INTEGER NOT NULL,"
	" token INTEGER NOT NULL);",
	/* 2 -> 3: the IPv6 interface identifier that completes a router's prefix, and
	 * which deleted families offline=YES deleted. An offline family is also marked
	 * expired, so the deadline columns and their indexes need no change. */
	"ALTER TABLE hostnames ADD COLUMN ipv6_iid TEXT;"
	"ALTER TABLE hostnames ADD COLUMN ipv4_offline INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE hostnames ADD COLUMN ipv6_offline INTEGER NOT NULL DEFAULT 0;",
	/* 3 -> 4: per-host update tokens, by the SHA-256 of the secret (a unique index:
	 * the look-up of every token request), deleted with their host. */
	"CREATE TABLE host_tokens ("
	" id INTEGER PRIMARY KEY,"
	" host_id INTEGER NOT NULL REFERENCES hostnames(id) ON DELETE CASCADE,"
	" token_hash TEXT NOT NULL UNIQUE,"
	" note TEXT NOT NULL DEFAULT '',"
	" created INTEGER NOT NULL);"
	"CREATE INDEX host_tokens_host ON host_tokens(host_id);",
	/* 4 -> 5: ACME challenge values (db.h struct db_acme); they go with their host.
	 * The index on created serves the expiry pass's range scan. */
	"CREATE TABLE acme_challenges ("
	" host_id INTEGER NOT NULL REFERENCES hostnames(id) ON DELETE CASCADE,"
	" value TEXT NOT NULL,"
	" created INTEGER NOT NULL,"
	" PRIMARY KEY (host_id, value));"
	"CREATE INDEX acme_challenges_created ON acme_challenges(created);",
};

_Static_assert(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0]) == DB_SCHEMA_VERSION,
	       "one migration step per schema version");

#define HOST_SELECT                                                                                \
	"SELECT h.id, h.user_id, u.name, h.hostname, h.zone, h.fqdn, h.dns_ttl,"                   \
	" h.expiry_ttl, h.ipv4, h.ipv4_updated, h.ipv4_expired, h.ipv6, h.ipv6_updated,"           \
	" h.ipv6_expired, h.created, u.email, h.ipv6_iid, h.ipv4_offline, h.ipv6_offline"          \
	" FROM hostnames h JOIN users u ON u.id = h.user_id "

/* Each family's due hosts come from its own partial index; the union of ids then
 * drives rowid lookups, so the cost follows the number of due hosts. */
#define TOKEN_SELECT                                                                               \
	"SELECT t.id, t.host_id, h.fqdn, u.name, u.email, t.note, t.created FROM host_tokens t"    \
	" JOIN hostnames h ON h.id = t.host_id JOIN users u ON u.id = h.user_id "

const char db_sqlite_due_sql[] =
	HOST_SELECT "WHERE h.id IN (SELECT id FROM hostnames WHERE ipv4_deadline <= ?1"
		    " UNION SELECT id FROM hostnames WHERE ipv6_deadline <= ?1)"
		    " ORDER BY h.id LIMIT ?2";

enum stmt_id {
	ST_VERSION,
	ST_VERSION_ADD,
	ST_USER_ADD,
	ST_USER_GET,
	ST_USER_LIST,
	ST_USER_DELETE,
	ST_USER_SET_PW,
	ST_USER_SET_EMAIL,
	ST_HOST_ADD,
	ST_HOST_GET,
	ST_HOST_LIST,
	ST_HOST_LIST_USER,
	ST_HOST_SET_TTLS,
	ST_HOST_DELETE,
	ST_HOST_SET_ADDR,
	ST_HOST_TOUCH,
	ST_HOST_DUE,
	ST_HOST_EXPIRE_V4,
	ST_HOST_EXPIRE_V6,
	ST_HOST_TOUCH_LIVE_V4,
	ST_HOST_TOUCH_LIVE_V6,
	ST_HOST_SET_IID,
	ST_HOST_SET_OFFLINE,
	ST_HOST_SOLE,
	ST_TOKEN_ADD,
	ST_TOKEN_FIND,
	ST_TOKEN_LIST,
	ST_TOKEN_LIST_USER,
	ST_TOKEN_DELETE,
	ST_LEASE_GET,
	ST_LEASE_PUT,
	ST_LEASE_DEL,
	ST_ACME_ADD,
	ST_ACME_GET,
	ST_ACME_DELETE,
	ST_ACME_COUNT,
	ST_ACME_DUE,
	ST_BEGIN_IMMEDIATE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_HOST_COUNT,
	ST_COUNT
};

static const char *const STMT_SQL[ST_COUNT] = {
	[ST_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_version",
	[ST_VERSION_ADD] = "INSERT INTO schema_version (version, applied) VALUES (?1, ?2)",
	[ST_USER_ADD] = "INSERT INTO users (name, email, pw_hash, created) VALUES (?1, ?2, ?3, ?4)",
	[ST_USER_GET] = "SELECT id, name, email, pw_hash, created FROM users WHERE name = ?1",
	[ST_USER_LIST] = "SELECT id, name, email, pw_hash, created FROM users ORDER BY name",
	[ST_USER_DELETE] = "DELETE FROM users WHERE name = ?1",
	[ST_USER_SET_PW] = "UPDATE users SET pw_hash = ?2 WHERE name = ?1",
	[ST_USER_SET_EMAIL] = "UPDATE users SET email = ?2 WHERE name = ?1",
	[ST_HOST_ADD] = "INSERT INTO hostnames (user_id, hostname, zone, fqdn, dns_ttl,"
			" expiry_ttl, created, ipv6_iid)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, nullif(?8, ''))",
	[ST_HOST_GET] = HOST_SELECT "WHERE h.fqdn = ?1",
	[ST_HOST_LIST] = HOST_SELECT "ORDER BY h.fqdn",
	[ST_HOST_LIST_USER] = HOST_SELECT "WHERE u.name = ?1 ORDER BY h.fqdn",
	[ST_HOST_SET_TTLS] = "UPDATE hostnames SET dns_ttl = ?2, expiry_ttl = ?3 WHERE fqdn = ?1",
	[ST_HOST_DELETE] = "DELETE FROM hostnames WHERE fqdn = ?1",
	/* ?2 is the family mask: 1 = IPv4, 2 = IPv6 (DB_V4, DB_V6). "" records a deletion. */
	[ST_HOST_SET_ADDR] = "UPDATE hostnames SET"
			     " ipv4 = CASE WHEN ?2 & 1 THEN nullif(?3, '') ELSE ipv4 END,"
			     " ipv4_updated = CASE WHEN ?2 & 1 THEN ?5 ELSE ipv4_updated END,"
			     " ipv4_expired = CASE WHEN ?2 & 1 THEN 0 ELSE ipv4_expired END,"
			     " ipv4_offline = CASE WHEN ?2 & 1 THEN 0 ELSE ipv4_offline END,"
			     " ipv6 = CASE WHEN ?2 & 2 THEN nullif(?4, '') ELSE ipv6 END,"
			     " ipv6_updated = CASE WHEN ?2 & 2 THEN ?5 ELSE ipv6_updated END,"
			     " ipv6_expired = CASE WHEN ?2 & 2 THEN 0 ELSE ipv6_expired END,"
			     " ipv6_offline = CASE WHEN ?2 & 2 THEN 0 ELSE ipv6_offline END"
			     " WHERE id = ?1",
	[ST_HOST_TOUCH] = "UPDATE hostnames SET"
			  " ipv4_updated = CASE WHEN ?2 & 1 THEN ?3 ELSE ipv4_updated END,"
			  " ipv6_updated = CASE WHEN ?2 & 2 THEN ?3 ELSE ipv6_updated END"
			  " WHERE id = ?1",
	[ST_HOST_DUE] = db_sqlite_due_sql,
	/* The claim: only a family that is still due (not refreshed meanwhile, not
	 * already expired by someone else) is marked, so each expiry happens once. */
	[ST_HOST_EXPIRE_V4] = "UPDATE hostnames SET ipv4_expired = 1"
			      " WHERE id = ?1 AND ipv4_deadline <= ?2",
	[ST_HOST_EXPIRE_V6] = "UPDATE hostnames SET ipv6_expired = 1"
			      " WHERE id = ?1 AND ipv6_deadline <= ?2",
	/* nochg outside the lock: only while the row still says what the decision saw
	 * (same address, live, not due; a NULL deadline = never expires). */
	[ST_HOST_TOUCH_LIVE_V4] = "UPDATE hostnames SET ipv4_updated = ?2"
				  " WHERE id = ?1 AND ipv4 = ?3 AND ipv4_expired = 0"
				  " AND (ipv4_deadline IS NULL OR ipv4_deadline > ?2)",
	[ST_HOST_TOUCH_LIVE_V6] = "UPDATE hostnames SET ipv6_updated = ?2"
				  " WHERE id = ?1 AND ipv6 = ?3 AND ipv6_expired = 0"
				  " AND (ipv6_deadline IS NULL OR ipv6_deadline > ?2)",
	[ST_HOST_SET_IID] = "UPDATE hostnames SET ipv6_iid = nullif(?2, '') WHERE fqdn = ?1",
	/* ?2 is the family mask. Deleted (expired) and offline together: the deadline
	 * ends, so expiry neither deletes nor mails them. */
	[ST_HOST_SET_OFFLINE] = "UPDATE hostnames SET"
				" ipv4_expired = CASE WHEN ?2 & 1 THEN 1 ELSE ipv4_expired END,"
				" ipv4_offline = CASE WHEN ?2 & 1 THEN 1 ELSE ipv4_offline END,"
				" ipv6_expired = CASE WHEN ?2 & 2 THEN 1 ELSE ipv6_expired END,"
				" ipv6_offline = CASE WHEN ?2 & 2 THEN 1 ELSE ipv6_offline END"
				" WHERE id = ?1",
	/* Two rows are enough to tell "one" from "several". */
	[ST_HOST_SOLE] = HOST_SELECT "WHERE u.name = ?1 ORDER BY h.fqdn LIMIT 2",
	[ST_TOKEN_ADD] = "INSERT INTO host_tokens (host_id, token_hash, note, created)"
			 " VALUES (?1, ?2, ?3, ?4)",
	[ST_TOKEN_FIND] = TOKEN_SELECT "WHERE t.token_hash = ?1",
	[ST_TOKEN_LIST] = TOKEN_SELECT "ORDER BY h.fqdn, t.id",
	[ST_TOKEN_LIST_USER] = TOKEN_SELECT "WHERE u.name = ?1 ORDER BY h.fqdn, t.id",
	[ST_TOKEN_DELETE] = "DELETE FROM host_tokens WHERE id = ?1",
	/* The per-host critical section is a lease (see sqlite_host_lock). */
	[ST_LEASE_GET] = "SELECT until_ms FROM host_leases WHERE host_id = ?1",
	[ST_LEASE_PUT] = "INSERT OR REPLACE INTO host_leases(host_id, until_ms, token)"
			 " VALUES (?1, ?2, ?3)",
	[ST_LEASE_DEL] = "DELETE FROM host_leases WHERE host_id = ?1 AND token = ?2",
	/* A present again restarts the value's max_age. */
	[ST_ACME_ADD] = "INSERT INTO acme_challenges (host_id, value, created) VALUES (?1, ?2, ?3)"
			" ON CONFLICT (host_id, value) DO UPDATE SET created = excluded.created",
	[ST_ACME_GET] = "SELECT created FROM acme_challenges WHERE host_id = ?1 AND value = ?2",
	[ST_ACME_DELETE] = "DELETE FROM acme_challenges WHERE host_id = ?1 AND value = ?2",
	[ST_ACME_COUNT] = "SELECT count(*) FROM acme_challenges WHERE host_id = ?1",
	[ST_ACME_DUE] = "SELECT a.host_id, h.fqdn, h.zone, a.value, a.created"
			" FROM acme_challenges a JOIN hostnames h ON h.id = a.host_id"
			" WHERE a.created <= ?1 ORDER BY a.created, a.host_id, a.value LIMIT ?2",
	[ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_HOST_COUNT] = "SELECT count(*) FROM hostnames",
};

struct db_sqlite {
	struct db base; /* first: db.c sees a struct db */
	sqlite3 *h;
	const struct config *cfg;
	int64_t busy_timeout_ms;    /* how long busy_wait keeps trying */
	int64_t busy_since_ms;	    /* CLOCK_MONOTONIC when the current wait began */
	sqlite3_stmt *st[ST_COUNT]; /* prepared on first use, finalized by close */
	bool leased;		    /* host_lock holds the lease of lease_host */
	bool stale; /* failed for a reason only a new connection gets over (usable) */
	int64_t lease_host;
	int64_t lease_token;
};

static int tx_stmt(struct db_sqlite *s, enum stmt_id id, const char *what);
static int lease_tx(struct db_sqlite *s);

static struct db_sqlite *
to_sqlite(struct db *db)
{
	return (struct db_sqlite *)db;
}

/* "nobody (uid 65534)": the user a permission problem is about. */
static void
user_desc(char *out, size_t len)
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	uid_t uid = geteuid();

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(out, len, "%s (uid %u)", res->pw_name, (unsigned)uid);
	else
		snprintf(out, len, "uid %u", (unsigned)uid);
}

/* Whether a failure comes from the files' permissions (or a read-only file system): a
 * connection that opened the database, or its -wal/-shm, read-only stays so until it
 * is reopened, whatever the operator fixes meanwhile. */
static bool
is_permission_error(struct db_sqlite *s, int rc)
{
	int e = sqlite3_system_errno(s->h);

	switch (rc & 0xff) {
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM: return true;
	case SQLITE_IOERR: return e == EACCES || e == EPERM || e == EROFS;
	default: return false;
	}
}

/* Maps a failed sqlite3 call to an ERR_* code, logging what is not the caller's
 * business (a duplicate is an answer, a full disk is a log line). A permission
 * failure marks the connection stale (db.h usable). */
static int
fail(struct db_sqlite *s, int rc, const char *what)
{
	char who[128];

	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY: return ERR_EXISTS;
	case SQLITE_NOMEM: return ERR_NOMEM;
	default: break;
	}
	if (!is_permission_error(s, rc)) {
		log_error("sqlite: %s: %s", what, sqlite3_errmsg(s->h));
		return ERR_DB;
	}
	user_desc(who, sizeof(who));
	log_error("database %s: %s: cannot write as user %s: %s; a new connection is tried "
		  "for the next request",
		  s->cfg->database.path, what, who, sqlite3_errmsg(s->h));
	s->stale = true;
	return ERR_DB;
}

/* The cached statement `id`, reset and ready for binding; NULL on failure (logged). */
static sqlite3_stmt *
stmt(struct db_sqlite *s, enum stmt_id id)
{
	int rc;

	if (s->st[id] == NULL) {
		rc = sqlite3_prepare_v3(s->h, STMT_SQL[id], -1, SQLITE_PREPARE_PERSISTENT,
					&s->st[id], NULL);
		if (rc != SQLITE_OK) {
			(void)fail(s, rc, "prepare");
			return NULL;
		}
	}
	return s->st[id];
}

/* Releases a statement for its next use (bindings may point at caller memory). */
static void
done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows; *changes gets the rows it touched. */
static int
exec_stmt(struct db_sqlite *s, sqlite3_stmt *st, const char *what, int *changes)
{
	int rc = sqlite3_step(st);

	done(st);
	if (rc != SQLITE_DONE)
		return fail(s, rc, what);
	if (changes != NULL)
		*changes = sqlite3_changes(s->h);
	return 0;
}

/* Runs a write that must match a row: ERR_NOTFOUND when it matched none. */
static int
exec_one(struct db_sqlite *s, sqlite3_stmt *st, const char *what)
{
	int changes = 0;
	int rc = exec_stmt(s, st, what, &changes);

	return rc != 0 ? rc : changes > 0 ? 0 : ERR_NOTFOUND;
}

static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) == SQLITE_OK ? 0 : ERR_NOMEM;
}

/* Copies column i (NULL reads as "") into out; a value longer than out is a corrupt
 * row, not something to truncate silently. */
static int
col_text(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	size_t n = v != NULL ? (size_t)sqlite3_column_bytes(st, i) : 0;

	if (n >= outlen)
		return ERR_DB;
	if (n > 0)
		memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

static int
read_user(sqlite3_stmt *st, struct db_user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(st, 0);
	u->created = sqlite3_column_int64(st, 4);
	if (col_text(st, 1, u->name, sizeof(u->name)) != 0 ||
	    col_text(st, 2, u->email, sizeof(u->email)) != 0 ||
	    col_text(st, 3, u->pw_hash, sizeof(u->pw_hash)) != 0)
		return ERR_DB;
	return 0;
}

/* One family: address, updated and expired from `col` on, offline from `offline`. */
static int
read_rr(sqlite3_stmt *st, int col, int offline, struct db_rr *rr)
{
	rr->updated = sqlite3_column_int64(st, col + 1);
	rr->expired = sqlite3_column_int(st, col + 2) != 0;
	rr->offline = sqlite3_column_int(st, offline) != 0;
	return col_text(st, col, rr->ip, sizeof(rr->ip));
}

/* Reads one row of HOST_SELECT. */
static int
read_host(sqlite3_stmt *st, struct db_host *h)
{
	memset(h, 0, sizeof(*h));
	h->id = sqlite3_column_int64(st, 0);
	h->user_id = sqlite3_column_int64(st, 1);
	h->dns_ttl = sqlite3_column_int(st, 6);
	h->expiry_ttl = sqlite3_column_int(st, 7);
	h->created = sqlite3_column_int64(st, 14);
	if (col_text(st, 2, h->owner, sizeof(h->owner)) != 0 ||
	    col_text(st, 3, h->hostname, sizeof(h->hostname)) != 0 ||
	    col_text(st, 4, h->zone, sizeof(h->zone)) != 0 ||
	    col_text(st, 5, h->fqdn, sizeof(h->fqdn)) != 0 || read_rr(st, 8, 17, &h->v4) != 0 ||
	    read_rr(st, 11, 18, &h->v6) != 0 ||
	    col_text(st, 15, h->owner_email, sizeof(h->owner_email)) != 0 ||
	    col_text(st, 16, h->ipv6_iid, sizeof(h->ipv6_iid)) != 0)
		return ERR_DB;
	return 0;
}

/* Steps through st, reading each row with `read` into a malloc'ed array. */
static int
collect(struct db_sqlite *s, sqlite3_stmt *st, size_t size, int (*read)(sqlite3_stmt *, void *),
	void **out, size_t *len)
{
	struct db_rows r = {NULL, 0, 0, size};
	int rc, err = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		void *row = db_rows_push(&r);

		if (row == NULL) {
			err = ERR_NOMEM;
			break;
		}
		if ((err = read(st, row)) != 0)
			break;
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = fail(s, rc, "list");
	done(st);
	return db_rows_finish(&r, err, out, len);
}

static int
read_user_v(sqlite3_stmt *st, void *row)
{
	return read_user(st, row);
}

static int
read_host_v(sqlite3_stmt *st, void *row)
{
	return read_host(st, row);
}

/* Runs a one-row query: 0 and the row read, ERR_NOTFOUND, or an error. */
static int
get_one(struct db_sqlite *s, sqlite3_stmt *st, int (*read)(sqlite3_stmt *, void *), void *out)
{
	int rc = sqlite3_step(st), err;

	if (rc == SQLITE_ROW)
		err = read(st, out);
	else if (rc == SQLITE_DONE)
		err = ERR_NOTFOUND;
	else
		err = fail(s, rc, "get");
	done(st);
	return err;
}

/* The busy handler: polls the lock every millisecond until busy_timeout_ms. SQLite's
 * own busy_timeout backs off to 100 ms sleeps, which is fine for locks held for
 * microseconds but makes waiters on the short lease and write transactions oversleep
 * and costs a large share of update throughput. */
static int
busy_wait(void *arg, int count)
{
	struct db_sqlite *s = arg;
	struct timespec one_ms = {0, 1000000};
	int64_t now = clock_mono_ms();

	if (count == 0)
		s->busy_since_ms = now;
	if (now - s->busy_since_ms >= s->busy_timeout_ms)
		return 0;
	nanosleep(&one_ms, NULL);
	return 1;
}

static bool
sqlite_usable(struct db *db)
{
	return !to_sqlite(db)->stale;
}

/* check_access: whether `path` is writable (W_OK, plus X_OK for a directory) by this
 * process's effective user; a file that does not exist yet is fine. Logs a problem. */
static int
check_access(const char *path, int mode, const char *who)
{
	if (faccessat(AT_FDCWD, path, mode, AT_EACCESS) == 0 || errno == ENOENT)
		return 0;
	log_error("%s is not writable by user %s: %s", path, who, strerror(errno));
	return 1;
}

/* What SQLite needs to write: the file, its -wal and -shm files (left behind by
 * another user, they make every write fail even after the file itself is fixed), and
 * its directory (where it creates them). Returns how many of them this process cannot
 * write, each logged; *who gets the user. */
static int
count_unwritable(const char *path, char *who, size_t wholen)
{
	const char *slash = strrchr(path, '/');
	char side[4096];
	int bad = 0;

	if (strcmp(path, ":memory:") == 0)
		return 0;
	user_desc(who, wholen);
	bad += check_access(path, W_OK, who);
	snprintf(side, sizeof(side), "%s-wal", path);
	bad += check_access(side, W_OK, who);
	snprintf(side, sizeof(side), "%s-shm", path);
	bad += check_access(side, W_OK, who);
	if (!slash || slash == path)
		snprintf(side, sizeof(side), "%s", slash ? "/" : ".");
	else
		snprintf(side, sizeof(side), "%.*s", (int)(slash - path), path);
	bad += check_access(side, W_OK | X_OK, who);
	return bad;
}

/* The daemon's start-up check (db.h check_writable). */
static int
sqlite_check_writable(const struct config *cfg)
{
	const char *path = cfg->database.path;
	char who[128];

	if (count_unwritable(path, who, sizeof(who)) == 0)
		return 0;
	log_error("database %s: not writable by user %s, who runs the daemon: give that user "
		  "write access to it, its -wal and -shm files and its directory (e.g. chown)",
		  path, who);
	return ERR_IO;
}

static void
sqlite_close(struct db *db)
{
	struct db_sqlite *s = to_sqlite(db);

	if (s == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->h);
	free(s);
}

/* Creates a missing database file with SQLITE_FILE_MODE (the umask may only take more
 * away), so that SQLite finds an empty file rather than making one world-readable.
 * ":memory:" and an existing file are left alone; a failure here is left for
 * sqlite3_open_v2 to report. */
static void
create_file(const char *path)
{
	int fd;

	if (strcmp(path, ":memory:") == 0)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, SQLITE_FILE_MODE);
	if (fd >= 0)
		close(fd);
}

/* SQLite creates the -wal and -shm files with the mode the database file has at that
 * moment, and keeps them while any connection is open. Created while the file was not
 * writable, they stay so after the operator fixes the file, and every new connection
 * opens them read-only: each write fails until a restart. So before a connection
 * opens, side files of ours get the database file's mode back (what SQLite would give
 * them now); another user's are left for the start-up check to name. */
static void
align_side_files(const char *path)
{
	static const char *const suffix[] = {"-wal", "-shm"};
	struct stat db, st;
	char side[4096];

	if (stat(path, &db) < 0)
		return;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(side, sizeof(side), "%s%s", path, suffix[i]);
		if (lstat(side, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
		    (st.st_mode & 07777) == (db.st_mode & 07777))
			continue;
		if (chmod(side, db.st_mode & 07777) == 0)
			log_info("database %s: %s had mode %04o, now the database file's %04o",
				 path, side, (unsigned)(st.st_mode & 07777),
				 (unsigned)(db.st_mode & 07777));
	}
}

/* Before a connection opens: a missing file is created (create_file), side files get
 * its mode back (align_side_files), and for a writer (cfg->database.require_write,
 * the daemon) the files must be writable: a connection SQLite opens read-only stays
 * so, and shares a read-only -shm with every later connection of the process, so for
 * a writer no connection is better than one. 0 or ERR_IO (logged). */
static int
prepare_files(const struct config *cfg)
{
	char who[128];

	create_file(cfg->database.path);
	align_side_files(cfg->database.path);
	if (cfg->database.require_write && count_unwritable(cfg->database.path, who, sizeof(who)))
		return ERR_IO;
	return 0;
}

static int
sqlite_open(const struct config *cfg, struct db **out)
{
	struct db_sqlite *s;
	int rc;

	*out = NULL;
	if (cfg->database.path == NULL || cfg->database.path[0] == '\0') {
		log_error("sqlite: no database path configured");
		return ERR_INVAL;
	}
	if (prepare_files(cfg) < 0)
		return ERR_IO;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ERR_NOMEM;
	s->base.ops = &db_sqlite_ops;
	s->cfg = cfg;
	/* One connection is used by one thread at a time (db.h), so no mutex. */
	rc = sqlite3_open_v2(cfg->database.path, &s->h,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc == SQLITE_OK && cfg->database.require_write &&
	    sqlite3_db_readonly(s->h, "main") == 1)
		rc = SQLITE_READONLY;
	if (rc != SQLITE_OK) {
		log_error("cannot open database %s: %s", cfg->database.path,
			  s->h ? sqlite3_errmsg(s->h) : sqlite3_errstr(rc));
		sqlite_close(&s->base);
		return ERR_IO;
	}
	sqlite3_extended_result_codes(s->h, 1);
	s->busy_timeout_ms = SQLITE_BUSY_TIMEOUT_MS +
			     1000 * (int64_t)(cfg->dns.dns_timeout > 0 ? cfg->dns.dns_timeout : 0);
	sqlite3_busy_handler(s->h, busy_wait, s);
	/* WAL lets the CLI and the expiry pass read while a worker writes. */
	rc = sqlite3_exec(s->h,
			  "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;"
			  " PRAGMA synchronous = NORMAL;",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		log_error("cannot open database %s: %s", cfg->database.path, sqlite3_errmsg(s->h));
		sqlite_close(&s->base);
		return rc == SQLITE_NOTADB ? ERR_DB : ERR_IO;
	}
	*out = &s->base;
	return 0;
}

/* The recorded schema version; 0 for a database without the version table. */
static int
read_version(struct db_sqlite *s, int *version)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_exec(s->h,
			  "CREATE TABLE IF NOT EXISTS schema_version ("
			  " version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc, "schema_version");
	if ((st = stmt(s, ST_VERSION)) == NULL)
		return ERR_DB;
	rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	done(st);
	return rc == SQLITE_ROW ? 0 : fail(s, rc, "schema_version");
}

static int
sqlite_schema_version(struct db *db, int *version)
{
	return read_version(to_sqlite(db), version);
}

static int
exec_sql(struct db_sqlite *s, const char *sql)
{
	return sqlite3_exec(s->h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : ERR_DB;
}

/* Applies the steps from `from` up; inside the caller's transaction. */
static int
apply_steps(struct db_sqlite *s, int from)
{
	sqlite3_stmt *st;

	for (int v = from; v < DB_SCHEMA_VERSION; v++) {
		if (exec_sql(s, MIGRATIONS[v]) != 0) {
			log_error("database %s: migration to schema version %d failed: %s; "
				  "rolled back",
				  s->cfg->database.path, v + 1, sqlite3_errmsg(s->h));
			return ERR_DB;
		}
		if ((st = stmt(s, ST_VERSION_ADD)) == NULL)
			return ERR_DB;
		sqlite3_bind_int(st, 1, v + 1);
		sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
		if (exec_stmt(s, st, "record schema version", NULL) != 0)
			return ERR_DB;
		log_info("database %s: schema migrated to version %d", s->cfg->database.path,
			 v + 1);
	}
	return 0;
}

/*
 * Brings the schema to DB_SCHEMA_VERSION. The version is read again under BEGIN
 * IMMEDIATE (the write lock), so two processes starting at once migrate once; all
 * steps commit together or not at all.
 */
static int
sqlite_migrate(struct db *db)
{
	struct db_sqlite *s = to_sqlite(db);
	int version = 0, rc;

	if ((rc = read_version(s, &version)) != 0)
		return rc;
	if (version == DB_SCHEMA_VERSION)
		return 0;
	if (exec_sql(s, "BEGIN IMMEDIATE") != 0)
		return fail(s, sqlite3_errcode(s->h), "begin migration");
	rc = read_version(s, &version);
	if (rc == 0 && version > DB_SCHEMA_VERSION) {
		log_error("database %s has schema version %d, newer than this program's %d",
			  s->cfg->database.path, version, DB_SCHEMA_VERSION);
		rc = ERR_DB;
	}
	if (rc == 0)
		rc = apply_steps(s, version);
	if (rc == 0 && exec_sql(s, "COMMIT") != 0)
		rc = fail(s, sqlite3_errcode(s->h), "commit migration");
	if (rc != 0)
		(void)exec_sql(s, "ROLLBACK");
	return rc;
}

static int
sqlite_user_add(struct db *db, const struct db_user *u)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_USER_ADD);

	if (st == NULL)
		return ERR_DB;
	bind_text(st, 1, u->name);
	bind_text(st, 2, u->email);
	bind_text(st, 3, u->pw_hash);
	sqlite3_bind_int64(st, 4, u->created);
	return exec_stmt(s, st, "user add", NULL);
}

static int
sqlite_user_get(struct db *db, const char *name, struct db_user *out)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_USER_GET);

	if (st == NULL)
		return ERR_DB;
	bind_text(st, 1, name);
	return get_one(s, st, read_user_v, out);
}

static int
sqlite_user_list(struct db *db, struct db_user **out, size_t *len)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_USER_LIST);
	void *rows = NULL;
	int rc;

	if (st == NULL)
		return ERR_DB;
	rc = collect(s, st, sizeof(**out), read_user_v, &rows, len);
	if (rc == 0)
		*out = rows;
	return rc;
}

static int
sqlite_user_delete(struct db *db, const char *name)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_USER_DELETE);
	int rc, changes = 0;

	if (st == NULL)
		return ERR_DB;
	bind_text(st, 1, name);
	rc = sqlite3_step(st);
	done(st);
	/* The foreign key of hostnames refuses to orphan them. */
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return ERR_BUSY;
	if (rc != SQLITE_DONE)
		return fail(s, rc, "user delete");
	changes = sqlite3_changes(s->h);
	return changes > 0 ? 0 : ERR_NOTFOUND;
}

/* An UPDATE of one user by name: ERR_NOTFOUND when no row matched. */
static int
user_update(struct db *db, enum stmt_id id, const char *name, const char *value)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, id);

	if (st == NULL)
		return ERR_DB;
	bind_text(st, 1, name);
	bind_text(st, 2, value);
	return exec_one(s, st, "user update");
}

static int
sqlite_user_set_password(struct db *db, const char *name, const char *pw_hash)
{
	return user_update(db, ST_USER_SET_PW, name, pw_hash);
}

static int
sqlite_user_set_email(struct db *db, const char *name, const char *email)
{
	return user_update(db, ST_USER_SET_EMAIL, name, email);
}

static int
sqlite_host_add(struct db *db, const struct db_host *h)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_HOST_ADD);
	int rc;

	if (st == NULL)
		return ERR_DB;
	sqlite3_bind_int64(st, 1, h->user_id);
	bind_text(st, 2, h->hostname);
	bind_text(st, 3, h->zone);
	bind_text(st, 4, h->fqdn);
	sqlite3_bind_int(st, 5, h->dns_ttl);
	sqlite3_bind_int(st, 6, h->expiry_ttl);
	sqlite3_bind_int64(st, 7, h->created);
	bind_text(st, 8, h->ipv6_iid);
	rc = sqlite3_step(st);
	done(st);
	/* No such owner, or it vanished after db.c looked it up. */
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return ERR_NOTFOUND;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "host add");
}

static int
sqlite_host_get(struct db *db, const char *fqdn, struct db_host *out)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_HOST_GET);

	if (st == NULL)
		return ERR_DB;
	bind_text(st, 1, fqdn);
	return get_one(s, st, read_host_v, out);
}

static int
sqlite_host_list(struct db *db, const char *user, struct db_host **out, size_t *len)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, user ? ST_HOST_LIST_USER : ST_HOST_LIST);
	void *rows = NULL;
	int rc;

	if (st == NULL)
		return ERR_DB;
	if (user != NULL)
		bind_text(st, 1, user);
	rc = collect(s, st, sizeof(**out), read_host_v, &rows, len);
	if (rc == 0)
		*out = rows;
	return rc;
}

/* The statement `id` of a write to a host, inside the host's critical section when one
 * is held (lease_tx). NULL with *rc set on failure. */
static sqlite3_stmt *
host_write(struct db_sqlite *s, enum stmt_id id, int *rc)
{
	sqlite3_stmt *st;

	if ((*rc = lease_tx(s)) != 0)
		return NULL;
	if ((st = stmt(s, id)) == NULL)
		*rc = ERR_DB;
	return st;
}

static int
sqlite_host_set_ttls(struct db *db, const char *fqdn, int dns_ttl, int expiry_ttl)
{
	struct db_sqlite *s = to_sqlite(db);
	int rc = 0;
	sqlite3_stmt *st = host_write(s, ST_HOST_SET_TTLS, &rc);

	if (st == NULL)
		return rc;
	bind_text(st, 1, fqdn);
	sqlite3_bind_int(st, 2, dns_ttl);
	sqlite3_bind_int(st, 3, expiry_ttl);
	return exec_one(s, st, "host set ttls");
}

static int
sqlite_host_delete(struct db *db, const char *fqdn)
{
	struct db_sqlite *s = to_sqlite(db);
	int rc = 0;
	sqlite3_stmt *st = host_write(s, ST_HOST_DELETE, &rc);

	if (st == NULL)
		return rc;
	bind_text(st, 1, fqdn);
	return exec_one(s, st, "host delete");
}

static int
sqlite_host_set_addr(struct db *db, int64_t host_id, int families, const char *ipv4,
		     const char *ipv6, int64_t now)
{
	struct db_sqlite *s = to_sqlite(db);
	int rc = 0;
	sqlite3_stmt *st = host_write(s, ST_HOST_SET_ADDR, &rc);

	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, host_id);
	sqlite3_bind_int(st, 2, families);
	bind_text(st, 3, ipv4);
	bind_text(st, 4, ipv6);
	sqlite3_bind_int64(st, 5, now);
	return exec_one(s, st, "host set address");
}

static int
sqlite_host_set_iid(struct db *db, const char *fqdn, const char *iid)
{
	struct db_sqlite *s = to_sqlite(db);
	int rc = 0;
	sqlite3_stmt *st = host_write(s, ST_HOST_SET_IID, &rc);

	if (st == NULL)
		return rc;
	bind_text(st, 1, fqdn);
	bind_text(st, 2, iid);
	return exec_one(s, st, "host set identifier");
}

static int
sqlite_host_set_offline(struct db *db, int64_t host_id, int families)
{
	struct db_sqlite *s = to_sqlite(db);
	int rc = 0;
	sqlite3_stmt *st = host_write(s, ST_HOST_SET_OFFLINE, &rc);

	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, host_id);
	sqlite3_bind_int(st, 2, families);
	return exec_one(s, st, "host set offline");
}

static int
sqlite_host_sole(struct db *db, const char *user, struct db_host *out)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_HOST_SOLE);
	void *rows = NULL;
	size_t n = 0;
	int rc;

	if (st == NULL)
		return ERR_DB;
	bind_text(st, 1, user);
	rc = collect(s, st, sizeof(*out), read_host_v, &rows, &n);
	if (rc == 0)
		rc = n == 1 ? 0 : n == 0 ? ERR_NOTFOUND : ERR_EXISTS;
	if (rc == 0)
		*out = *(struct db_host *)rows;
	free(rows);
	return rc;
}

static int
sqlite_host_touch(struct db *db, int64_t host_id, int families, int64_t now)
{
	struct db_sqlite *s = to_sqlite(db);
	int rc = 0;
	sqlite3_stmt *st = host_write(s, ST_HOST_TOUCH, &rc);

	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, host_id);
	sqlite3_bind_int(st, 2, families);
	sqlite3_bind_int64(st, 3, now);
	return exec_one(s, st, "host touch");
}

static int
sqlite_host_due(struct db *db, int64_t now, int64_t limit, struct db_host **out, size_t *len)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_HOST_DUE);
	void *rows = NULL;
	int rc;

	if (st == NULL)
		return ERR_DB;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, limit);
	rc = collect(s, st, sizeof(**out), read_host_v, &rows, len);
	if (rc == 0)
		*out = rows;
	return rc;
}

/*
 * The per-family conditional UPDATEs (the expiry claim, the lock-free nochg refresh):
 * runs the V4 and/or V6 statement for `families` with ?1 = host id, ?2 = now and, when
 * the family's address is given, ?3 = that address. *matched gets the families whose
 * row matched the statement's condition.
 */
static int
update_families(struct db_sqlite *s, enum stmt_id v4, enum stmt_id v6, int64_t host_id, int64_t now,
		const char *ip4, const char *ip6, int families, int *matched)
{
	const struct {
		int fam;
		enum stmt_id id;
		const char *ip;
	} f[] = {{DB_V4, v4, ip4}, {DB_V6, v6, ip6}};
	int rc = 0;

	*matched = 0;
	for (size_t i = 0; rc == 0 && i < 2; i++) {
		sqlite3_stmt *st;
		int changes = 0;

		if (!(families & f[i].fam))
			continue;
		if ((st = stmt(s, f[i].id)) == NULL)
			return ERR_DB;
		sqlite3_bind_int64(st, 1, host_id);
		sqlite3_bind_int64(st, 2, now);
		if (f[i].ip != NULL)
			sqlite3_bind_text(st, 3, f[i].ip, -1, SQLITE_STATIC);
		rc = exec_stmt(s, st, "host update", &changes);
		if (rc == 0 && changes > 0)
			*matched |= f[i].fam;
	}
	return rc;
}

static int
sqlite_host_touch_live(struct db *db, int64_t host_id, int families, const char *ipv4,
		       const char *ipv6, int64_t now, int *touched)
{
	return update_families(to_sqlite(db), ST_HOST_TOUCH_LIVE_V4, ST_HOST_TOUCH_LIVE_V6, host_id,
			       now, ipv4, ipv6, families, touched);
}

static int
sqlite_host_expire(struct db *db, int64_t host_id, int families, int64_t now, int *claimed)
{
	struct db_sqlite *s = to_sqlite(db);
	int rc;

	if ((rc = lease_tx(s)) != 0)
		return rc;
	return update_families(s, ST_HOST_EXPIRE_V4, ST_HOST_EXPIRE_V6, host_id, now, NULL, NULL,
			       families, claimed);
}

/* Reads one row of TOKEN_SELECT. */
static int
read_token(sqlite3_stmt *st, void *row)
{
	struct db_token *t = row;

	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(st, 0);
	t->host_id = sqlite3_column_int64(st, 1);
	t->created = sqlite3_column_int64(st, 6);
	if (col_text(st, 2, t->fqdn, sizeof(t->fqdn)) != 0 ||
	    col_text(st, 3, t->owner, sizeof(t->owner)) != 0 ||
	    col_text(st, 4, t->owner_email, sizeof(t->owner_email)) != 0 ||
	    col_text(st, 5, t->note, sizeof(t->note)) != 0)
		return ERR_DB;
	return 0;
}

static int
sqlite_token_add(struct db *db, const struct db_token *t, int64_t *id)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_TOKEN_ADD);
	int rc;

	if (st == NULL)
		return ERR_DB;
	sqlite3_bind_int64(st, 1, t->host_id);
	bind_text(st, 2, t->hash);
	bind_text(st, 3, t->note);
	sqlite3_bind_int64(st, 4, t->created);
	rc = sqlite3_step(st);
	done(st);
	/* The host went after db.c looked it up. */
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return ERR_NOTFOUND;
	if (rc != SQLITE_DONE)
		return fail(s, rc, "token add");
	*id = sqlite3_last_insert_rowid(s->h);
	return 0;
}

static int
sqlite_token_find(struct db *db, const char *hash, struct db_token *out)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_TOKEN_FIND);

	if (st == NULL)
		return ERR_DB;
	bind_text(st, 1, hash);
	return get_one(s, st, read_token, out);
}

static int
sqlite_token_list(struct db *db, const char *user, struct db_token **out, size_t *len)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, user ? ST_TOKEN_LIST_USER : ST_TOKEN_LIST);
	void *rows = NULL;
	int rc;

	if (st == NULL)
		return ERR_DB;
	if (user != NULL)
		bind_text(st, 1, user);
	rc = collect(s, st, sizeof(**out), read_token, &rows, len);
	if (rc == 0)
		*out = rows;
	return rc;
}

static int
sqlite_token_delete(struct db *db, int64_t id)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_TOKEN_DELETE);

	if (st == NULL)
		return ERR_DB;
	sqlite3_bind_int64(st, 1, id);
	return exec_one(s, st, "token delete");
}

/* Runs one of the transaction-control statements. */
static int
tx_stmt(struct db_sqlite *s, enum stmt_id id, const char *what)
{
	sqlite3_stmt *st = stmt(s, id);

	return st == NULL ? ERR_DB : exec_stmt(s, st, what, NULL);
}

/* Ends an open transaction without saving it. */
static int
tx_rollback(struct db_sqlite *s)
{
	/* Without an open transaction there is nothing to undo (and nothing to log). */
	if (sqlite3_get_autocommit(s->h))
		return 0;
	return tx_stmt(s, ST_ROLLBACK, "rollback");
}

/*
 * The per-host critical section of db.h is a lease, not a held transaction: SQLite has
 * no row locks, and holding its single write lock for a DNS round trip would make
 * every other write in every process (updates of other hosts, nochg refreshes, the
 * CLI) wait for that round trip, up to dns_timeout when the DNS server is down.
 *
 * host_lock takes a row in host_leases (host id, expiry, random token) in one short
 * IMMEDIATE transaction, provided no unexpired lease of another holder exists, and
 * reads the host in the same transaction. The DNS exchange then runs outside any
 * transaction. The first write opens the write transaction (lease_tx); commit deletes
 * the lease and commits the writes in one step; rollback undoes the writes and drops
 * the lease. A lease outlives the holder's DNS exchange (bounded by dns_timeout) by
 * SQLITE_LEASE_SLACK_MS, so a crashed holder blocks its host for that long at most.
 * Waiting for a lease is bounded by the busy timeout (5 s + dns_timeout), then ERR_DB.
 */
static int
lease_tx(struct db_sqlite *s)
{
	if (!s->leased || !sqlite3_get_autocommit(s->h))
		return 0;
	return tx_stmt(s, ST_BEGIN_IMMEDIATE, "begin");
}

/* Whether another holder's lease on host_id is still running at `now` (wall ms). */
static int
lease_busy(struct db_sqlite *s, int64_t host_id, int64_t now, bool *busy)
{
	sqlite3_stmt *st = stmt(s, ST_LEASE_GET);
	int rc;

	*busy = false;
	if (st == NULL)
		return ERR_DB;
	sqlite3_bind_int64(st, 1, host_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*busy = sqlite3_column_int64(st, 0) > now;
	done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(s, rc, "lease");
	return 0;
}

static int
lease_put(struct db_sqlite *s, int64_t host_id, int64_t until, int64_t token)
{
	sqlite3_stmt *st = stmt(s, ST_LEASE_PUT);

	if (st == NULL)
		return ERR_DB;
	sqlite3_bind_int64(st, 1, host_id);
	sqlite3_bind_int64(st, 2, until);
	sqlite3_bind_int64(st, 3, token);
	return exec_stmt(s, st, "lease", NULL);
}

/* Deletes our lease (only ours: the token must match). */
static int
lease_del(struct db_sqlite *s)
{
	sqlite3_stmt *st = stmt(s, ST_LEASE_DEL);

	if (st == NULL)
		return ERR_DB;
	sqlite3_bind_int64(st, 1, s->lease_host);
	sqlite3_bind_int64(st, 2, s->lease_token);
	return exec_stmt(s, st, "lease release", NULL);
}

static int64_t
lease_token(void)
{
	static _Atomic int64_t counter;
	int64_t t = 0;

	if (getrandom(&t, sizeof(t), GRND_NONBLOCK) != (ssize_t)sizeof(t))
		t = clock_wall_ms() ^ ((int64_t)getpid() << 32);
	return t ^ ++counter;
}

static int
sqlite_rollback(struct db *db)
{
	struct db_sqlite *s = to_sqlite(db);
	int rc = tx_rollback(s);

	if (s->leased) {
		s->leased = false;
		/* A failure leaves the lease to expire on its own. */
		(void)lease_del(s);
	}
	return rc;
}

static int
sqlite_commit(struct db *db)
{
	struct db_sqlite *s = to_sqlite(db);
	int rc = 0;

	if (s->leased) {
		rc = lease_tx(s);
		if (rc == 0)
			rc = lease_del(s);
	}
	if (rc == 0)
		rc = tx_stmt(s, ST_COMMIT, "commit");
	if (rc != 0)
		(void)sqlite_rollback(db);
	s->leased = false;
	return rc;
}

static int
sqlite_host_lock(struct db *db, const char *fqdn, struct db_host *out)
{
	struct db_sqlite *s = to_sqlite(db);
	struct timespec pause = {0, SQLITE_LEASE_POLL_MS * 1000000L};
	int64_t lease_ms = 1000 * (int64_t)s->cfg->dns.dns_timeout + SQLITE_LEASE_SLACK_MS;
	int64_t start = clock_mono_ms();
	int rc;

	if (s->leased || !sqlite3_get_autocommit(s->h))
		return ERR_INTERNAL; /* a critical section is already open on this handle */
	for (;;) {
		int64_t now = clock_wall_ms(), token = lease_token();
		bool busy = false;

		if ((rc = tx_stmt(s, ST_BEGIN_IMMEDIATE, "begin")) != 0)
			return rc;
		rc = sqlite_host_get(db, fqdn, out);
		if (rc == 0)
			rc = lease_busy(s, out->id, now, &busy);
		if (rc == 0 && !busy && (rc = lease_put(s, out->id, now + lease_ms, token)) == 0 &&
		    (rc = tx_stmt(s, ST_COMMIT, "commit")) == 0) {
			s->leased = true;
			s->lease_host = out->id;
			s->lease_token = token;
			return 0;
		}
		(void)tx_rollback(s);
		if (rc != 0)
			return rc;
		if (clock_mono_ms() - start >= s->busy_timeout_ms) {
			log_warnx("sqlite: %s: another update holds it for too long", fqdn);
			return ERR_DB;
		}
		nanosleep(&pause, NULL);
	}
}

static int
sqlite_host_count(struct db *db, int64_t *out)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_HOST_COUNT);
	int rc;

	if (st == NULL)
		return ERR_DB;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	done(st);
	return rc == SQLITE_ROW ? 0 : fail(s, rc, "count hosts");
}

/* The health check's busy handler: polls until its own deadline, not a writer's. */
static int
ping_busy(void *arg, int count)
{
	const int64_t *deadline = arg;
	struct timespec one_ms = {0, 1000000};

	(void)count;
	if (clock_mono_ms() >= *deadline)
		return 0;
	nanosleep(&one_ms, NULL);
	return 1;
}

/* A connection of its own (never created: a missing file is not healthy) that reads
 * the schema version; WAL readers do not wait for writers, and anything that does wait
 * (recovery, a checkpoint) gives up at the deadline. */
static int
sqlite_ping(const struct config *cfg, int timeout_ms, char *why, size_t len)
{
	int64_t start = clock_mono_ms(), deadline = start + timeout_ms;
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_open_v2(cfg->database.path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_handler(h, ping_busy, &deadline);
		rc = sqlite3_prepare_v2(h, STMT_SQL[ST_VERSION], -1, &st, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		snprintf(why, len, "sqlite %s: %s", cfg->database.path,
			 h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
	sqlite3_finalize(st);
	sqlite3_close(h);
	if (rc != SQLITE_ROW)
		return clock_mono_ms() >= deadline ? ERR_TIMEOUT : ERR_DB;
	if (clock_mono_ms() - start > timeout_ms) {
		snprintf(why, len, "sqlite %s: answered after %lld ms", cfg->database.path,
			 (long long)(clock_mono_ms() - start));
		return ERR_TIMEOUT;
	}
	return 0;
}

/* ---- ACME challenge values ---- */

static int
sqlite_acme_add(struct db *db, int64_t host_id, const char *value, int64_t now)
{
	struct db_sqlite *s = to_sqlite(db);
	int rc = 0;
	sqlite3_stmt *st = host_write(s, ST_ACME_ADD, &rc);

	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, host_id);
	bind_text(st, 2, value);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	done(st);
	/* The host vanished (the foreign key): as for an unknown host elsewhere. */
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return ERR_NOTFOUND;
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "acme add");
}

/* Runs a query of one integer column: 0 and *v, ERR_NOTFOUND without a row. */
static int
get_int(struct db_sqlite *s, sqlite3_stmt *st, int64_t *v)
{
	int rc = sqlite3_step(st), err = 0;

	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		err = ERR_NOTFOUND;
	else
		err = fail(s, rc, "get");
	done(st);
	return err;
}

static int
sqlite_acme_get(struct db *db, int64_t host_id, const char *value, int64_t *created)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_ACME_GET);

	if (st == NULL)
		return ERR_DB;
	sqlite3_bind_int64(st, 1, host_id);
	bind_text(st, 2, value);
	return get_int(s, st, created);
}

static int
sqlite_acme_delete(struct db *db, int64_t host_id, const char *value)
{
	struct db_sqlite *s = to_sqlite(db);
	int rc = 0;
	sqlite3_stmt *st = host_write(s, ST_ACME_DELETE, &rc);

	if (st == NULL)
		return rc;
	sqlite3_bind_int64(st, 1, host_id);
	bind_text(st, 2, value);
	return exec_one(s, st, "acme delete");
}

static int
sqlite_acme_count(struct db *db, int64_t host_id, int64_t *count)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_ACME_COUNT);

	if (st == NULL)
		return ERR_DB;
	sqlite3_bind_int64(st, 1, host_id);
	return get_int(s, st, count);
}

static int
read_acme_v(sqlite3_stmt *st, void *row)
{
	struct db_acme *a = row;

	memset(a, 0, sizeof(*a));
	a->host_id = sqlite3_column_int64(st, 0);
	a->created = sqlite3_column_int64(st, 4);
	if (col_text(st, 1, a->fqdn, sizeof(a->fqdn)) != 0 ||
	    col_text(st, 2, a->zone, sizeof(a->zone)) != 0 ||
	    col_text(st, 3, a->value, sizeof(a->value)) != 0)
		return ERR_DB;
	return 0;
}

static int
sqlite_acme_due(struct db *db, int64_t before, int64_t limit, struct db_acme **out, size_t *len)
{
	struct db_sqlite *s = to_sqlite(db);
	sqlite3_stmt *st = stmt(s, ST_ACME_DUE);
	void *rows = NULL;
	int rc;

	if (st == NULL)
		return ERR_DB;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, limit);
	rc = collect(s, st, sizeof(**out), read_acme_v, &rows, len);
	if (rc == 0)
		*out = rows;
	return rc;
}

const struct db_ops db_sqlite_ops = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.migrate = sqlite_migrate,
	.schema_version = sqlite_schema_version,
	.user_add = sqlite_user_add,
	.user_get = sqlite_user_get,
	.user_list = sqlite_user_list,
	.user_delete = sqlite_user_delete,
	.user_set_password = sqlite_user_set_password,
	.user_set_email = sqlite_user_set_email,
	.host_add = sqlite_host_add,
	.host_get = sqlite_host_get,
	.host_list = sqlite_host_list,
	.host_set_ttls = sqlite_host_set_ttls,
	.host_delete = sqlite_host_delete,
	.host_set_addr = sqlite_host_set_addr,
	.host_set_iid = sqlite_host_set_iid,
	.host_set_offline = sqlite_host_set_offline,
	.host_sole = sqlite_host_sole,
	.host_touch = sqlite_host_touch,
	.host_touch_live = sqlite_host_touch_live,
	.host_due = sqlite_host_due,
	.host_expire = sqlite_host_expire,
	.host_lock = sqlite_host_lock,
	.token_add = sqlite_token_add,
	.token_find = sqlite_token_find,
	.token_list = sqlite_token_list,
	.token_delete = sqlite_token_delete,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.host_count = sqlite_host_count,
	.ping = sqlite_ping,
	.acme_add = sqlite_acme_add,
	.acme_get = sqlite_acme_get,
	.acme_delete = sqlite_acme_delete,
	.acme_count = sqlite_acme_count,
	.acme_due = sqlite_acme_due,
	.usable = sqlite_usable,
	.check_writable = sqlite_check_writable,
};
