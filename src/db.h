/* SPDX-License-Identifier: MIT */
/* Storage: users and hostnames behind a backend table of function pointers
 * (SQLite built in, MariaDB optional). One `struct db` is one connection: use it from
 * one thread at a time (the daemon keeps one per worker thread). */
#ifndef DB_H
#define DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "build_config.h"

#include "addr.h"
#include "auth.h"
#include "config.h"
#include "hostname.h"

#define DB_SCHEMA_VERSION 5

struct db_user {
	int64_t id;
	char name[AUTH_USERNAME_MAX + 1];
	char email[AUTH_EMAIL_MAX + 1];
	char pw_hash[AUTH_PHC_MAX];
	int64_t created; /* unix time */
};

/* One address family's state of a host. */
struct db_rr {
	char ip[ADDR_STRLEN]; /* last published address, "" if never */
	int64_t updated;      /* unix time of the last good/nochg, 0 if never */
	bool expired;	      /* deleted from DNS by the expiry pass, or by offline=YES */
	bool offline;	      /* deleted by offline=YES (then `expired` is set as well, so
			       * every rule about deleted families applies) */
};

struct db_host {
	int64_t id;
	int64_t user_id;
	char owner[AUTH_USERNAME_MAX + 1];
	char owner_email[AUTH_EMAIL_MAX + 1]; /* read with the row: the expiry mail's address */
	char hostname[HOSTNAME_MAX + 1];      /* A-label, lower-case, e.g. "home" */
	char zone[HOSTNAME_MAX + 1];	      /* "dyn.example.com" */
	char fqdn[HOSTNAME_MAX + 1];	      /* "home.dyn.example.com" (unique) */
	int dns_ttl;
	int expiry_ttl; /* 0 = never expires */
	/* The host's IPv6 interface identifier, canonical text ("" = none): completes a
	 * prefix a router sends ("2001:db8:1:2::/64") to the host's address. */
	char ipv6_iid[ADDR_STRLEN];
	struct db_rr v4, v6;
	int64_t created;
};

enum db_family { DB_V4 = 1, DB_V6 = 2 };

#define DB_TOKEN_HASH_LEN 64  /* a token's SHA-256 in lower-case hex */
#define DB_TOKEN_NOTE_MAX 200 /* bytes of a token's note */

/* A host's update token. The secret itself is never stored, only its SHA-256 (`hash`,
 * the input of token_add; what the other operations read leave it ""). The host's
 * fqdn, owner and the owner's e-mail are read with the row. */
struct db_token {
	int64_t id;
	int64_t host_id;
	char hash[DB_TOKEN_HASH_LEN + 1];
	char fqdn[HOSTNAME_MAX + 1];
	char owner[AUTH_USERNAME_MAX + 1];
	char owner_email[AUTH_EMAIL_MAX + 1];
	char note[DB_TOKEN_NOTE_MAX + 1];
	int64_t created; /* unix time */
};

#define DB_ACME_VALUE_MAX 255 /* bytes of an ACME challenge value (one TXT string) */

/* An ACME challenge value published at _acme-challenge.<host> (acme_service.h): recorded
 * at present, deleted at cleanup, by `hostname delete` (with the host) or by the expiry
 * pass once it is older than [acme] max_age. */
struct db_acme {
	int64_t host_id;
	char fqdn[HOSTNAME_MAX + 1]; /* the host's fqdn, not the challenge name */
	char zone[HOSTNAME_MAX + 1];
	char value[DB_ACME_VALUE_MAX + 1];
	int64_t created; /* unix time of the (last) present */
};

/* db_host_due_families: the families (DB_V4|DB_V6) of `h` that are due to expire at
 * `now`: published (an address, not marked expired), the host expires at all
 * (expiry_ttl > 0), and the last update (good or nochg) expiry_ttl seconds or more
 * before `now`. The one definition of "due" besides the backends' deadline columns:
 * the expiry pass deletes what it returns, and an update republishes it. */
int db_host_due_families(const struct db_host *h, int64_t now);

struct db;

/* What each backend fills in. All return 0 or a negative ERR_* code:
 * ERR_NOTFOUND, ERR_EXISTS (unique violation), ERR_BUSY, ERR_DB (retryable failure).
 * The comments state the contract callers see through the db_* front functions. db.c
 * keeps the parts of it that are not SQL, once for every backend: it refuses bad
 * arguments (ERR_INVAL, ERR_TOOBIG) and fills the defaults before an operation runs.
 * A backend therefore sees only valid family masks; non-NULL addresses ("" for none,
 * those of host_set_addr shorter than ADDR_STRLEN); *touched and *claimed already 0;
 * a user's `created` and a host's `created`, `fqdn` and `user_id` (the owner resolved
 * by name) filled in; and a limit that fits SQL's LIMIT. */
