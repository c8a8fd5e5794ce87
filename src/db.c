/* SPDX-License-Identifier: MIT */
/* The storage front: picks the backend named by the configuration, keeps the contracts
 * of db.h (argument checks and defaults, the same for every backend) and dispatches to
 * the backend's table of operations (struct db_ops), which only runs SQL. */
#include "db.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "log.h"

/* The backend table for cfg, or NULL (with the reason logged) when it is not built. */
static const struct db_ops *
backend_ops(const struct config *cfg)
{
	switch (cfg->database.backend) {
	case DB_BACKEND_SQLITE: return &db_sqlite_ops;
	case DB_BACKEND_MARIADB:
#if HAVE_MARIADB
		return &db_mariadb_ops;
#else
		/* config.c refuses this already; a caller that builds its own config
		 * gets the same answer here. */
		log_error("database backend 'mariadb' is not available in this build "
			  "(built without libmariadb; use backend = \"sqlite\")");
		return NULL;
#endif
	}
	log_error("unknown database backend %d", (int)cfg->database.backend);
	return NULL;
}

int
db_open(const struct config *cfg, struct db **out)
{
	const struct db_ops *ops = backend_ops(cfg);
	struct db *db = NULL;
	int rc;

	*out = NULL;
	if (ops == NULL)
		return ERR_INVAL;
	rc = ops->open(cfg, &db);
	if (rc != 0)
		return rc;
	rc = ops->migrate(db);
	if (rc != 0) {
		ops->close(db);
		return rc;
	}
	*out = db;
	return 0;
}

void
db_close(struct db *db)
{
	if (db != NULL)
		db->ops->close(db);
}

bool
db_is_usable(struct db *db)
{
	return db != NULL && (db->ops->usable == NULL || db->ops->usable(db));
}

int
db_check_writable(const struct config *cfg)
{
	const struct db_ops *ops = backend_ops(cfg);

	if (ops == NULL)
		return ERR_INVAL;
	return ops->check_writable ? ops->check_writable(cfg) : 0;
}

int
db_schema_version(struct db *db, int *version)
{
	return db->ops->schema_version(db, version);
}

int
db_user_add(struct db *db, const struct db_user *u)
{
	struct db_user row = *u;
	int rc;

	if (row.created == 0)
		row.created = (int64_t)time(NULL);
	rc = db->ops->user_add(db, &row);
	explicit_bzero(row.pw_hash, sizeof(row.pw_hash));
	return rc;
}

int
db_user_get(struct db *db, const char *name, struct db_user *out)
{
	return db->ops->user_get(db, name, out);
}

int
db_user_list(struct db *db, struct db_user **out, size_t *len)
{
	return db->ops->user_list(db, out, len);
}

int
db_user_delete(struct db *db, const char *name)
{
	return db->ops->user_delete(db, name);
}

int
db_user_set_password(struct db *db, const char *name, const char *pw_hash)
{
	return db->ops->user_set_password(db, name, pw_hash);
}

int
db_user_set_email(struct db *db, const char *name, const char *email)
{
	return db->ops->user_set_email(db, name, email);
}

/* The id of the user `name`: ERR_NOTFOUND when there is none. */
static int
owner_id(struct db *db, const char *name, int64_t *id)
{
	struct db_user u;
	int rc = db->ops->user_get(db, name, &u);

	if (rc == 0)
		*id = u.id;
	explicit_bzero(u.pw_hash, sizeof(u.pw_hash));
	return rc;
}

/* An interface identifier of the contract: "" (none) or an IPv6 address. */
static int
check_iid(const char *iid)
{
	struct addr a;

	if (strnlen(iid, ADDR_STRLEN) >= ADDR_STRLEN)
		return ERR_TOOBIG;
	if (iid[0] != '\0' && (addr_parse(iid, &a) != 0 || a.family != AF_INET6))
		return ERR_INVAL;
	return 0;
}

int
db_host_add(struct db *db, const struct db_host *h)
{
	struct db_host row = *h;
	int rc, n;

	if ((rc = check_iid(row.ipv6_iid)) != 0)
		return rc;

	if (row.owner[0] != '\0' && (rc = owner_id(db, row.owner, &row.user_id)) != 0)
		return rc;
	if (row.fqdn[0] == '\0') {
		n = snprintf(row.fqdn, sizeof(row.fqdn), "%s.%s", h->hostname, h->zone);
		if (n < 0 || (size_t)n >= sizeof(row.fqdn))
			return ERR_TOOBIG;
	}
	if (row.created == 0)
		row.created = (int64_t)time(NULL);
	return db->ops->host_add(db, &row);
}

