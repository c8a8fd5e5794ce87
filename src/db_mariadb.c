/* SPDX-License-Identifier: MIT */
/* The MariaDB backend of db.h (libmariadb, Connector/C 3.x): the schema of db_sqlite.c on
 * InnoDB, server-side prepared statements only, migrations that undo themselves when a
 * step fails, lease rows for the per-host critical section, and a connection that is
 * re-established after the server went away (never silently inside a transaction). */
#include "db.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "log.h"

/* Timeouts, in seconds. The lock wait bounds how long a request queues behind another
 * one holding the same host's row (which holds it for one DNS exchange, at most
 * dns_timeout), so it is dns_timeout plus slack; the socket read timeout must exceed it,
 * or the client would give up on a statement the server is still legitimately waiting
 * in (and the connection would be lost for nothing). */
#define MARIADB_CONNECT_TIMEOUT	  5  /* a server that does not accept in 5 s is down */
#define MARIADB_LOCK_WAIT_EXTRA	  5  /* innodb_lock_wait_timeout = dns_timeout + this */
#define MARIADB_LOCK_WAIT_MIN	  10 /* ... but never less */
#define MARIADB_IO_TIMEOUT_EXTRA  20 /* read/write timeout = lock wait + this */
#define MARIADB_MIGRATE_LOCK_WAIT 60 /* GET_LOCK: another process is migrating */
/* Leases (see maria_host_lock) last dns_timeout + DB_LEASE_SLACK_MS (db.h); a held
 * one is polled for at this interval. */
#define MARIADB_LEASE_POLL_MS 5
/* A transaction that a Galera certification conflict (or an InnoDB deadlock) rolled
 * back is run again this many times before the operation fails. */
#define MARIADB_CONFLICT_RETRIES 10

#define MAX_PARAMS 14  /* the most `?` of any statement (host_set_addr: 13) */
#define MAX_COLS   20  /* the most columns of any result (HOST_SELECT_LEASED: 20) */
#define COL_TEXT   256 /* the longest text column + NUL (pw_hash, AUTH_PHC_MAX) */

_Static_assert(COL_TEXT >= AUTH_PHC_MAX && COL_TEXT > AUTH_EMAIL_MAX && COL_TEXT > HOSTNAME_MAX,
	       "result buffers hold every text column");

/*
 * Schema migrations. MariaDB commits DDL implicitly, so a step cannot be one
 * transaction as it is in SQLite. Instead every DDL statement comes with the statement
 * that undoes it (idempotent: IF EXISTS), and the step records its intent: before each
 * statement runs, a row (version, statement) goes into schema_progress. When a
 * statement fails (MariaDB's DDL is atomic, so it did nothing), its row is dropped and
 * the statements before it are undone in reverse order, so a failure leaves the schema
 * as it was (and says so); when a process died mid-step, the next start finds the
 * progress rows and undoes those statements - applied or not, the undo is safe -
 * before running the step again. The
 * final version row and the removal of the progress rows commit together. Migrations
 * of concurrent starters are serialised by GET_LOCK. Append only, like SQLite's list.
 *
 * The deadlines are STORED generated columns with ordinary indexes: MariaDB has no
 * partial indexes, but NULL (no deadline) sorts first and a range `deadline <= ?` never
 * reads it, so the index serves the same purpose.
 */
struct ddl {
	const char *run;
	const char *undo;
};

static const struct ddl STEP_1[] = {
	{"CREATE TABLE users ("
	 " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
	 " name VARCHAR(64) NOT NULL,"
	 " email VARCHAR(254) NOT NULL,"
	 " pw_hash VARCHAR(255) NOT NULL,"
	 " created BIGINT NOT NULL,"
	 " UNIQUE KEY users_name (name)"
	 ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
	 "DROP TABLE IF EXISTS users"},
	{"CREATE TABLE hostnames ("
	 " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
	 " user_id BIGINT NOT NULL,"
	 " hostname VARCHAR(253) NOT NULL,"
	 " zone VARCHAR(253) NOT NULL,"
	 " fqdn VARCHAR(253) NOT NULL,"
	 " dns_ttl INT NOT NULL,"
	 " expiry_ttl INT NOT NULL,"
	 " ipv4 VARCHAR(45) NULL,"
	 " ipv4_updated BIGINT NULL,"
	 " ipv4_expired TINYINT NOT NULL DEFAULT 0,"
	 " ipv6 VARCHAR(45) NULL,"
	 " ipv6_updated BIGINT NULL,"
	 " ipv6_expired TINYINT NOT NULL DEFAULT 0,"
	 " created BIGINT NOT NULL,"
	 " ipv4_deadline BIGINT AS (CASE WHEN expiry_ttl > 0 AND ipv4 IS NOT NULL"
	 "  AND ipv4_expired = 0 AND ipv4_updated IS NOT NULL"
	 "  THEN ipv4_updated + expiry_ttl END) STORED,"
	 " ipv6_deadline BIGINT AS (CASE WHEN expiry_ttl > 0 AND ipv6 IS NOT NULL"
	 "  AND ipv6_expired = 0 AND ipv6_updated IS NOT NULL"
	 "  THEN ipv6_updated + expiry_ttl END) STORED,"
	 " UNIQUE KEY hostnames_fqdn (fqdn),"
	 " KEY hostnames_user (user_id),"
	 " KEY hostnames_ipv4_due (ipv4_deadline),"
	 " KEY hostnames_ipv6_due (ipv6_deadline),"
	 " CONSTRAINT hostnames_owner FOREIGN KEY (user_id) REFERENCES users (id)"
	 ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
	 "DROP TABLE IF EXISTS hostnames"},
};

/* 1 -> 2: the leases of the per-host critical section (maria_host_lock). Versions up to
 * 0.x locked the host's row instead (SELECT ... FOR UPDATE) and left the table empty. */
static const struct ddl STEP_2[] = {
	{"CREATE TABLE host_leases ("
	 " host_id BIGINT NOT NULL PRIMARY KEY,"
	 " until_ms BIGINT NOT NULL,"
	 " token BIGINT NOT NULL"
	 ") ENGINE=InnoDB",
	 "DROP TABLE IF EXISTS host_leases"},
};

/* 2 -> 3: the IPv6 interface identifier that completes a router's prefix, and which
 * deleted families offline=YES deleted (also marked expired, so the deadline columns
 * stay as they are). One ALTER: MariaDB's DDL is atomic, so it adds all or nothing. */
static const struct ddl STEP_3[] = {
	{"ALTER TABLE hostnames ADD COLUMN ipv6_iid VARCHAR(45) NULL,"
	 " ADD COLUMN ipv4_offline TINYINT NOT NULL DEFAULT 0,"
	 " ADD COLUMN ipv6_offline TINYINT NOT NULL DEFAULT 0",
	 "ALTER TABLE hostnames DROP COLUMN IF EXISTS ipv6_iid,"
	 " DROP COLUMN IF EXISTS ipv4_offline, DROP COLUMN IF EXISTS ipv6_offline"},
};

/* 3 -> 4: per-host update tokens (see db_sqlite.c), deleted with their host. */
static const struct ddl STEP_4[] = {
	{"CREATE TABLE host_tokens ("
	 " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
	 " host_id BIGINT NOT NULL,"
	 " token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
	 " note VARCHAR(255) NOT NULL DEFAULT '',"
	 " created BIGINT NOT NULL,"
	 " UNIQUE KEY host_tokens_hash (token_hash),"
	 " KEY host_tokens_host (host_id),"
	 " CONSTRAINT host_tokens_host_fk FOREIGN KEY (host_id) REFERENCES hostnames (id)"
	 "  ON DELETE CASCADE"
	 ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
	 "DROP TABLE IF EXISTS host_tokens"},
};

/* 4 -> 5: ACME challenge values (db.h struct db_acme), deleted with their host. The
 * values are ASCII compared byte for byte (base64url is case-sensitive). */
static const struct ddl STEP_5[] = {
	{"CREATE TABLE acme_challenges ("
	 " host_id BIGINT NOT NULL,"
	 " value VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
	 " created BIGINT NOT NULL,"
	 " PRIMARY KEY (host_id, value),"
	 " KEY acme_challenges_created (created),"
	 " CONSTRAINT acme_challenges_host FOREIGN KEY (host_id) REFERENCES hostnames (id)"
	 "  ON DELETE CASCADE"
	 ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
	 "DROP TABLE IF EXISTS acme_challenges"},
};

struct migration {
	const struct ddl *ddl;
	size_t n;
};

static const struct migration MIGRATIONS[] = {
	/* 0 -> 1 */ {STEP_1, sizeof(STEP_1) / sizeof(STEP_1[0])},
	/* 1 -> 2 */ {STEP_2, sizeof(STEP_2) / sizeof(STEP_2[0])},
	/* 2 -> 3 */ {STEP_3, sizeof(STEP_3) / sizeof(STEP_3[0])},
	/* 3 -> 4 */ {STEP_4, sizeof(STEP_4) / sizeof(STEP_4[0])},
	/* 4 -> 5 */ {STEP_5, sizeof(STEP_5) / sizeof(STEP_5[0])},
};

_Static_assert(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0]) == DB_SCHEMA_VERSION,
	       "one migration step per schema version");

static const char BOOKKEEPING_SQL[] =
	"CREATE TABLE IF NOT EXISTS schema_version ("
	" version INT NOT NULL PRIMARY KEY, applied BIGINT NOT NULL) ENGINE=InnoDB";
static const char PROGRESS_SQL[] =
	"CREATE TABLE IF NOT EXISTS schema_progress ("
	" version INT NOT NULL, stmt INT NOT NULL, PRIMARY KEY (version, stmt)) ENGINE=InnoDB";

#define HOST_SELECT                                                                                \
	"SELECT h.id, h.user_id, u.name, h.hostname, h.zone, h.fqdn, h.dns_ttl,"                   \
	" h.expiry_ttl, h.ipv4, h.ipv4_updated, h.ipv4_expired, h.ipv6, h.ipv6_updated,"           \
	" h.ipv6_expired, h.created, u.email, h.ipv6_iid, h.ipv4_offline, h.ipv6_offline"          \
	" FROM hostnames h JOIN users u ON u.id = h.user_id "