struct db_ops {
	const char *name;
	int (*open)(const struct config *cfg, struct db **out);
	void (*close)(struct db *db);
	/* Creates or migrates the schema inside one transaction. */
	int (*migrate)(struct db *db);
	int (*schema_version)(struct db *db, int *version);

	/* u->id is ignored; u->created 0 = now (db.c). */
	int (*user_add)(struct db *db, const struct db_user *u);
	int (*user_get)(struct db *db, const char *name, struct db_user *out);
	/* *out is malloc'ed, ordered by name; caller frees. */
	int (*user_list)(struct db *db, struct db_user **out, size_t *len);
	/* ERR_BUSY while the user owns hostnames. */
	int (*user_delete)(struct db *db, const char *name);
	int (*user_set_password)(struct db *db, const char *name, const char *pw_hash);
	int (*user_set_email)(struct db *db, const char *name, const char *email);

	/* ERR_NOTFOUND when the owner does not exist, ERR_EXISTS for a duplicate fqdn.
	 * The owner is h->owner by name (h->user_id when owner is ""); the fqdn is h->fqdn
	 * (hostname.zone when "", ERR_TOOBIG when that is too long); h->created 0 = now;
	 * h->ipv6_iid as host_set_iid takes it; addresses start unset. (db.c resolves the
	 * owner and fills fqdn and created; the backend inserts h->user_id.) */
	int (*host_add)(struct db *db, const struct db_host *h);
	int (*host_get)(struct db *db, const char *fqdn, struct db_host *out);
	/* user NULL = all hosts; ordered by fqdn; *out malloc'ed, caller frees. */
	int (*host_list)(struct db *db, const char *user, struct db_host **out, size_t *len);
	int (*host_set_ttls)(struct db *db, const char *fqdn, int dns_ttl, int expiry_ttl);
	int (*host_delete)(struct db *db, const char *fqdn);
	/* Records a published address for the families in `families` (DB_V4|DB_V6):
	 * ip, updated = now, expired = offline = false. ip may be "" to record a deletion.
	 * ERR_INVAL for a bad mask or a named family without its ip (NULL), ERR_TOOBIG
	 * for an ip of ADDR_STRLEN bytes or more. */
	int (*host_set_addr)(struct db *db, int64_t host_id, int families, const char *ipv4,
			     const char *ipv6, int64_t now);
	/* Records the IPv6 interface identifier of host `fqdn`: "" for none, else an IPv6
	 * address (db.c refuses anything else with ERR_INVAL), stored as given (callers
	 * pass canonical text). ERR_NOTFOUND when there is no such host. */
	int (*host_set_iid)(struct db *db, const char *fqdn, const char *iid);
	/* offline=YES after its DNS delete: marks `families` deleted (expired: no
	 * deadline, so expiry neither deletes nor mails them) and offline. Addresses and
	 * update times stay; host_set_addr of a family ends both marks. */
	int (*host_set_offline)(struct db *db, int64_t host_id, int families);
	/* The host `user` owns when it owns exactly one (a request that names no host):
	 * 0 and *out, ERR_NOTFOUND when it owns none, ERR_EXISTS when several. */
	int (*host_sole)(struct db *db, const char *user, struct db_host *out);
	/* nochg: refreshes `updated` for `families` without changing addresses. Leaves
	 * `expired` alone: only host_set_addr brings an expired family back. */
	int (*host_touch)(struct db *db, int64_t host_id, int families, int64_t now);
	/* nochg without the per-host lock: refreshes `updated` of each family in
	 * `families` only where the row still holds that address (ipv4/ipv6), live and
	 * not due at `now` — i.e. where the unlocked decision still holds. *touched gets
	 * the families refreshed; the caller takes the locked path for the others. */
	int (*host_touch_live)(struct db *db, int64_t host_id, int families, const char *ipv4,
			       const char *ipv6, int64_t now, int *touched);
	/* Hosts with at least one live family whose updated + expiry_ttl <= now
	 * (expiry_ttl > 0), at most `limit`, ordered by id, cost proportional to the
	 * result (index). Expired families and deleted ("") addresses are never due. */
	int (*host_due)(struct db *db, int64_t now, int64_t limit, struct db_host **out,
			size_t *len);
	/* Marks `families` expired, but only where the family is still due at `now`
	 * (a concurrent update wins). *claimed gets the families actually marked. */
	int (*host_expire)(struct db *db, int64_t host_id, int families, int64_t now, int *claimed);