int
db_host_get(struct db *db, const char *fqdn, struct db_host *out)
{
	return db->ops->host_get(db, fqdn, out);
}

int
db_host_list(struct db *db, const char *user, struct db_host **out, size_t *len)
{
	return db->ops->host_list(db, user, out, len);
}

int
db_host_set_ttls(struct db *db, const char *fqdn, int dns_ttl, int expiry_ttl)
{
	return db->ops->host_set_ttls(db, fqdn, dns_ttl, expiry_ttl);
}

int
db_host_delete(struct db *db, const char *fqdn)
{
	return db->ops->host_delete(db, fqdn);
}

/* A family mask of the contract: DB_V4, DB_V6 or both. */
static bool
families_ok(int families)
{
	return families > 0 && (families & ~(DB_V4 | DB_V6)) == 0;
}

/* An address that fits a row (ADDR_STRLEN); NULL counts as "". */
static bool
addr_fits(const char *ip)
{
	return ip == NULL || strnlen(ip, ADDR_STRLEN) < ADDR_STRLEN;
}

int
db_host_set_addr(struct db *db, int64_t host_id, int families, const char *ipv4, const char *ipv6,
		 int64_t now)
{
	if (!families_ok(families) || ((families & DB_V4) && ipv4 == NULL) ||
	    ((families & DB_V6) && ipv6 == NULL))
		return ERR_INVAL;
	if (!addr_fits(ipv4) || !addr_fits(ipv6))
		return ERR_TOOBIG;
	return db->ops->host_set_addr(db, host_id, families, ipv4 ? ipv4 : "", ipv6 ? ipv6 : "",
				      now);
}

int
db_host_set_iid(struct db *db, const char *fqdn, const char *iid)
{
	int rc = check_iid(iid ? iid : "");

	return rc != 0 ? rc : db->ops->host_set_iid(db, fqdn, iid ? iid : "");
}

int
db_host_set_offline(struct db *db, int64_t host_id, int families)
{
	if (!families_ok(families))
		return ERR_INVAL;
	return db->ops->host_set_offline(db, host_id, families);
}

int
db_host_sole(struct db *db, const char *user, struct db_host *out)
{
	return db->ops->host_sole(db, user, out);
}

int
db_host_touch(struct db *db, int64_t host_id, int families, int64_t now)
{
	if (!families_ok(families))
		return ERR_INVAL;
	return db->ops->host_touch(db, host_id, families, now);
}

int
db_host_touch_live(struct db *db, int64_t host_id, int families, const char *ipv4, const char *ipv6,
		   int64_t now, int *touched)
{
	*touched = 0;
	if (!families_ok(families))
		return ERR_INVAL;
	return db->ops->host_touch_live(db, host_id, families, ipv4 ? ipv4 : "", ipv6 ? ipv6 : "",
					now, touched);
}

int
db_host_count(struct db *db, int64_t *out)
{
	*out = 0;
	return db->ops->host_count(db, out);
}

int
db_ping(const struct config *cfg, int timeout_ms, char *why, size_t len)
{
	const struct db_ops *ops = backend_ops(cfg);

	if (len)
		why[0] = '\0';
	if (ops == NULL) {
		snprintf(why, len, "database backend not available");
		return ERR_INVAL;
	}
	return ops->ping(cfg, timeout_ms > 0 ? timeout_ms : 1, why, len);
}

int
db_host_due(struct db *db, int64_t now, size_t limit, struct db_host **out, size_t *len)
{
	/* SQL's LIMIT is a signed 64-bit integer. */
	return db->ops->host_due(db, now, limit > INT64_MAX ? INT64_MAX : (int64_t)limit, out, len);
}

int
db_host_expire(struct db *db, int64_t host_id, int families, int64_t now, int *claimed)
{
	*claimed = 0;
	if (!families_ok(families))
		return ERR_INVAL;
	return db->ops->host_expire(db, host_id, families, now, claimed);
}