#define HOST_COLS "iissssiisiisiiissii"
/* HOST_SELECT plus whether a lease row exists (db_host.leased), for host_get. */
#define HOST_SELECT_LEASED                                                                         \
	"SELECT h.id, h.user_id, u.name, h.hostname, h.zone, h.fqdn, h.dns_ttl,"                   \
	" h.expiry_ttl, h.ipv4, h.ipv4_updated, h.ipv4_expired, h.ipv6, h.ipv6_updated,"           \
	" h.ipv6_expired, h.created, u.email, h.ipv6_iid, h.ipv4_offline, h.ipv6_offline,"         \
	" l.host_id IS NOT NULL FROM hostnames h"                                                  \
	" JOIN users u ON u.id = h.user_id LEFT JOIN host_leases l ON l.host_id = h.id "
#define HOST_COLS_LEASED HOST_COLS "i"
#define USER_COLS	 "isssi"
#define TOKEN_SELECT                                                                               \
	"SELECT t.id, t.host_id, h.fqdn, u.name, u.email, t.note, t.created FROM host_tokens t"    \
	" JOIN hostnames h ON h.id = t.host_id JOIN users u ON u.id = h.user_id "
#define TOKEN_COLS "iissssi"

/* Each family's due ids come from a range on its own deadline index (NULLs are
 * skipped by the range); the union then drives primary-key lookups of hosts and
 * owners. STRAIGHT_JOIN keeps that order: with few users the optimizer would otherwise
 * start from users and reach the hosts through hostnames_user. FORCE INDEX keeps the
 * owners' primary-key lookup (since the owner's e-mail is read too, the optimizer
 * would otherwise scan a small users table into a join buffer): one plan whatever
 * the tables' sizes, the one test_db checks. Parameters: now, now, limit. */
const char db_mariadb_due_sql[] =
	"SELECT STRAIGHT_JOIN h.id, h.user_id, u.name, h.hostname, h.zone, h.fqdn, h.dns_ttl,"
	" h.expiry_ttl, h.ipv4, h.ipv4_updated, h.ipv4_expired, h.ipv6,"
	" h.ipv6_updated, h.ipv6_expired, h.created, u.email, h.ipv6_iid, h.ipv4_offline,"
	" h.ipv6_offline"
	" FROM (SELECT id FROM hostnames WHERE ipv4_deadline <= ?"
	" UNION SELECT id FROM hostnames WHERE ipv6_deadline <= ?) d"
	" JOIN hostnames h ON h.id = d.id JOIN users u FORCE INDEX (PRIMARY) ON u.id = h.user_id"
	" ORDER BY h.id LIMIT ?";

enum stmt_id {
	ST_VERSION_TABLE,
	ST_VERSION,
	ST_VERSION_ADD,
	ST_PROGRESS,
	ST_PROGRESS_ADD,
	ST_PROGRESS_DEL,
	ST_PROGRESS_CLEAR,
	ST_MIGRATE_LOCK,
	ST_MIGRATE_UNLOCK,
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
	ST_LEASE_GET,
	ST_LEASE_ADD,
	ST_LEASE_TAKE,
	ST_LEASE_DEL,
	ST_LEASE_LAPSE,
	ST_LEASE_LAPSED,
	ST_HOST_SET_IID,
	ST_HOST_SET_OFFLINE,
	ST_HOST_SOLE,
	ST_HOST_COUNT,
	ST_ACME_ADD,
	ST_ACME_GET,
	ST_ACME_DELETE,
	ST_ACME_COUNT,
	ST_ACME_DUE,
	ST_TOKEN_ADD,
	ST_TOKEN_FIND,
	ST_TOKEN_LIST,
	ST_TOKEN_LIST_USER,
	ST_TOKEN_DELETE,
	ST_COUNT
};

/* Each statement's SQL and the types of its result columns ("i" integer, "s" text;
 * NULL for statements without a result). A statement with a result only reads, so it
 * may be retried on a new connection; one without may have written, so it never is. */
static const struct {
	const char *sql;
	const char *cols;
} STMTS[ST_COUNT] = {
	[ST_VERSION_TABLE] = {"SELECT count(*) FROM information_schema.tables"
			      " WHERE table_schema = DATABASE() AND table_name = 'schema_version'",
			      "i"},
	[ST_VERSION] = {"SELECT coalesce(max(version), 0) FROM schema_version", "i"},
	[ST_VERSION_ADD] = {"INSERT INTO schema_version (version, applied) VALUES (?, ?)", NULL},
	[ST_PROGRESS] = {"SELECT stmt FROM schema_progress WHERE version = ? ORDER BY stmt DESC",
			 "i"},
	[ST_PROGRESS_ADD] = {"INSERT INTO schema_progress (version, stmt) VALUES (?, ?)", NULL},
	[ST_PROGRESS_DEL] = {"DELETE FROM schema_progress WHERE version = ? AND stmt = ?", NULL},
	[ST_PROGRESS_CLEAR] = {"DELETE FROM schema_progress WHERE version = ?", NULL},
	[ST_MIGRATE_LOCK] = {"SELECT coalesce(GET_LOCK('ddns-service.migrate', ?), 0)", "i"},
	[ST_MIGRATE_UNLOCK] = {"DO RELEASE_LOCK('ddns-service.migrate')", NULL},
	[ST_USER_ADD] = {"INSERT INTO users (name, email, pw_hash, created) VALUES (?, ?, ?, ?)",
			 NULL},
	[ST_USER_GET] = {"SELECT id, name, email, pw_hash, created FROM users WHERE name = ?",
			 USER_COLS},
	[ST_USER_LIST] = {"SELECT id, name, email, pw_hash, created FROM users ORDER BY name",
			  USER_COLS},
	[ST_USER_DELETE] = {"DELETE FROM users WHERE name = ?", NULL},
	[ST_USER_SET_PW] = {"UPDATE users SET pw_hash = ? WHERE name = ?", NULL},
	[ST_USER_SET_EMAIL] = {"UPDATE users SET email = ? WHERE name = ?", NULL},
	[ST_HOST_ADD] =
		{"INSERT INTO hostnames (user_id, hostname, zone, fqdn, dns_ttl,"
		 " expiry_ttl, created, ipv6_iid) VALUES (?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''))",
		 NULL},
	[ST_HOST_GET] = {HOST_SELECT_LEASED "WHERE h.fqdn = ?", HOST_COLS_LEASED},
	[ST_HOST_LIST] = {HOST_SELECT "ORDER BY h.fqdn", HOST_COLS},
	[ST_HOST_LIST_USER] = {HOST_SELECT "WHERE u.name = ? ORDER BY h.fqdn", HOST_COLS},
	[ST_HOST_SET_TTLS] = {"UPDATE hostnames SET dns_ttl = ?, expiry_ttl = ? WHERE fqdn = ?",
			      NULL},
	[ST_HOST_DELETE] = {"DELETE FROM hostnames WHERE fqdn = ?", NULL},
	/* Parameters: mask, ipv4, mask, now, mask, mask, then the same for ipv6, then id.
	 * Each assignment reads only its own column, so MariaDB's left-to-right
	 * evaluation of SET (later assignments see earlier ones) changes nothing. */
	[ST_HOST_SET_ADDR] = {"UPDATE hostnames SET"
			      " ipv4 = IF(? & 1, NULLIF(?, ''), ipv4),"
			      " ipv4_updated = IF(? & 1, ?, ipv4_updated),"
			      " ipv4_expired = IF(? & 1, 0, ipv4_expired),"
			      " ipv4_offline = IF(? & 1, 0, ipv4_offline),"
			      " ipv6 = IF(? & 2, NULLIF(?, ''), ipv6),"
			      " ipv6_updated = IF(? & 2, ?, ipv6_updated),"
			      " ipv6_expired = IF(? & 2, 0, ipv6_expired),"
			      " ipv6_offline = IF(? & 2, 0, ipv6_offline)"
			      " WHERE id = ?",
			      NULL},
	/* Parameters: mask, now, mask, now, id. Never backwards (see db_sqlite.c). */
	[ST_HOST_TOUCH] = {"UPDATE hostnames SET"
			   " ipv4_updated = IF(? & 1, GREATEST(coalesce(ipv4_updated, 0), ?),"
			   "  ipv4_updated),"
			   " ipv6_updated = IF(? & 2, GREATEST(coalesce(ipv6_updated, 0), ?),"
			   "  ipv6_updated)"
			   " WHERE id = ?",
			   NULL},
	[ST_HOST_DUE] = {db_mariadb_due_sql, HOST_COLS},
	/* The claim (see db_sqlite.c): only a family still due is marked. */
	[ST_HOST_EXPIRE_V4] = {"UPDATE hostnames SET ipv4_expired = 1"
			       " WHERE id = ? AND ipv4_deadline <= ?",
			       NULL},
	[ST_HOST_EXPIRE_V6] = {"UPDATE hostnames SET ipv6_expired = 1"
			       " WHERE id = ? AND ipv6_deadline <= ?",
			       NULL},
	/* nochg outside the lock (see db_sqlite.c). Parameters: now, id, ip, now. */
	[ST_HOST_TOUCH_LIVE_V4] = {"UPDATE hostnames SET"
				   " ipv4_updated = GREATEST(coalesce(ipv4_updated, 0), ?)"
				   " WHERE id = ? AND ipv4 = ? AND ipv4_expired = 0"
				   " AND (ipv4_deadline IS NULL OR ipv4_deadline > ?)",
				   NULL},
	[ST_HOST_TOUCH_LIVE_V6] = {"UPDATE hostnames SET"
				   " ipv6_updated = GREATEST(coalesce(ipv6_updated, 0), ?)"
				   " WHERE id = ? AND ipv6 = ? AND ipv6_expired = 0"
				   " AND (ipv6_deadline IS NULL OR ipv6_deadline > ?)",
				   NULL},
	/* The per-host critical section is a lease row (see maria_host_lock). The read
	 * locks the lease row, if there is one, for the short transaction that takes it. */
	[ST_LEASE_GET] = {"SELECT until_ms FROM host_leases WHERE host_id = ? FOR UPDATE", "i"},
	[ST_LEASE_ADD] = {"INSERT INTO host_leases (host_id, until_ms, token) VALUES (?, ?, ?)",
			  NULL},
	/* Parameters: until, token, id. Taken over only when lapsed (under the row lock). */
	[ST_LEASE_TAKE] = {"UPDATE host_leases SET until_ms = ?, token = ? WHERE host_id = ?",
			   NULL},
	[ST_LEASE_DEL] = {"DELETE FROM host_leases WHERE host_id = ? AND token = ?", NULL},
	[ST_LEASE_LAPSE] = {"UPDATE host_leases SET until_ms = 0 WHERE host_id = ? AND token = ?",
			    NULL},
	[ST_LEASE_LAPSED] = {HOST_SELECT "WHERE h.id IN (SELECT host_id FROM host_leases"
					 " WHERE until_ms <= ?) ORDER BY h.id LIMIT ?",
			     HOST_COLS},
	/* Parameters: iid, fqdn. */
	[ST_HOST_SET_IID] = {"UPDATE hostnames SET ipv6_iid = NULLIF(?, '') WHERE fqdn = ?", NULL},
	/* Parameters: mask (4 times), id. See db_sqlite.c. */
	[ST_HOST_SET_OFFLINE] = {"UPDATE hostnames SET"
				 " ipv4_expired = IF(? & 1, 1, ipv4_expired),"
				 " ipv4_offline = IF(? & 1, 1, ipv4_offline),"
				 " ipv6_expired = IF(? & 2, 1, ipv6_expired),"
				 " ipv6_offline = IF(? & 2, 1, ipv6_offline)"
				 " WHERE id = ?",
				 NULL},
	[ST_HOST_SOLE] = {HOST_SELECT "WHERE u.name = ? ORDER BY h.fqdn LIMIT 2", HOST_COLS},
	[ST_HOST_COUNT] = {"SELECT count(*) FROM hostnames", "i"},
	/* A present again restarts the value's max_age. Parameters: id, value, now. */
	[ST_ACME_ADD] = {"INSERT INTO acme_challenges (host_id, value, created) VALUES (?, ?, ?)"
			 " ON DUPLICATE KEY UPDATE created = VALUES(created)",
			 NULL},
	[ST_ACME_GET] = {"SELECT created FROM acme_challenges WHERE host_id = ? AND value = ?",
			 "i"},
	[ST_ACME_DELETE] = {"DELETE FROM acme_challenges WHERE host_id = ? AND value = ?", NULL},
	[ST_ACME_COUNT] = {"SELECT count(*) FROM acme_challenges WHERE host_id = ?", "i"},
	/* Parameters: before, limit. */
	[ST_ACME_DUE] = {"SELECT a.host_id, h.fqdn, h.zone, a.value, a.created"
			 " FROM acme_challenges a JOIN hostnames h ON h.id = a.host_id"
			 " WHERE a.created <= ? ORDER BY a.created, a.host_id, a.value LIMIT ?",
			 "isssi"},
	[ST_TOKEN_ADD] = {"INSERT INTO host_tokens (host_id, token_hash, note, created)"
			  " VALUES (?, ?, ?, ?)",
			  NULL},
	[ST_TOKEN_FIND] = {TOKEN_SELECT "WHERE t.token_hash = ?", TOKEN_COLS},
	[ST_TOKEN_LIST] = {TOKEN_SELECT "ORDER BY h.fqdn, t.id", TOKEN_COLS},
	[ST_TOKEN_LIST_USER] = {TOKEN_SELECT "WHERE u.name = ? ORDER BY h.fqdn, t.id", TOKEN_COLS},
	[ST_TOKEN_DELETE] = {"DELETE FROM host_tokens WHERE id = ?", NULL},
};