	/* The per-host critical section of an update or an expiry (DNS and database must
	 * change together): locks the host against every other writer of it (SQLite: a
	 * lease row, the writes then go into one transaction opened at the first write;
	 * MariaDB: a transaction with SELECT ... FOR UPDATE, an InnoDB lock on the host's
	 * row) and reads the row afresh into *out. On 0 the caller holds the lock and must
	 * end it with commit (the writes and the release in one step) or rollback; other
	 * operations on this handle run inside it. On any
	 * error (ERR_NOTFOUND included) no transaction is left open. Waiting for the lock
	 * is bounded (busy timeout, innodb_lock_wait_timeout: dns_timeout plus slack),
	 * then ERR_DB. Hold it for one host's DNS exchange at most. */
	int (*host_lock)(struct db *db, const char *fqdn, struct db_host *out);
	/* A token for the host t->fqdn with t->hash, t->note and t->created (0 = now):
	 * *id gets its id. ERR_NOTFOUND when there is no such host (db.c resolves it into
	 * t->host_id; the backend inserts that), ERR_EXISTS for a hash already stored,
	 * ERR_INVAL for a hash that is not DB_TOKEN_HASH_LEN lower-case hex digits,
	 * ERR_TOOBIG for a note longer than DB_TOKEN_NOTE_MAX. A host's tokens are deleted
	 * with it (host_delete, in the same transaction). */
	int (*token_add)(struct db *db, const struct db_token *t, int64_t *id);
	/* The token whose hash is `hash`, by a unique index (the cost does not grow with
	 * the table); ERR_NOTFOUND when there is none (also for a malformed hash). */
	int (*token_find)(struct db *db, const char *hash, struct db_token *out);
	/* The tokens of `user`'s hosts (NULL = all), ordered by fqdn then id; *out
	 * malloc'ed, caller frees. */
	int (*token_list)(struct db *db, const char *user, struct db_token **out, size_t *len);
	/* ERR_NOTFOUND when there is no token `id`. */
	int (*token_delete)(struct db *db, int64_t id);

	/* Ends the transaction of host_lock. commit: ERR_DB when it failed (then nothing
	 * was committed, unless the connection broke during the commit itself). rollback:
	 * always ends the transaction; without one it does nothing. */
	int (*commit)(struct db *db);
	int (*rollback)(struct db *db);

	/* The number of hostnames in *out. A full count (proportional to the table on
	 * both backends): for the daemon's periodic work, never per request. */
	int (*host_count)(struct db *db, int64_t *out);
	/* Whether the database of `cfg` answers a trivial read (the schema version) within
	 * about `timeout_ms`, on a short-lived connection of its own: a worker's
	 * connection waits for locks and I/O far longer than a health check may (SQLite:
	 * a busy writer; MariaDB: read timeouts of dns_timeout + 25 s). Returns 0, or
	 * ERR_DB / ERR_TIMEOUT with the reason in why (no password in it). */
	int (*ping)(const struct config *cfg, int timeout_ms, char *why, size_t len);
	/* ACME challenge values of a host (struct db_acme). The writes belong inside the
	 * host's critical section (host_lock), as its DNS change does; deleting the host
	 * deletes its values. acme_add records `value` with created = now, also when it
	 * is recorded already (a present again starts its max_age anew). acme_get: its
	 * created time, ERR_NOTFOUND. acme_delete: ERR_NOTFOUND when it was not recorded.
	 * acme_count: the values of a host. acme_due: values created at or before
	 * `before`, oldest first, at most `limit`, with the host's fqdn and zone; *out
	 * malloc'ed, caller frees. db.c refuses a value that is empty or longer than
	 * DB_ACME_VALUE_MAX (ERR_INVAL, ERR_TOOBIG). */
	int (*acme_add)(struct db *db, int64_t host_id, const char *value, int64_t now);
	int (*acme_get)(struct db *db, int64_t host_id, const char *value, int64_t *created);
	int (*acme_delete)(struct db *db, int64_t host_id, const char *value);
	int (*acme_count)(struct db *db, int64_t host_id, int64_t *count);
	int (*acme_due)(struct db *db, int64_t before, int64_t limit, struct db_acme **out,
			size_t *len);
	/* Optional (NULL: always usable, nothing to check). usable: false once an
	 * operation failed for a reason only a new connection can get over (SQLite: the
	 * file was not writable when the connection opened it, or its -wal/-shm files
	 * were not): the owner closes it and opens a new one for its next operation. */
	bool (*usable)(struct db *db);
	/* check_writable: whether this process can write the storage `cfg` names (SQLite:
	 * the file, its -wal and -shm files where they exist, and its directory), with
	 * each problem logged naming the file and the user. 0 or ERR_IO. */
	int (*check_writable)(const struct config *cfg);
};

/* db_open: opens the backend named by cfg->database (borrowed; must outlive the handle)
 * and applies pending migrations. With cfg->database.require_write (the daemon) a
 * SQLite database this process cannot write (the file, its -wal/-shm, its directory)
 * is not opened at all: ERR_IO, each file logged. A read-only connection would fail
 * every update, and keep later connections of the process read-only too. */