int
db_host_lock(struct db *db, const char *fqdn, struct db_host *out)
{
	return db->ops->host_lock(db, fqdn, out);
}

/* DB_TOKEN_HASH_LEN lower-case hex digits: what token.c's hash gives. */
static bool
is_token_hash(const char *h)
{
	size_t n = strnlen(h, DB_TOKEN_HASH_LEN + 1);

	if (n != DB_TOKEN_HASH_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return true;
}

int
db_token_add(struct db *db, const struct db_token *t, int64_t *id)
{
	struct db_token row = *t;
	struct db_host h;
	int rc;

	*id = 0;
	if (!is_token_hash(row.hash))
		return ERR_INVAL;
	if (strnlen(row.note, sizeof(row.note)) > DB_TOKEN_NOTE_MAX)
		return ERR_TOOBIG;
	if ((rc = db->ops->host_get(db, row.fqdn, &h)) != 0)
		return rc;
	row.host_id = h.id;
	if (row.created == 0)
		row.created = (int64_t)time(NULL);
	return db->ops->token_add(db, &row, id);
}

int
db_token_find(struct db *db, const char *hash, struct db_token *out)
{
	if (!is_token_hash(hash))
		return ERR_NOTFOUND;
	return db->ops->token_find(db, hash, out);
}

int
db_token_list(struct db *db, const char *user, struct db_token **out, size_t *len)
{
	return db->ops->token_list(db, user, out, len);
}

int
db_token_delete(struct db *db, int64_t id)
{
	return db->ops->token_delete(db, id);
}

int
db_commit(struct db *db)
{
	return db->ops->commit(db);
}

int
db_rollback(struct db *db)
{
	return db->ops->rollback(db);
}

/* An ACME value that fits its column: 1..DB_ACME_VALUE_MAX bytes. */
static int
check_acme_value(const char *value)
{
	size_t n = value ? strnlen(value, DB_ACME_VALUE_MAX + 1) : 0;

	if (n == 0)
		return ERR_INVAL;
	return n > DB_ACME_VALUE_MAX ? ERR_TOOBIG : 0;
}

int
db_acme_add(struct db *db, int64_t host_id, const char *value, int64_t now)
{
	int rc = check_acme_value(value);

	return rc != 0 ? rc : db->ops->acme_add(db, host_id, value, now);
}

int
db_acme_get(struct db *db, int64_t host_id, const char *value, int64_t *created)
{
	int rc = check_acme_value(value);

	*created = 0;
	return rc != 0 ? rc : db->ops->acme_get(db, host_id, value, created);
}

int
db_acme_delete(struct db *db, int64_t host_id, const char *value)
{
	int rc = check_acme_value(value);

	return rc != 0 ? rc : db->ops->acme_delete(db, host_id, value);
}

int
db_acme_count(struct db *db, int64_t host_id, int64_t *count)
{
	*count = 0;
	return db->ops->acme_count(db, host_id, count);
}

int
db_acme_due(struct db *db, int64_t before, size_t limit, struct db_acme **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	return db->ops->acme_due(db, before, limit > INT64_MAX ? INT64_MAX : (int64_t)limit, out,
				 len);
}

/* A family is due when it is published, the host expires at all, and its last update
 * is expiry_ttl seconds or more in the past. */
static bool
is_rr_due(const struct db_rr *rr, int expiry_ttl, int64_t now)
{
	return rr->ip[0] != '\0' && !rr->expired && expiry_ttl > 0 &&
	       rr->updated <= now - expiry_ttl;
}

int
db_host_due_families(const struct db_host *h, int64_t now)
{
	int fam = 0;

	if (is_rr_due(&h->v4, h->expiry_ttl, now))
		fam |= DB_V4;
	if (is_rr_due(&h->v6, h->expiry_ttl, now))
		fam |= DB_V6;
	return fam;
}

void *
db_rows_push(struct db_rows *r)
{
	if (r->len == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		void *n = reallocarray(r->data, ncap, r->size);

		if (n == NULL)
			return NULL;
		r->data = n;
		r->cap = ncap;
	}
	return (char *)r->data + r->size * r->len++;
}

int
db_rows_finish(struct db_rows *r, int err, void **out, size_t *len)
{
	if (err != 0) {
		free(r->data);
		r->data = NULL;
		return err;
	}
	*out = r->data;
	*len = r->len;
	return 0;
}