struct db_mariadb {
	struct db base; /* first: db.c sees a struct db */
	const struct config *cfg;
	MYSQL *m;		  /* NULL while disconnected */
	MYSQL_STMT *st[ST_COUNT]; /* prepared on first use on the current connection */
	bool in_tx;		  /* a transaction is open */
	bool lost;		  /* the last statement lost the connection */
	bool conflict;		  /* ... or hit a deadlock / certification conflict */
	bool leased;		  /* host_lock holds the lease of lease_host */
	int64_t lease_host, lease_token;
	unsigned int lock_wait;	       /* innodb_lock_wait_timeout, seconds */
	char where[HOSTNAME_MAX + 64]; /* user@host:port/name for messages (no password) */
};

/* A statement parameter: an integer or a borrowed NUL-terminated text. */
struct param {
	bool text;
	long long i;
	const char *s;
};

#define P_INT(v)  ((struct param){.text = false, .i = (long long)(v)})
#define P_TEXT(v) ((struct param){.text = true, .s = (v)})
#define NPARAM(a) (sizeof(a) / sizeof((a)[0]))

/* One fetched row: a buffer per column, bound by execute() according to the
 * statement's column types. */
struct col {
	long long i;
	char s[COL_TEXT];
	unsigned long len;
	my_bool null;
	my_bool error;
};

struct row {
	struct col c[MAX_COLS];
	MYSQL_BIND b[MAX_COLS];
};

static struct db_mariadb *
to_maria(struct db *db)
{
	return (struct db_mariadb *)db;
}

/* mysql_library_init is not thread-safe and mysql_init calls it implicitly; workers
 * open their connections concurrently, so it runs once here first. */
static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_rc;

static void
library_init(void)
{
	library_rc = mysql_library_init(0, NULL, NULL);
}

/* Errors after which the connection is gone: the server restarted, was killed, timed
 * out the session, or the network failed. */
static bool
is_connection_lost(unsigned int e)
{
	switch (e) {
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_ERR_NET_READ:
	case CR_ERR_NET_WRITE:
	case ER_CONNECTION_KILLED:
	case ER_SERVER_SHUTDOWN:
	case ER_NET_READ_INTERRUPTED:
	case 4031: /* ER_CLIENT_INTERACTION_TIMEOUT (10.6+): idle session closed */ return true;
	default: return false;
	}
}

/* Closes the connection and its statements; the next operation reconnects (unless it
 * runs inside a transaction, which died with the connection). */
static void
disconnect(struct db_mariadb *s)
{
	for (int i = 0; i < ST_COUNT; i++) {
		if (s->st[i] != NULL)
			mysql_stmt_close(s->st[i]);
		s->st[i] = NULL;
	}
	if (s->m != NULL)
		mysql_close(s->m);
	s->m = NULL;
}

/* Maps a server or client error to an ERR_* code, logging what is not the caller's
 * business. A lost connection is closed here and flagged in s->lost. */
static int
fail_errno(struct db_mariadb *s, unsigned int e, const char *msg, const char *what)
{
	switch (e) {
	case ER_DUP_ENTRY: return ERR_EXISTS;
	case ER_ROW_IS_REFERENCED_2:
	case ER_ROW_IS_REFERENCED: return ERR_BUSY;
	case ER_NO_REFERENCED_ROW_2:
	case ER_NO_REFERENCED_ROW: return ERR_NOTFOUND;
	case CR_OUT_OF_MEMORY: return ERR_NOMEM;
	}
	if (is_connection_lost(e)) {
		log_warnx("mariadb %s: %s: connection lost: %s (%u)%s", s->where, what, msg, e,
			  s->in_tx ? "; transaction rolled back" : "");
		disconnect(s);
		s->lost = true;
		return ERR_DB;
	}
	/* A deadlock (Galera certification conflicts surface as one too) rolled the
	 * transaction back; the lease operations run it again (s->conflict). */
	if (e == ER_LOCK_DEADLOCK) {
		s->conflict = true;
		log_debug("mariadb %s: %s: %s (%u); retrying", s->where, what, msg, e);
		return ERR_DB;
	}
	/* Lock wait timeouts are retryable failures of one request. */
	log_error("mariadb %s: %s: %s (%u)", s->where, what, msg, e);
	return ERR_DB;
}

static int
stmt_fail(struct db_mariadb *s, MYSQL_STMT *st, const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s", mysql_stmt_error(st));
	return fail_errno(s, mysql_stmt_errno(st), msg, what);
}

static int
conn_fail(struct db_mariadb *s, const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s", mysql_error(s->m));
	return fail_errno(s, mysql_errno(s->m), msg, what);
}

/* Runs a constant statement (no parameters, no result): session settings,
 * transaction control, DDL. */
static int
query(struct db_mariadb *s, const char *sql, const char *what)
{
	if (s->m == NULL)
		return ERR_DB;
	if (mysql_real_query(s->m, sql, strlen(sql)) != 0)
		return conn_fail(s, what);
	return 0;
}

/* Causal reads on a Galera node: a read (and the start of a transaction) first waits
 * until this node has applied everything the cluster had committed when the read
 * began. Without it a node that lags behind (busy applying, or desynced for a backup)
 * answers from its stale copy: a password changed through another node would still
 * be accepted here, and the new one refused. Without Galera (wsrep off) the setting
 * does nothing; a server built without wsrep does not know it, which is fine. */
static int
setup_causal_reads(struct db_mariadb *s)
{
	static const char sql[] = "SET SESSION wsrep_sync_wait = 1";

	if (mysql_real_query(s->m, sql, strlen(sql)) == 0 ||
	    mysql_errno(s->m) == ER_UNKNOWN_SYSTEM_VARIABLE)
		return 0;
	return conn_fail(s, "session setup");
}

/* Session settings every connection needs: READ COMMITTED so that a plain read after
 * taking a row lock sees the latest committed row (not a snapshot from before the
 * wait), a bounded lock wait, strict SQL, no silent engine substitution, and causal
 * reads on Galera. */