int db_open(const struct config *cfg, struct db **out);
void db_close(struct db *db);
/* db_is_usable: see struct db_ops.usable. A caller that keeps a connection across
 * requests asks before each one and reopens when it is false, so that a fixed file
 * mode is picked up without a restart. NULL: false. */
bool db_is_usable(struct db *db);
/* db_check_writable: see struct db_ops.check_writable; 0 for a backend without files. */
int db_check_writable(const struct config *cfg);

/* The front functions: the contracts of struct db_ops, their argument checks and
 * defaults done here (db.c), the SQL by the backend. A family mask other than DB_V4,
 * DB_V6 or both is ERR_INVAL. */
int db_schema_version(struct db *db, int *version);
int db_user_add(struct db *db, const struct db_user *u);
int db_user_get(struct db *db, const char *name, struct db_user *out);
int db_user_list(struct db *db, struct db_user **out, size_t *len);
int db_user_delete(struct db *db, const char *name);
int db_user_set_password(struct db *db, const char *name, const char *pw_hash);
int db_user_set_email(struct db *db, const char *name, const char *email);
int db_host_add(struct db *db, const struct db_host *h);
int db_host_get(struct db *db, const char *fqdn, struct db_host *out);
int db_host_list(struct db *db, const char *user, struct db_host **out, size_t *len);
int db_host_set_ttls(struct db *db, const char *fqdn, int dns_ttl, int expiry_ttl);
int db_host_delete(struct db *db, const char *fqdn);
int db_host_set_addr(struct db *db, int64_t host_id, int families, const char *ipv4,
		     const char *ipv6, int64_t now);
int db_host_set_iid(struct db *db, const char *fqdn, const char *iid);
int db_host_set_offline(struct db *db, int64_t host_id, int families);
int db_host_sole(struct db *db, const char *user, struct db_host *out);
int db_host_touch(struct db *db, int64_t host_id, int families, int64_t now);
int db_host_touch_live(struct db *db, int64_t host_id, int families, const char *ipv4,
		       const char *ipv6, int64_t now, int *touched);
int db_host_due(struct db *db, int64_t now, size_t limit, struct db_host **out, size_t *len);
int db_host_expire(struct db *db, int64_t host_id, int families, int64_t now, int *claimed);
int db_host_lock(struct db *db, const char *fqdn, struct db_host *out);
int db_token_add(struct db *db, const struct db_token *t, int64_t *id);
int db_token_find(struct db *db, const char *hash, struct db_token *out);
int db_token_list(struct db *db, const char *user, struct db_token **out, size_t *len);
int db_token_delete(struct db *db, int64_t id);
int db_commit(struct db *db);
int db_rollback(struct db *db);
int db_host_count(struct db *db, int64_t *out);
/* db_ping: the ping of cfg's backend (no struct db needed); ERR_INVAL when it is not
 * built. */
int db_ping(const struct config *cfg, int timeout_ms, char *why, size_t len);
int db_acme_add(struct db *db, int64_t host_id, const char *value, int64_t now);
int db_acme_get(struct db *db, int64_t host_id, const char *value, int64_t *created);
int db_acme_delete(struct db *db, int64_t host_id, const char *value);
int db_acme_count(struct db *db, int64_t host_id, int64_t *count);
int db_acme_due(struct db *db, int64_t before, size_t limit, struct db_acme **out, size_t *len);

/* For backends: a growable array of fixed-size rows (`size` bytes each) for the list
 * operations. db_rows_push returns a pointer to a new (uninitialised) row at the end
 * (the caller fills it), or NULL when out of memory; `data` is malloc'ed. */
struct db_rows {
	void *data;
	size_t len, cap, size;
};
void *db_rows_push(struct db_rows *r);
/* db_rows_finish: ends a list operation whose result so far is `err`: on an error frees
 * the rows and returns it; on 0 hands them over (*out, caller frees; *len). */
int db_rows_finish(struct db_rows *r, int err, void **out, size_t *len);

/* Every backend's struct db begins with this, so db.c can dispatch. */
struct db {
	const struct db_ops *ops;
};

extern const struct db_ops db_sqlite_ops;
/* The SQL of the SQLite backend's host_due query (?1 = now, ?2 = limit), so a test can
 * check its EXPLAIN QUERY PLAN. */
extern const char db_sqlite_due_sql[];
#if HAVE_MARIADB
extern const struct db_ops db_mariadb_ops;
/* The MariaDB backend's host_due query (now, now, limit), for its EXPLAIN in a test. */
extern const char db_mariadb_due_sql[];
#endif

#endif
