/* SPDX-License-Identifier: MIT */
/* One ACME API request end to end: the order of checks, the DNS-before-database rule
 * inside the host's critical section, and the JSON reply. HTTP lives in http.c; the
 * pure rules in acme.c. */
#include "acme_service.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "buf.h"
#include "dns.h"
#include "err.h"
#include "log.h"
#include "ratelimit.h"

#define ACME_ERROR_MAX 240 /* bytes of the reason a client reads */

/* What a request came to, before it is formatted. */
struct outcome {
	int status;
	bool challenge;
	enum service_count count;
	const char *result;	    /* for the request log */
	char error[ACME_ERROR_MAX]; /* for the client; "" on success */
	char name[HOSTNAME_MAX + 1];
};

/* Who the credentials belong to: a user (every host of theirs) or, with a per-host
 * token, one host only. */
struct identity {
	char user[AUTH_USERNAME_MAX + 1];
	char only_host[HOSTNAME_MAX + 1]; /* "" = every host of `user` */
};

static void fail(struct outcome *o, int status, enum service_count count, const char *result,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Records a failure: its status, how it counts, its log word and the client's reason. */
static void
fail(struct outcome *o, int status, enum service_count count, const char *result, const char *fmt,
     ...)
{
	va_list ap;

	o->status = status;
	o->count = count;
	o->result = result;
	va_start(ap, fmt);
	vsnprintf(o->error, sizeof(o->error), fmt, ap);
	va_end(ap);
}

static void
forbidden(struct outcome *o)
{
	fail(o, 403, SERVICE_COUNT_BAD, "forbidden",
	     "fqdn must be _acme-challenge.<host> for a host of yours");
}

static void
db_failed(struct outcome *o)
{
	fail(o, 500, SERVICE_COUNT_NONE, "911", "database error, try again later");
}

/* A user name for the log: only one that could be a user (no control characters). */
static const char *
log_user(const char *user)
{
	return user && auth_username_is_valid(user) ? user : "(invalid name)";
}

/* The one place that authenticates an ACME request: the update path's credential step
 * (a user's password, or a per-host token, which limits the request to its host).
 * Returns 0, ERR_AUTH or ERR_DB. */
static int
authenticate(const struct service_ctx *ctx, const struct acme_service_request *req,
	     struct identity *who)
{
	struct credentials c;
	int rc = service_authenticate(ctx, req->user, req->password, req->mono, &c);

	memset(who, 0, sizeof(*who));
	if (rc == 0 && (c.kind == CREDENTIALS_USER || c.kind == CREDENTIALS_HOST)) {
		snprintf(who->user, sizeof(who->user), "%s", c.user);
		if (c.kind == CREDENTIALS_HOST)
			snprintf(who->only_host, sizeof(who->only_host), "%s", c.fqdn);
	} else if (rc == 0) {
		rc = ERR_AUTH;
	} else {
		rc = ERR_DB;
	}
	credentials_wipe(&c);
	return rc;
}

static bool
owns(const struct identity *who, const struct db_host *row)
{
	return strcmp(row->owner, who->user) == 0 &&
	       (who->only_host[0] == '\0' || strcmp(who->only_host, row->fqdn) == 0);
}

/* The DNS server's failure in a few words for the client (the details go to the log:
 * they name our DNS server). */
static void
dns_failed(struct outcome *o, int rc, const struct dns_result *res)
{
	const char *why = "the DNS update failed";
	int len = (int)strcspn(res->msg, " ");

	if (rc == ERR_DNS) {
		const char *from = strstr(res->msg, " from ");

		len = from ? (int)(from - res->msg) : len;
		fail(o, 502, SERVICE_COUNT_NONE, "dnserr", "the DNS server answered %.*s", len,
		     res->msg);
		return;
	}
	if (rc == ERR_TIMEOUT)
		why = "the DNS server did not answer";
	else if (rc == ERR_IO)
		why = "the DNS server cannot be reached";
	else if (rc == ERR_CRYPTO)
		why = "the DNS server's reply did not verify";
	fail(o, 502, SERVICE_COUNT_NONE, "dnserr", "%s", why);
}

/* Sends one TXT change of `row`'s challenge name. 0 after NOERROR; otherwise the
 * failure is logged and, when `o` is given, recorded as a 502. */
static int
send_txt(const struct config *cfg, const struct db_host *row, enum dns_txt_action a,
	 const char *value, struct outcome *o)
{
	struct dns_server srv;
	const struct tsig_key *key = config_dns_server(cfg, row->zone, &srv);
	struct dns_change ch;
	struct dns_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = acme_txt_change(row->fqdn, row->zone, a, value, cfg->acme.txt_ttl, &ch);
	if (rc == 0)
		rc = dns_update(&srv, key, &ch, &res);
	if (rc != 0) {
		log_warnx("acme: %s.%s: DNS update failed: %s", ACME_LABEL, row->fqdn,
			  res.msg[0] ? res.msg : err_str(rc));
		if (o)
			dns_failed(o, rc, &res);
	}
	return rc;
}

/* Ends the critical section with the database write done; 0 or an error. */
static int
finish(struct db *db, int rc)
{
	if (rc == 0)
		return db_commit(db);
	(void)db_rollback(db);
	return rc;
}

/* Whether the host may take one more value: a value it holds already is always fine
 * (present is idempotent). 0, or 409/500 recorded in `o`. */
static int
check_room(struct db *db, const struct db_host *row, const char *value, struct outcome *o)
{
	int64_t created = 0, n = 0;
	int rc = db_acme_get(db, row->id, value, &created);

	if (rc == ERR_NOTFOUND && (rc = db_acme_count(db, row->id, &n)) == 0 &&
	    n >= ACME_HOST_VALUES_MAX) {
		fail(o, 409, SERVICE_COUNT_BAD, "conflict",
		     "the host holds %d challenge values already; clean up first",
		     ACME_HOST_VALUES_MAX);
		return ERR_BUSY;
	}
	if (rc != 0 && rc != ERR_NOTFOUND) {
		db_failed(o);
		return rc;
	}
	return 0;
}

/* present inside the critical section: DNS add, then the record. A record that fails
 * after the DNS server took the value takes the value back out, so that no value lives
 * in DNS that the expiry pass does not know of. */
static void
present_locked(const struct service_ctx *ctx, const struct acme_service_request *req,
	       const struct db_host *row, const char *value, struct outcome *o)
{
	int rc;

	if (check_room(ctx->db, row, value, o) != 0 ||
	    send_txt(ctx->cfg, row, DNS_TXT_ADD, value, o) != 0) {
		(void)db_rollback(ctx->db);
		return;
	}
	rc = finish(ctx->db, db_acme_add(ctx->db, row->id, value, req->now));
	if (rc != 0) {
		log_error("acme: %s: recording the value failed: %s; taking it out of DNS",
			  row->fqdn, err_str(rc));
		(void)send_txt(ctx->cfg, row, DNS_TXT_REMOVE, value, NULL);
		db_failed(o);
	}
}

/* cleanup inside the critical section: DNS delete, then the record (a value that was
 * never recorded is deleted from DNS all the same: cleanup deletes exactly what it
 * names). Should the record outlive a failed commit, the expiry pass deletes it. */
static void
cleanup_locked(const struct service_ctx *ctx, const struct db_host *row, const char *value,
	       struct outcome *o)
{
	int rc;

	if (send_txt(ctx->cfg, row, DNS_TXT_REMOVE, value, o) != 0) {
		(void)db_rollback(ctx->db);
		return;
	}
	rc = db_acme_delete(ctx->db, row->id, value);
	rc = finish(ctx->db, rc == ERR_NOTFOUND ? 0 : rc);
	if (rc != 0) {
		log_error("acme: %s: deleting the record failed: %s", row->fqdn, err_str(rc));
		db_failed(o);
	}
}

/* The change itself, in the host's critical section (db.h host_lock) like an update:
 * the row is read again and the owner checked again under the lock. */
static void
change_value(const struct service_ctx *ctx, const struct acme_service_request *req,
	     const struct identity *who, const char *host, const char *value, struct outcome *o)
{
	struct db_host row;
	int rc = db_host_lock(ctx->db, host, &row);

	if (rc == ERR_NOTFOUND) {
		forbidden(o);
		return;
	}
	if (rc != 0) {
		log_error("acme: %s: host lookup failed: %s", host, err_str(rc));
		db_failed(o);
		return;
	}
	if (!owns(who, &row)) {
		(void)db_rollback(ctx->db);
		forbidden(o);
		return;
	}
	if (req->op == ACME_OP_PRESENT)
		present_locked(ctx, req, &row, value, o);
	else
		cleanup_locked(ctx, &row, value, o);
	if (o->status == 200)
		log_info("acme: %s.%s: TXT value %s by %s", ACME_LABEL, row.fqdn,
			 req->op == ACME_OP_PRESENT ? "added" : "removed", who->user);
}

/* After authentication: the name must be a host of the user's. The first look is
 * without the lock, so that a name of someone else's host never waits for or holds
 * that host's lock. */
static void
handle_authenticated(const struct service_ctx *ctx, const struct acme_service_request *req,
		     const struct acme_body *body, const struct identity *who, struct outcome *o)
{
	char host[HOSTNAME_MAX + 1];
	struct db_host row;
	int rc;

	if (acme_challenge_host(body->name, host, sizeof(host)) != 0) {
		log_info("acme: user %s: refused a name that is not a challenge name", who->user);
		forbidden(o);
		return;
	}
	rc = db_host_get(ctx->db, host, &row);
	if (rc != 0 && rc != ERR_NOTFOUND) {
		log_error("acme: %s: host lookup failed: %s", host, err_str(rc));
		db_failed(o);
		return;
	}
	if (rc == ERR_NOTFOUND || !owns(who, &row)) {
		log_info("acme: user %s: refused %s.%s (not a host of theirs)", who->user,
			 ACME_LABEL, host);
		forbidden(o);
		return;
	}
	(void)acme_challenge_name(host, o->name, sizeof(o->name)); /* fits: checked above */
	change_value(ctx, req, who, host, body->value, o);
}

/* Everything after the rate limiter: credentials, body, then the change. The body is
 * checked first: it costs nothing, and a garbled request needs no Argon2 verification. */
static void
handle_admitted(const struct service_ctx *ctx, const struct acme_service_request *req,
		struct outcome *o)
{
	struct acme_body body;
	struct identity who;
	char why[ACME_ERROR_MAX];
	int rc;

	if (!req->user && !req->password) {
		fail(o, 401, SERVICE_COUNT_NONE, "badauth", "credentials required");
		o->challenge = true;
		return;
	}
	if (!ctx->db) {
		db_failed(o);
		return;
	}
	if (acme_parse_body(req->body, req->body_len, &body, why, sizeof(why)) != 0) {
		fail(o, 400, SERVICE_COUNT_BAD, "badrequest", "%s", why);
		return;
	}
	rc = authenticate(ctx, req, &who);
	if (rc == ERR_DB) {
		log_error("acme: user lookup failed");
		db_failed(o);
	} else if (rc != 0) {
		log_info("acme: authentication failed for user \"%s\"", log_user(req->user));
		fail(o, 401, SERVICE_COUNT_BAD, "badauth", "wrong user name or password");
		o->challenge = true;
	} else {
		handle_authenticated(ctx, req, &body, &who, o);
	}
}

static json_t *
reply_json(const struct outcome *o, enum acme_op op)
{
	if (o->status != 200)
		return json_pack("{s:s, s:s}", "status", "error", "error", o->error);
	return json_pack("{s:s, s:s, s:s}", "status", "ok", "action", acme_op_name(op), "fqdn",
			 o->name);
}

static int
build_reply(const struct outcome *o, enum acme_op op, struct acme_reply *out)
{
	json_t *root = reply_json(o, op);
	char *text = root ? json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	struct buf b;
	int rc;

	json_decref(root);
	if (text == NULL)
		return ERR_NOMEM;
	buf_init(&b, ACME_BODY_MAX);
	rc = buf_adds(&b, text);
	if (rc == 0)
		rc = buf_addc(&b, '\n');
	free(text);
	out->body_len = b.len;
	out->body = rc == 0 ? buf_steal(&b) : NULL;
	buf_free(&b);
	return out->body ? 0 : ERR_NOMEM;
}

static enum ratelimit_kind
limiter_kind(enum service_count c)
{
	switch (c) {
	case SERVICE_COUNT_GOOD: return RATELIMIT_GOOD;
	case SERVICE_COUNT_BAD: return RATELIMIT_BAD;
	default: return RATELIMIT_NONE;
	}
}

int
acme_service_handle(const struct service_ctx *ctx, const struct acme_service_request *req,
		    struct acme_reply *out)
{
	struct outcome o = {.status = 200, .count = SERVICE_COUNT_GOOD, .result = "ok"};
	bool limited = ctx->rl && ctx->cfg->rate_limit.enabled;
	int rc;

	memset(out, 0, sizeof(*out));
	/* The limiter of the update path, with its admission and accounting. */
	if (limited && !ratelimit_admit(ctx->rl, &req->client, req->mono)) {
		fail(&o, 429, SERVICE_COUNT_NONE, "abuse", "too many requests, try again later");
	} else {
		handle_admitted(ctx, req, &o);
		if (limited)
			ratelimit_settle(ctx->rl, &req->client, limiter_kind(o.count), req->mono);
	}
	rc = build_reply(&o, req->op, out);
	out->http_status = o.status;
	out->challenge = o.challenge;
	out->result = o.result;
	out->count = o.count;
	return rc;
}

void
acme_reply_free(struct acme_reply *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}