static int
setup_session(struct db_mariadb *s)
{
	char sql[160];
	int n, rc;

	n = snprintf(sql, sizeof(sql),
		     "SET SESSION innodb_lock_wait_timeout = %u,"
		     " SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
		     s->lock_wait);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return ERR_INTERNAL;
	rc = query(s, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", "session setup");
	if (rc == 0)
		rc = query(s, sql, "session setup");
	return rc != 0 ? rc : setup_causal_reads(s);
}

/* Opens the connection described by the configuration. The password goes to the
 * library only; messages name user@host:port/name. */
static int
connect_db(struct db_mariadb *s)
{
	const struct config *cfg = s->cfg;
	unsigned int ctmo = MARIADB_CONNECT_TIMEOUT;
	unsigned int iotmo = s->lock_wait + MARIADB_IO_TIMEOUT_EXTRA;
	const char *sock = cfg->database.socket;
	int rc;

	if ((s->m = mysql_init(NULL)) == NULL)
		return ERR_NOMEM;
	mysql_optionsv(s->m, MYSQL_OPT_CONNECT_TIMEOUT, &ctmo);
	mysql_optionsv(s->m, MYSQL_OPT_READ_TIMEOUT, &iotmo);
	mysql_optionsv(s->m, MYSQL_OPT_WRITE_TIMEOUT, &iotmo);
	mysql_optionsv(s->m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* CLIENT_FOUND_ROWS: an UPDATE reports the rows it matched, not only the ones it
	 * changed, so "unknown host/user" is told apart from "same value" (as SQLite). */
	if (mysql_real_connect(s->m, sock ? "localhost" : cfg->database.host, cfg->database.user,
			       cfg->database.password, cfg->database.name,
			       sock ? 0 : (unsigned int)cfg->database.port, sock,
			       CLIENT_FOUND_ROWS) == NULL) {
		log_error("mariadb %s: cannot connect: %s", s->where, mysql_error(s->m));
		disconnect(s);
		return ERR_DB;
	}
	if ((rc = setup_session(s)) != 0) {
		disconnect(s);
		return rc;
	}
	return 0;
}

/* Makes sure there is a connection: reconnects after a loss, but never inside a
 * transaction (its locks and writes died with the old connection). */
static int
ensure_connected(struct db_mariadb *s)
{
	if (s->m != NULL)
		return 0;
	if (s->in_tx)
		return ERR_DB;
	return connect_db(s);
}

/* The prepared statement `id` on the current connection; NULL on failure (*rc set). */
static MYSQL_STMT *
prepared(struct db_mariadb *s, enum stmt_id id, int *rc)
{
	MYSQL_STMT *st;

	if (s->st[id] != NULL)
		return s->st[id];
	if ((st = mysql_stmt_init(s->m)) == NULL) {
		*rc = ERR_NOMEM;
		return NULL;
	}
	if (mysql_stmt_prepare(st, STMTS[id].sql, strlen(STMTS[id].sql)) != 0) {
		*rc = stmt_fail(s, st, "prepare");
		mysql_stmt_close(st);
		return NULL;
	}
	s->st[id] = st;
	return st;
}

static void
bind_params(MYSQL_BIND *b, unsigned long *lens, const struct param *p, size_t np)
{
	memset(b, 0, sizeof(*b) * np);
	for (size_t i = 0; i < np; i++) {
		if (p[i].text) {
			lens[i] = (unsigned long)strlen(p[i].s);
			b[i].buffer_type = MYSQL_TYPE_STRING;
			b[i].buffer = (void *)p[i].s;
			b[i].buffer_length = lens[i];
			b[i].length = &lens[i];
		} else {
			b[i].buffer_type = MYSQL_TYPE_LONGLONG;
			b[i].buffer = (void *)&p[i].i;
		}
	}
}

static void
bind_row(struct row *r, const char *cols)
{
	size_t n = strlen(cols);

	memset(r->b, 0, sizeof(r->b[0]) * n);
	for (size_t i = 0; i < n; i++) {
		struct col *c = &r->c[i];
		MYSQL_BIND *b = &r->b[i];

		b->is_null = &c->null;
		b->error = &c->error;
		b->length = &c->len;
		if (cols[i] == 's') {
			b->buffer_type = MYSQL_TYPE_STRING;
			b->buffer = c->s;
			b->buffer_length = sizeof(c->s);
		} else {
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = &c->i;
		}
	}
}

/* One attempt of execute(). */
static int
execute_once(struct db_mariadb *s, enum stmt_id id, const struct param *p, size_t np,
	     struct row *row, MYSQL_STMT **out)
{
	MYSQL_BIND pb[MAX_PARAMS];
	unsigned long lens[MAX_PARAMS];
	MYSQL_STMT *st;
	int rc = 0;

	s->lost = false;
	if ((rc = ensure_connected(s)) != 0)
		return rc;
	if ((st = prepared(s, id, &rc)) == NULL)
		return rc;
	if (np > MAX_PARAMS || mysql_stmt_param_count(st) != np)
		return ERR_INTERNAL;
	bind_params(pb, lens, p, np);
	if (np > 0 && mysql_stmt_bind_param(st, pb) != 0)
		return stmt_fail(s, st, "bind");
	if (mysql_stmt_execute(st) != 0)
		return stmt_fail(s, st, "execute");
	if (STMTS[id].cols != NULL) {
		bind_row(row, STMTS[id].cols);
		/* Buffered: the whole result arrives now, so errors surface here and the
		 * connection is free for the next statement while the caller reads rows. */
		if (mysql_stmt_bind_result(st, row->b) != 0 || mysql_stmt_store_result(st) != 0)
			return stmt_fail(s, st, "read result");
	}
	*out = st;
	return 0;
}

/*
 * Executes statement `id` with parameters `p`. For a query, `row` is bound and the
 * result stored: read it with fetch() and release it with mysql_stmt_free_result.
 *
 * A read that finds the connection gone (the server restarted since the last use) is
 * retried once on a new connection: reading twice is harmless, and without it every
 * worker thread's first request after a restart would fail. Writes are not retried
 * (the first attempt may have committed) and nothing is retried inside a transaction;
 * they answer ERR_DB and the next operation reconnects.
 */
static int
execute(struct db_mariadb *s, enum stmt_id id, const struct param *p, size_t np, struct row *row,
	MYSQL_STMT **out)
{
	int rc = execute_once(s, id, p, np, row, out);

	if (rc == ERR_DB && s->lost && !s->in_tx && STMTS[id].cols != NULL) {
		log_info("mariadb %s: reconnecting", s->where);
		rc = execute_once(s, id, p, np, row, out);
	}
	return rc;
}

/* Executes a statement without a result; *affected gets the rows it matched. */
static int
run(struct db_mariadb *s, enum stmt_id id, const struct param *p, size_t np, uint64_t *affected)
{
	MYSQL_STMT *st = NULL;
	int rc = execute(s, id, p, np, NULL, &st);

	if (rc == 0 && affected != NULL)
		*affected = (uint64_t)mysql_stmt_affected_rows(st);
	return rc;
}

/* The next row into r: 1 when there was one, 0 at the end, or a negative error. A
 * value longer than its buffer is a corrupt row, not something to truncate. */
static int
fetch(struct db_mariadb *s, MYSQL_STMT *st)
{
	int rc = mysql_stmt_fetch(st);

	if (rc == 0)
		return 1;
	if (rc == MYSQL_NO_DATA)
		return 0;
	if (rc == MYSQL_DATA_TRUNCATED) {
		log_error("mariadb %s: a stored value is longer than its limit", s->where);
		return ERR_DB;
	}
	return stmt_fail(s, st, "fetch");
}

/* Copies text column c (NULL reads as "") into out. */
static int
col_text(const struct col *c, char *out, size_t outlen)
{
	size_t n = c->null ? 0 : c->len;

	if (n >= outlen)
		return ERR_DB;
	if (n > 0)
		memcpy(out, c->s, n);
	out[n] = '\0';
	return 0;
}

static long long
col_int(const struct col *c)
{
	return c->null ? 0 : c->i;
}

static int
read_user(const struct row *r, void *row)
{
	struct db_user *u = row;

	memset(u, 0, sizeof(*u));
	u->id = col_int(&r->c[0]);
	u->created = col_int(&r->c[4]);
	if (col_text(&r->c[1], u->name, sizeof(u->name)) != 0 ||
	    col_text(&r->c[2], u->email, sizeof(u->email)) != 0 ||
	    col_text(&r->c[3], u->pw_hash, sizeof(u->pw_hash)) != 0)
		return ERR_DB;
	return 0;
}

/* One family: address, updated and expired from `col` on, offline from `offline`. */
static int
read_rr(const struct row *r, int col, int offline, struct db_rr *rr)
{
	rr->updated = col_int(&r->c[col + 1]);
	rr->expired = col_int(&r->c[col + 2]) != 0;
	rr->offline = col_int(&r->c[offline]) != 0;
	return col_text(&r->c[col], rr->ip, sizeof(rr->ip));
}

/* Reads one row of HOST_SELECT. */
static int
read_host(const struct row *r, void *row)
{
	struct db_host *h = row;

	memset(h, 0, sizeof(*h));
	h->id = col_int(&r->c[0]);
	h->user_id = col_int(&r->c[1]);
	h->dns_ttl = (int)col_int(&r->c[6]);
	h->expiry_ttl = (int)col_int(&r->c[7]);
	h->created = col_int(&r->c[14]);
	if (col_text(&r->c[2], h->owner, sizeof(h->owner)) != 0 ||
	    col_text(&r->c[3], h->hostname, sizeof(h->hostname)) != 0 ||
	    col_text(&r->c[4], h->zone, sizeof(h->zone)) != 0 ||
	    col_text(&r->c[5], h->fqdn, sizeof(h->fqdn)) != 0 || read_rr(r, 8, 17, &h->v4) != 0 ||
	    read_rr(r, 11, 18, &h->v6) != 0 ||
	    col_text(&r->c[15], h->owner_email, sizeof(h->owner_email)) != 0 ||
	    col_text(&r->c[16], h->ipv6_iid, sizeof(h->ipv6_iid)) != 0)
		return ERR_DB;
	return 0;
}

/* Reads one row of HOST_SELECT_LEASED. */
static int
read_host_leased(const struct row *r, void *row)
{
	int rc = read_host(r, row);

	if (rc == 0)
		((struct db_host *)row)->leased = col_int(&r->c[19]) != 0;
	return rc;
}

/* Runs a one-row query: 0 and the row read, ERR_NOTFOUND, or an error. */
static int
get_one(struct db_mariadb *s, enum stmt_id id, const struct param *p, size_t np,
	int (*read)(const struct row *, void *), void *out)
{
	struct row r;
	MYSQL_STMT *st = NULL;
	int rc = execute(s, id, p, np, &r, &st);

	if (rc != 0)
		return rc;
	rc = fetch(s, st);
	if (rc == 1)
		rc = read(&r, out);
	else if (rc == 0)
		rc = ERR_NOTFOUND;
	if (s->m != NULL)
		mysql_stmt_free_result(st);
	return rc;
}

/* Runs a query and reads every row with `read` into a malloc'ed array. */
static int
collect(struct db_mariadb *s, enum stmt_id id, const struct param *p, size_t np, size_t size,
	int (*read)(const struct row *, void *), void **out, size_t *len)
{
	struct db_rows rs = {NULL, 0, 0, size};
	struct row r;
	MYSQL_STMT *st = NULL;
	int rc = execute(s, id, p, np, &r, &st);

	if (rc != 0)
		return rc;
	while ((rc = fetch(s, st)) == 1) {
		void *dst = db_rows_push(&rs);

		if (dst == NULL)
			rc = ERR_NOMEM;
		else
			rc = read(&r, dst);
		if (rc != 0)
			break;
	}
	if (s->m != NULL)
		mysql_stmt_free_result(st);
	return db_rows_finish(&rs, rc, out, len);
}

static void
maria_close(struct db *db)
{
	struct db_mariadb *s = to_maria(db);

	if (s == NULL)
		return;
	disconnect(s);
	free(s);
}

static unsigned int
lock_wait_for(const struct config *cfg)
{
	unsigned int w = (unsigned int)(cfg->dns.dns_timeout > 0 ? cfg->dns.dns_timeout : 0) +
			 MARIADB_LOCK_WAIT_EXTRA;

	return w < MARIADB_LOCK_WAIT_MIN ? MARIADB_LOCK_WAIT_MIN : w;
}

static int
maria_open(const struct config *cfg, struct db **out)
{
	const char *sock = cfg->database.socket;
	struct db_mariadb *s;
	int rc;

	*out = NULL;
	if (cfg->database.user == NULL || cfg->database.name == NULL ||
	    (sock == NULL && cfg->database.host == NULL)) {
		log_error("mariadb: database.user, database.name and database.host or "
			  "database.socket are required");
		return ERR_INVAL;
	}
	pthread_once(&library_once, library_init);
	if (library_rc != 0) {
		log_error("mariadb: the client library failed to initialise");
		return ERR_DB;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	s->base.ops = &db_mariadb_ops;
	s->cfg = cfg;
	s->lock_wait = lock_wait_for(cfg);
	if (sock != NULL)
		snprintf(s->where, sizeof(s->where), "%s@%s/%s", cfg->database.user, sock,
			 cfg->database.name);
	else
		snprintf(s->where, sizeof(s->where), "%s@%s:%d/%s", cfg->database.user,
			 cfg->database.host, cfg->database.port, cfg->database.name);
	if ((rc = connect_db(s)) != 0) {
		maria_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}

/* ---- migrations ---- */

/* Runs a query whose answer is one integer: 0 and *v, ERR_NOTFOUND without a row. */
static int
query_int(struct db_mariadb *s, enum stmt_id id, const struct param *p, size_t np, long long *v)
{
	struct row r;
	MYSQL_STMT *st = NULL;
	int rc = execute(s, id, p, np, &r, &st);

	if (rc != 0)
		return rc;
	rc = fetch(s, st);
	if (rc == 1)
		*v = col_int(&r.c[0]);
	if (s->m != NULL)
		mysql_stmt_free_result(st);
	return rc == 1 ? 0 : rc == 0 ? ERR_NOTFOUND : rc;
}

/* Creates the version table unless it exists. Every connection comes here when it
 * opens, so the common case must be a read: on Galera even a CREATE TABLE IF NOT
 * EXISTS of an existing table is replicated in total order (every node stops for
 * it), and it fails while a node's replication is paused for a backup. */
static int
ensure_version_table(struct db_mariadb *s)
{
	long long n = 0;
	int rc = query_int(s, ST_VERSION_TABLE, NULL, 0, &n);

	if (rc != 0 || n > 0)
		return rc == ERR_NOTFOUND ? ERR_DB : rc;
	return query(s, BOOKKEEPING_SQL, "schema_version");
}

/* The recorded schema version; 0 for a database without the version table. */
static int
read_version(struct db_mariadb *s, int *version)
{
	long long v = 0;
	int rc;

	*version = 0;
	if ((rc = ensure_connected(s)) != 0 || (rc = ensure_version_table(s)) != 0)
		return rc;
	if ((rc = query_int(s, ST_VERSION, NULL, 0, &v)) != 0)
		return rc == ERR_NOTFOUND ? ERR_DB : rc;
	*version = (int)v;
	return 0;
}

static int
maria_schema_version(struct db *db, int *version)
{
	return read_version(to_maria(db), version);
}

/* Undoes statements `last` down to 0 of step `v`, removing their progress rows.
 * Returns 0 when everything was undone. */
static int
undo_statements(struct db_mariadb *s, int v, long long last)
{
	int rc = 0;

	for (long long i = last; i >= 0; i--) {
		const struct param p[] = {P_INT(v), P_INT(i)};

		if (query(s, MIGRATIONS[v - 1].ddl[i].undo, "undo migration") != 0) {
			rc = ERR_DB;
			continue;
		}
		if (run(s, ST_PROGRESS_DEL, p, NPARAM(p), NULL) != 0)
			rc = ERR_DB;
	}
	return rc;
}

/* A process that died in the middle of step v left progress rows: undo those
 * statements so the step can run from a clean slate. */
static int
undo_leftovers(struct db_mariadb *s, int v)
{
	const struct param p[] = {P_INT(v)};
	long long last = -1;
	int rc = query_int(s, ST_PROGRESS, p, NPARAM(p), &last); /* the highest statement */

	if (rc == ERR_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	log_warnx("mariadb %s: an interrupted migration to schema version %d left %lld "
		  "statement(s) applied; undoing them",
		  s->where, v, last + 1);
	if (last < 0 || last >= (long long)MIGRATIONS[v - 1].n)
		return ERR_DB;
	return undo_statements(s, v, last);
}

/* Records step v as applied and forgets its progress, in one transaction. */
static int
record_version(struct db_mariadb *s, int v)
{
	const struct param pv[] = {P_INT(v), P_INT(time(NULL))};
	const struct param pc[] = {P_INT(v)};
	int rc;

	if ((rc = query(s, "START TRANSACTION", "begin")) != 0)
		return rc;
	if ((rc = run(s, ST_VERSION_ADD, pv, NPARAM(pv), NULL)) == 0 &&
	    (rc = run(s, ST_PROGRESS_CLEAR, pc, NPARAM(pc), NULL)) == 0 &&
	    (rc = query(s, "COMMIT", "commit")) == 0)
		return 0;
	(void)query(s, "ROLLBACK", "rollback");
	return rc;
}

/* Runs step v (from schema version v - 1 to v). On failure what the step did is
 * undone; the log says whether that worked. */
static int
apply_step(struct db_mariadb *s, int v)
{
	const struct migration *m = &MIGRATIONS[v - 1];
	char why[256] = "";
	long long done = -1;
	int rc = undo_leftovers(s, v);

	for (size_t i = 0; rc == 0 && i < m->n; i++) {
		const struct param p[] = {P_INT(v), P_INT(i)};

		/* The intent first: a crash between the two leaves a row to undo. */
		if ((rc = run(s, ST_PROGRESS_ADD, p, NPARAM(p), NULL)) != 0)
			break;
		if (mysql_real_query(s->m, m->ddl[i].run, strlen(m->ddl[i].run)) != 0) {
			snprintf(why, sizeof(why), "%s", mysql_error(s->m));
			/* It did nothing; its undo could hit a table that is not ours. */
			(void)run(s, ST_PROGRESS_DEL, p, NPARAM(p), NULL);
			rc = ERR_DB;
			break;
		}
		done = (long long)i;
	}
	if (rc == 0)
		rc = record_version(s, v);
	if (rc == 0) {
		log_info("mariadb %s: schema migrated to version %d", s->where, v);
		return 0;
	}
	if (s->m != NULL && undo_statements(s, v, done) == 0)
		log_error("mariadb %s: migration to schema version %d failed%s%s; undone, the "
			  "schema is as it was",
			  s->where, v, why[0] ? ": " : "", why);
	else
		log_error("mariadb %s: migration to schema version %d failed%s%s, and undoing "
			  "it failed too; the next start retries the undo",
			  s->where, v, why[0] ? ": " : "", why);
	return ERR_DB;
}

static int
migrate_locked(struct db_mariadb *s)
{
	int version = 0, rc;

	if ((rc = read_version(s, &version)) != 0)
		return rc;
	if (version > DB_SCHEMA_VERSION) {
		log_error("mariadb %s has schema version %d, newer than this program's %d",
			  s->where, version, DB_SCHEMA_VERSION);
		return ERR_DB;
	}
	if (version < DB_SCHEMA_VERSION && (rc = query(s, PROGRESS_SQL, "schema_progress")) != 0)
		return rc;
	for (int v = version + 1; rc == 0 && v <= DB_SCHEMA_VERSION; v++)
		rc = apply_step(s, v);
	return rc;
}

/*
 * Brings the schema to DB_SCHEMA_VERSION. Concurrent starters are serialised by a
 * named lock (GET_LOCK), under which the version is read again, so each step runs
 * once. See MIGRATIONS for how a failed step is undone.
 */
static int
maria_migrate(struct db *db)
{
	struct db_mariadb *s = to_maria(db);
	const struct param p[] = {P_INT(MARIADB_MIGRATE_LOCK_WAIT)};
	long long got = 0;
	int version = 0, rc;

	if ((rc = read_version(s, &version)) != 0 || version == DB_SCHEMA_VERSION)
		return rc;
	if ((rc = query_int(s, ST_MIGRATE_LOCK, p, NPARAM(p), &got)) != 0 || got != 1) {
		log_error("mariadb %s: cannot take the migration lock (another process is "
			  "migrating?)",
			  s->where);
		return ERR_DB;
	}
	rc = migrate_locked(s);
	if (s->m != NULL)
		(void)run(s, ST_MIGRATE_UNLOCK, NULL, 0, NULL);
	return rc;
}

/* ---- users ---- */

static int
maria_user_add(struct db *db, const struct db_user *u)
{
	const struct param p[] = {P_TEXT(u->name), P_TEXT(u->email), P_TEXT(u->pw_hash),
				  P_INT(u->created)};

	return run(to_maria(db), ST_USER_ADD, p, NPARAM(p), NULL);
}

static int
maria_user_get(struct db *db, const char *name, struct db_user *out)
{
	const struct param p[] = {P_TEXT(name)};

	return get_one(to_maria(db), ST_USER_GET, p, NPARAM(p), read_user, out);
}

static int
maria_user_list(struct db *db, struct db_user **out, size_t *len)
{
	void *rows = NULL;
	int rc = collect(to_maria(db), ST_USER_LIST, NULL, 0, sizeof(**out), read_user, &rows, len);

	if (rc == 0)
		*out = rows;
	return rc;
}

/* A statement that must match a row: ERR_NOTFOUND when it matched none. */
static int
run_one(struct db_mariadb *s, enum stmt_id id, const struct param *p, size_t np)
{
	uint64_t n = 0;
	int rc = run(s, id, p, np, &n);

	return rc != 0 ? rc : n > 0 ? 0 : ERR_NOTFOUND;
}

static int
maria_user_delete(struct db *db, const char *name)
{
	const struct param p[] = {P_TEXT(name)};

	/* The foreign key of hostnames refuses to orphan them: ERR_BUSY. */
	return run_one(to_maria(db), ST_USER_DELETE, p, NPARAM(p));
}

static int
maria_user_set_password(struct db *db, const char *name, const char *pw_hash)
{
	const struct param p[] = {P_TEXT(pw_hash), P_TEXT(name)};

	return run_one(to_maria(db), ST_USER_SET_PW, p, NPARAM(p));
}

static int
maria_user_set_email(struct db *db, const char *name, const char *email)
{
	const struct param p[] = {P_TEXT(email), P_TEXT(name)};

	return run_one(to_maria(db), ST_USER_SET_EMAIL, p, NPARAM(p));
}

/* ---- hosts ---- */

static int
maria_host_add(struct db *db, const struct db_host *h)
{
	const struct param p[] = {P_INT(h->user_id), P_TEXT(h->hostname), P_TEXT(h->zone),
				  P_TEXT(h->fqdn),   P_INT(h->dns_ttl),	  P_INT(h->expiry_ttl),
				  P_INT(h->created), P_TEXT(h->ipv6_iid)};

	/* No such owner, or it vanished after db.c looked it up: the foreign key fails,
	 * ERR_NOTFOUND. */
	return run(to_maria(db), ST_HOST_ADD, p, NPARAM(p), NULL);
}

static int
maria_host_get(struct db *db, const char *fqdn, struct db_host *out)
{
	const struct param p[] = {P_TEXT(fqdn)};

	return get_one(to_maria(db), ST_HOST_GET, p, NPARAM(p), read_host_leased, out);
}

static int
maria_host_list(struct db *db, const char *user, struct db_host **out, size_t *len)
{
	const struct param p[] = {P_TEXT(user ? user : "")};
	void *rows = NULL;
	int rc = collect(to_maria(db), user ? ST_HOST_LIST_USER : ST_HOST_LIST, p, user ? 1 : 0,
			 sizeof(**out), read_host, &rows, len);

	if (rc == 0)
		*out = rows;
	return rc;
}

static int lease_tx(struct db_mariadb *s);

/* A write to a host: inside the host's critical section when one is held (lease_tx). */
static int
host_write(struct db_mariadb *s, enum stmt_id id, const struct param *p, size_t np)
{
	int rc = lease_tx(s);

	return rc != 0 ? rc : run_one(s, id, p, np);
}

static int
maria_host_set_ttls(struct db *db, const char *fqdn, int dns_ttl, int expiry_ttl)
{
	const struct param p[] = {P_INT(dns_ttl), P_INT(expiry_ttl), P_TEXT(fqdn)};

	return host_write(to_maria(db), ST_HOST_SET_TTLS, p, NPARAM(p));
}

static int
maria_host_delete(struct db *db, const char *fqdn)
{
	const struct param p[] = {P_TEXT(fqdn)};

	return host_write(to_maria(db), ST_HOST_DELETE, p, NPARAM(p));
}

static int
maria_host_set_addr(struct db *db, int64_t host_id, int families, const char *ipv4,
		    const char *ipv6, int64_t now)
{
	const struct param p[] = {
		P_INT(families), P_TEXT(ipv4),	  P_INT(families), P_INT(now),	    P_INT(families),
		P_INT(families), P_INT(families), P_TEXT(ipv6),	   P_INT(families), P_INT(now),
		P_INT(families), P_INT(families), P_INT(host_id)};

	return host_write(to_maria(db), ST_HOST_SET_ADDR, p, NPARAM(p));
}

static int
maria_host_set_iid(struct db *db, const char *fqdn, const char *iid)
{
	const struct param p[] = {P_TEXT(iid), P_TEXT(fqdn)};

	return host_write(to_maria(db), ST_HOST_SET_IID, p, NPARAM(p));
}

static int
maria_host_set_offline(struct db *db, int64_t host_id, int families)
{
	const struct param p[] = {P_INT(families), P_INT(families), P_INT(families),
				  P_INT(families), P_INT(host_id)};

	return host_write(to_maria(db), ST_HOST_SET_OFFLINE, p, NPARAM(p));
}

static int
maria_host_sole(struct db *db, const char *user, struct db_host *out)
{
	const struct param p[] = {P_TEXT(user)};
	void *rows = NULL;
	size_t n = 0;
	int rc = collect(to_maria(db), ST_HOST_SOLE, p, NPARAM(p), sizeof(*out), read_host, &rows,
			 &n);

	if (rc == 0)
		rc = n == 1 ? 0 : n == 0 ? ERR_NOTFOUND : ERR_EXISTS;
	if (rc == 0)
		*out = *(struct db_host *)rows;
	free(rows);
	return rc;
}

static int
maria_host_touch(struct db *db, int64_t host_id, int families, int64_t now)
{
	const struct param p[] = {P_INT(families), P_INT(now), P_INT(families), P_INT(now),
				  P_INT(host_id)};

	return host_write(to_maria(db), ST_HOST_TOUCH, p, NPARAM(p));
}

static int
maria_host_due(struct db *db, int64_t now, int64_t limit, struct db_host **out, size_t *len)
{
	const struct param p[] = {P_INT(now), P_INT(now), P_INT(limit)};
	void *rows = NULL;
	int rc = collect(to_maria(db), ST_HOST_DUE, p, NPARAM(p), sizeof(**out), read_host, &rows,
			 len);

	if (rc == 0)
		*out = rows;
	return rc;
}

/* The per-family conditional UPDATEs (see db_sqlite.c): runs the V4 and/or V6
 * statement with its parameters; *matched gets the families whose row matched. */
static int
update_families(struct db_mariadb *s, enum stmt_id v4, const struct param *p4, enum stmt_id v6,
		const struct param *p6, size_t np, int families, int *matched)
{
	uint64_t n = 0;
	int rc = 0;

	*matched = 0;
	if (families & DB_V4) {
		rc = run(s, v4, p4, np, &n);
		*matched |= rc == 0 && n > 0 ? DB_V4 : 0;
	}
	if (rc == 0 && (families & DB_V6)) {
		rc = run(s, v6, p6, np, &n);
		*matched |= rc == 0 && n > 0 ? DB_V6 : 0;
	}
	return rc;
}

static int
maria_host_touch_live(struct db *db, int64_t host_id, int families, const char *ipv4,
		      const char *ipv6, int64_t now, int *touched)
{
	const struct param p4[] = {P_INT(now), P_INT(host_id), P_TEXT(ipv4), P_INT(now)};
	const struct param p6[] = {P_INT(now), P_INT(host_id), P_TEXT(ipv6), P_INT(now)};

	return update_families(to_maria(db), ST_HOST_TOUCH_LIVE_V4, p4, ST_HOST_TOUCH_LIVE_V6, p6,
			       NPARAM(p4), families, touched);
}

static int
maria_host_expire(struct db *db, int64_t host_id, int families, int64_t now, int *claimed)
{
	const struct param p[] = {P_INT(host_id), P_INT(now)};
	int rc = lease_tx(to_maria(db));

	return rc != 0 ? rc
		       : update_families(to_maria(db), ST_HOST_EXPIRE_V4, p, ST_HOST_EXPIRE_V6, p,
					 NPARAM(p), families, claimed);
}

/* ---- tokens ---- */

/* Reads one row of TOKEN_SELECT. */
static int
read_token(const struct row *r, void *row)
{
	struct db_token *t = row;

	memset(t, 0, sizeof(*t));
	t->id = col_int(&r->c[0]);
	t->host_id = col_int(&r->c[1]);
	t->created = col_int(&r->c[6]);
	if (col_text(&r->c[2], t->fqdn, sizeof(t->fqdn)) != 0 ||
	    col_text(&r->c[3], t->owner, sizeof(t->owner)) != 0 ||
	    col_text(&r->c[4], t->owner_email, sizeof(t->owner_email)) != 0 ||
	    col_text(&r->c[5], t->note, sizeof(t->note)) != 0)
		return ERR_DB;
	return 0;
}

static int
maria_token_add(struct db *db, const struct db_token *t, int64_t *id)
{
	struct db_mariadb *s = to_maria(db);
	const struct param p[] = {P_INT(t->host_id), P_TEXT(t->hash), P_TEXT(t->note),
				  P_INT(t->created)};
	MYSQL_STMT *st = NULL;
	/* The host went after db.c looked it up: the foreign key fails, ERR_NOTFOUND. */
	int rc = execute(s, ST_TOKEN_ADD, p, NPARAM(p), NULL, &st);

	if (rc == 0)
		*id = (int64_t)mysql_stmt_insert_id(st);
	return rc;
}

static int
maria_token_find(struct db *db, const char *hash, struct db_token *out)
{
	const struct param p[] = {P_TEXT(hash)};

	return get_one(to_maria(db), ST_TOKEN_FIND, p, NPARAM(p), read_token, out);
}

static int
maria_token_list(struct db *db, const char *user, struct db_token **out, size_t *len)
{
	const struct param p[] = {P_TEXT(user ? user : "")};
	void *rows = NULL;
	int rc = collect(to_maria(db), user ? ST_TOKEN_LIST_USER : ST_TOKEN_LIST, p, user ? 1 : 0,
			 sizeof(**out), read_token, &rows, len);

	if (rc == 0)
		*out = rows;
	return rc;
}

static int
maria_token_delete(struct db *db, int64_t id)
{
	const struct param p[] = {P_INT(id)};

	return run_one(to_maria(db), ST_TOKEN_DELETE, p, NPARAM(p));
}

/* ---- the per-host critical section ---- */

/*
 * The per-host critical section is a lease row, as in db_sqlite.c (which says why it is
 * also the intent record of the DNS change): host_lock takes it in one short
 * transaction and commits, the DNS exchange runs with no transaction open, the writes
 * then go into one transaction opened at the first of them (lease_tx), and commit
 * deletes the lease and commits the writes in one step. Nothing is held across the
 * DNS exchange, so a slow DNS server holds no InnoDB lock and no connection state; and
 * several daemons writing through different Galera nodes conflict on the lease row at
 * certification (a deadlock error at COMMIT), which is retried, instead of each holding
 * a lock local to its node.
 */
static int
tx_begin(struct db_mariadb *s)
{
	int rc = query(s, "START TRANSACTION", "begin");

	if (rc == 0)
		s->in_tx = true;
	return rc;
}

static int
maria_rollback_tx(struct db_mariadb *s)
{
	bool was = s->in_tx;

	s->in_tx = false;
	/* Without a connection the server has already rolled back. */
	if (!was || s->m == NULL)
		return 0;
	if (mysql_rollback(s->m) != 0)
		return conn_fail(s, "rollback");
	return 0;
}

static int
tx_commit(struct db_mariadb *s)
{
	if (s->m == NULL) {
		s->in_tx = false;
		return ERR_DB;
	}
	if (mysql_commit(s->m) != 0) {
		int rc = conn_fail(s, "commit");

		(void)maria_rollback_tx(s);
		return rc;
	}
	s->in_tx = false;
	return 0;
}

static int
lease_tx(struct db_mariadb *s)
{
	if (!s->leased || s->in_tx)
		return 0;
	return tx_begin(s);
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

/* Deletes (ST_LEASE_DEL) or lapses (ST_LEASE_LAPSE) the lease (host_id, token);
 * *mine is false when it was not ours any more. */
static int
lease_end(struct db_mariadb *s, enum stmt_id id, int64_t host_id, int64_t token, bool *mine)
{
	const struct param p[] = {P_INT(host_id), P_INT(token)};
	uint64_t n = 0;
	int rc = run(s, id, p, NPARAM(p), &n);

	*mine = rc == 0 && n > 0;
	return rc;
}

/* Reads the row again once the lease is ours: the first read only found its id, and
 * may predate the commit of the holder the lease row lock made us wait for. */
static int
lease_reread(struct db_mariadb *s, const char *fqdn, struct db_host *out, bool uncertain)
{
	int rc = maria_host_get(&s->base, fqdn, out);

	out->leased = true;
	out->uncertain = uncertain;
	return rc;
}

/* Takes the lease of `fqdn` inside the caller's transaction, reading the row into *out:
 * *busy when another holder's lease runs, or another transaction is inserting one
 * right now (nothing taken). */
static int
lease_take(struct db_mariadb *s, const char *fqdn, int64_t token, struct db_host *out, bool *busy)
{
	int64_t now = clock_wall_ms(), until;
	long long lease_until = 0;
	int rc = maria_host_get(&s->base, fqdn, out);

	*busy = false;
	if (rc != 0)
		return rc;
	until = now + 1000 * (int64_t)s->cfg->dns.dns_timeout + DB_LEASE_SLACK_MS;
	{
		const struct param p[] = {P_INT(out->id)};

		rc = query_int(s, ST_LEASE_GET, p, NPARAM(p), &lease_until);
	}
	if (rc == ERR_NOTFOUND) {
		const struct param p[] = {P_INT(out->id), P_INT(until), P_INT(token)};

		rc = run(s, ST_LEASE_ADD, p, NPARAM(p), NULL);
		if (rc == ERR_EXISTS) { /* a concurrent holder inserted it first */
			*busy = true;
			return 0;
		}
		return rc != 0 ? rc : lease_reread(s, fqdn, out, false);
	}
	if (rc != 0)
		return rc;
	if (lease_until > now) {
		*busy = true;
		return 0;
	}
	{
		const struct param p[] = {P_INT(until), P_INT(token), P_INT(out->id)};

		rc = run(s, ST_LEASE_TAKE, p, NPARAM(p), NULL);
	}
	return rc != 0 ? rc : lease_reread(s, fqdn, out, true);
}

/* One attempt of host_lock: *busy when another holder has the lease. */
static int
lock_once(struct db_mariadb *s, const char *fqdn, int64_t token, struct db_host *out, bool *busy)
{
	int rc;

	s->lost = false;
	s->conflict = false;
	if ((rc = ensure_connected(s)) != 0 || (rc = tx_begin(s)) != 0)
		return rc;
	rc = lease_take(s, fqdn, token, out, busy);
	if (rc == 0 && !*busy)
		return tx_commit(s);
	(void)maria_rollback_tx(s);
	return rc;
}

/* Whether a failed attempt may simply be run again: the connection was found gone
 * before anything was written (a server restart since the last use), or a deadlock or
 * certification conflict rolled the transaction back. */
static bool
is_retryable(const struct db_mariadb *s, int rc)
{
	return rc == ERR_DB && (s->lost || s->conflict);
}

/* Sleeps one poll interval; false once `start` (mono ms) is longer ago than the lock
 * wait (dns_timeout plus slack, as InnoDB's lock wait was). */
static bool
lease_wait(const struct db_mariadb *s, int64_t start)
{
	struct timespec pause = {0, MARIADB_LEASE_POLL_MS * 1000000L};

	if (clock_mono_ms() - start >= 1000 * (int64_t)s->lock_wait)
		return false;
	nanosleep(&pause, NULL);
	return true;
}

static int
maria_host_lock(struct db *db, const char *fqdn, struct db_host *out)
{
	struct db_mariadb *s = to_maria(db);
	int64_t start = clock_mono_ms();
	int tries = 0, rc;

	if (s->in_tx || s->leased)
		return ERR_INTERNAL;
	for (;;) {
		int64_t token = lease_token();
		bool busy = false;

		rc = lock_once(s, fqdn, token, out, &busy);
		if (rc == 0 && !busy) {
			s->leased = true;
			s->lease_host = out->id;
			s->lease_token = token;
			return 0;
		}
		if (rc != 0 && (!is_retryable(s, rc) || ++tries > MARIADB_CONFLICT_RETRIES))
			return rc;
		if (!lease_wait(s, start)) {
			log_warnx("mariadb %s: %s: another update holds it for too long", s->where,
				  fqdn);
			return ERR_DB;
		}
	}
}

/* Ends the critical section without writing; the lease goes (ST_LEASE_DEL) or lapses
 * (ST_LEASE_LAPSE). A failure leaves the lease to lapse on its own. */
static int
rollback_lease(struct db_mariadb *s, enum stmt_id end)
{
	int rc = maria_rollback_tx(s);
	bool mine;

	if (s->leased) {
		s->leased = false;
		if (s->m != NULL)
			(void)lease_end(s, end, s->lease_host, s->lease_token, &mine);
	}
	return rc;
}

static int
maria_rollback(struct db *db)
{
	return rollback_lease(to_maria(db), ST_LEASE_DEL);
}

static int
maria_rollback_uncertain(struct db *db)
{
	return rollback_lease(to_maria(db), ST_LEASE_LAPSE);
}

static int
maria_commit(struct db *db)
{
	struct db_mariadb *s = to_maria(db);
	bool mine = true;
	int rc;

	if (!s->leased && !s->in_tx)
		return ERR_INTERNAL;
	rc = lease_tx(s);
	if (rc == 0 && s->leased)
		rc = lease_end(s, ST_LEASE_DEL, s->lease_host, s->lease_token, &mine);
	if (rc == 0 && !mine) {
		log_warnx("mariadb %s: host %lld: the lease lapsed and was taken over before "
			  "the commit; nothing written",
			  s->where, (long long)s->lease_host);
		rc = ERR_DB;
	}
	if (rc == 0)
		rc = tx_commit(s);
	if (rc != 0)
		(void)maria_rollback_tx(s);
	s->leased = false;
	return rc;
}

/* ---- leases of many hosts (the zone writers) ---- */

static int
lease_many_once(struct db_mariadb *s, struct db_lease *l, size_t n)
{
	int64_t token = lease_token();
	int rc;

	s->lost = false;
	s->conflict = false;
	if ((rc = ensure_connected(s)) != 0 || (rc = tx_begin(s)) != 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bool busy = false;

		l[i].token = token;
		rc = lease_take(s, l[i].fqdn, token, &l[i].row, &busy);
		if (rc == ERR_NOTFOUND) {
			l[i].state = DB_LEASE_NOHOST;
			rc = 0;
		} else {
			l[i].state = busy ? DB_LEASE_BUSY : DB_LEASE_HELD;
		}
	}
	if (rc == 0)
		return tx_commit(s);
	(void)maria_rollback_tx(s);
	return rc;
}

/* Before the next attempt after a conflict (a Galera certification failure: several
 * instances writing the same lease rows through different nodes): a random pause that
 * grows with the attempts, so that the instances do not collide again in lockstep. */
static void
conflict_pause(int tries)
{
	uint32_t r = 0;
	struct timespec ts;

	(void)getrandom(&r, sizeof(r), 0);
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(r % (uint32_t)(tries * 2000 + 1)) * 1000L; /* < 2 ms per try */
	nanosleep(&ts, NULL);
}

static int
maria_host_lease_many(struct db *db, struct db_lease *l, size_t n)
{
	struct db_mariadb *s = to_maria(db);
	int rc, tries = 0;

	if (s->in_tx || s->leased)
		return ERR_INTERNAL;
	while ((rc = lease_many_once(s, l, n)) != 0 && is_retryable(s, rc) &&
	       ++tries <= MARIADB_CONFLICT_RETRIES)
		conflict_pause(tries);
	return rc;
}

/* One host of host_end_many, inside its transaction. */
static int
end_one(struct db_mariadb *s, struct db_host_end *e)
{
	bool mine = false;
	int rc = lease_end(s, e->how == DB_END_UNCERTAIN ? ST_LEASE_LAPSE : ST_LEASE_DEL,
			   e->host_id, e->token, &mine);

	e->lost = rc == 0 && !mine;
	if (rc != 0 || e->lost || e->how != DB_END_COMMIT)
		return rc;
	if (e->expire_families)
		rc = maria_host_expire(&s->base, e->host_id, e->expire_families, e->now,
				       &e->claimed);
	if (rc == 0 && e->set_families)
		rc = maria_host_set_addr(&s->base, e->host_id, e->set_families,
					 e->ipv4 ? e->ipv4 : "", e->ipv6 ? e->ipv6 : "", e->now);
	if (rc == 0 && e->touch_families)
		rc = maria_host_touch(&s->base, e->host_id, e->touch_families, e->now);
	if (rc == 0 && e->offline_families)
		rc = maria_host_set_offline(&s->base, e->host_id, e->offline_families);
	/* A host deleted under its lease has nothing left to write. */
	return rc == ERR_NOTFOUND ? 0 : rc;
}

static int
end_many_once(struct db_mariadb *s, struct db_host_end *e, size_t n)
{
	int rc;

	s->lost = false;
	s->conflict = false;
	if ((rc = ensure_connected(s)) != 0 || (rc = tx_begin(s)) != 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = end_one(s, &e[i]);
	if (rc == 0)
		return tx_commit(s);
	(void)maria_rollback_tx(s);
	return rc;
}

static int
maria_host_end_many(struct db *db, struct db_host_end *e, size_t n)
{
	struct db_mariadb *s = to_maria(db);
	int rc, tries = 0;

	if (s->in_tx || s->leased)
		return ERR_INTERNAL;
	/* A rolled-back attempt wrote nothing, so running it again is safe. */
	while ((rc = end_many_once(s, e, n)) != 0 && is_retryable(s, rc) &&
	       ++tries <= MARIADB_CONFLICT_RETRIES)
		conflict_pause(tries);
	if (rc != 0)
		for (size_t i = 0; i < n; i++)
			e[i].claimed = 0;
	return rc;
}

static int
maria_host_lapsed(struct db *db, int64_t now_ms, int64_t limit, struct db_host **out, size_t *len)
{
	const struct param p[] = {P_INT(now_ms), P_INT(limit)};
	void *rows = NULL;
	int rc = collect(to_maria(db), ST_LEASE_LAPSED, p, NPARAM(p), sizeof(**out), read_host,
			 &rows, len);

	if (rc == 0)
		*out = rows;
	return rc;
}

static int
maria_host_count(struct db *db, int64_t *out)
{
	long long v = 0;
	int rc = query_int(to_maria(db), ST_HOST_COUNT, NULL, 0, &v);

	if (rc == 0)
		*out = (int64_t)v;
	return rc == ERR_NOTFOUND ? ERR_DB : rc;
}

/* Connects with every timeout at `secs` (the client library counts whole seconds). */
static int
ping_connect(MYSQL *m, const struct config *cfg, unsigned int secs)
{
	const char *sock = cfg->database.socket;

	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
	mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &secs);
	mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &secs);
	return mysql_real_connect(m, sock ? "localhost" : cfg->database.host, cfg->database.user,
				  cfg->database.password, cfg->database.name,
				  sock ? 0 : (unsigned int)cfg->database.port, sock, 0) != NULL
		       ? 0
		       : ERR_DB;
}

/* A connection of its own with short timeouts: a worker's connection would wait out
 * read timeouts made for lock waits. A server that cannot be reached in time is not
 * healthy, and neither is one that answers late. */
static int
maria_ping(const struct config *cfg, int timeout_ms, char *why, size_t len)
{
	int64_t start = clock_mono_ms();
	MYSQL *m = NULL;
	MYSQL_RES *res = NULL;
	int rc = ERR_DB;

	pthread_once(&library_once, library_init);
	if (library_rc != 0 || (m = mysql_init(NULL)) == NULL) {
		snprintf(why, len, "mariadb: the client library failed");
		return ERR_DB;
	}
	if (ping_connect(m, cfg, (unsigned int)(timeout_ms + 999) / 1000) != 0)
		snprintf(why, len, "mariadb: cannot connect: %s", mysql_error(m));
	else if (mysql_query(m, "SELECT coalesce(max(version), 0) FROM schema_version") != 0 ||
		 (res = mysql_store_result(m)) == NULL)
		snprintf(why, len, "mariadb: %s", mysql_error(m));
	else
		rc = 0;
	mysql_free_result(res);
	mysql_close(m);
	if (rc == 0 && clock_mono_ms() - start > timeout_ms) {
		snprintf(why, len, "mariadb: answered after %lld ms",
			 (long long)(clock_mono_ms() - start));
		rc = ERR_TIMEOUT;
	}
	return rc;
}

/* ---- ACME challenge values ---- */

static int
maria_acme_add(struct db *db, int64_t host_id, const char *value, int64_t now)
{
	const struct param p[] = {P_INT(host_id), P_TEXT(value), P_INT(now)};
	int rc = lease_tx(to_maria(db));

	/* A host that vanished fails the foreign key: ERR_NOTFOUND. */
	return rc != 0 ? rc : run(to_maria(db), ST_ACME_ADD, p, NPARAM(p), NULL);
}

static int
maria_acme_get(struct db *db, int64_t host_id, const char *value, int64_t *created)
{
	const struct param p[] = {P_INT(host_id), P_TEXT(value)};
	long long v = 0;
	int rc = query_int(to_maria(db), ST_ACME_GET, p, NPARAM(p), &v);

	if (rc == 0)
		*created = (int64_t)v;
	return rc;
}

static int
maria_acme_delete(struct db *db, int64_t host_id, const char *value)
{
	const struct param p[] = {P_INT(host_id), P_TEXT(value)};

	return host_write(to_maria(db), ST_ACME_DELETE, p, NPARAM(p));
}

static int
maria_acme_count(struct db *db, int64_t host_id, int64_t *count)
{
	const struct param p[] = {P_INT(host_id)};
	long long v = 0;
	int rc = query_int(to_maria(db), ST_ACME_COUNT, p, NPARAM(p), &v);

	if (rc == 0)
		*count = (int64_t)v;
	return rc;
}

static int
read_acme(const struct row *r, void *row)
{
	struct db_acme *a = row;

	memset(a, 0, sizeof(*a));
	a->host_id = col_int(&r->c[0]);
	a->created = col_int(&r->c[4]);
	if (col_text(&r->c[1], a->fqdn, sizeof(a->fqdn)) != 0 ||
	    col_text(&r->c[2], a->zone, sizeof(a->zone)) != 0 ||
	    col_text(&r->c[3], a->value, sizeof(a->value)) != 0)
		return ERR_DB;
	return 0;
}

static int
maria_acme_due(struct db *db, int64_t before, int64_t limit, struct db_acme **out, size_t *len)
{
	const struct param p[] = {P_INT(before), P_INT(limit)};
	void *rows = NULL;
	int rc = collect(to_maria(db), ST_ACME_DUE, p, NPARAM(p), sizeof(**out), read_acme, &rows,
			 len);

	if (rc == 0)
		*out = rows;
	return rc;
}

const struct db_ops db_mariadb_ops = {
	.name = "mariadb",
	.open = maria_open,
	.close = maria_close,
	.migrate = maria_migrate,
	.schema_version = maria_schema_version,
	.user_add = maria_user_add,
	.user_get = maria_user_get,
	.user_list = maria_user_list,
	.user_delete = maria_user_delete,
	.user_set_password = maria_user_set_password,
	.user_set_email = maria_user_set_email,
	.host_add = maria_host_add,
	.host_get = maria_host_get,
	.host_list = maria_host_list,
	.host_set_ttls = maria_host_set_ttls,
	.host_delete = maria_host_delete,
	.host_set_addr = maria_host_set_addr,
	.host_set_iid = maria_host_set_iid,
	.host_set_offline = maria_host_set_offline,
	.host_sole = maria_host_sole,
	.host_touch = maria_host_touch,
	.host_touch_live = maria_host_touch_live,
	.host_due = maria_host_due,
	.host_expire = maria_host_expire,
	.host_lock = maria_host_lock,
	.token_add = maria_token_add,
	.token_find = maria_token_find,
	.token_list = maria_token_list,
	.token_delete = maria_token_delete,
	.commit = maria_commit,
	.rollback = maria_rollback,
	.rollback_uncertain = maria_rollback_uncertain,
	.host_lease_many = maria_host_lease_many,
	.host_end_many = maria_host_end_many,
	.host_lapsed = maria_host_lapsed,
	.host_count = maria_host_count,
	.ping = maria_ping,
	.acme_add = maria_acme_add,
	.acme_get = maria_acme_get,
	.acme_delete = maria_acme_delete,
	.acme_count = maria_acme_count,
	.acme_due = maria_acme_due,
};
