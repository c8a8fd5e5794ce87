/* SPDX-License-Identifier: MIT */
/* One DynDNS update request end to end: the order of checks, the DNS-before-database
 * rule, and the reply. HTTP lives in http.c; the pure decision in update.c. */
#include "service.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "credentials.h"
#include "dns.h"
#include "err.h"
#include "log.h"
#include "ratelimit.h"

/* The outcome of one host of a request: its status and the addresses to report. */
struct host_result {
	char fqdn[HOSTNAME_MAX + 1];
	enum update_status status;
	char ipv4[ADDR_STRLEN]; /* "" = not reported */
	char ipv6[ADDR_STRLEN];
};

/* The whole answer before it is formatted: one line (account-level failure) or one
 * per host. */
struct outcome {
	struct host_result lines[UPDATE_MAX_HOSTS];
	size_t n;
};

bool
service_flag_is_true(const char *v)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};

	if (!v)
		return false;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(v, yes[i]) == 0)
			return true;
	return false;
}

void
service_reply_free(struct service_reply *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

static void
outcome_single(struct outcome *o, enum update_status s)
{
	memset(&o->lines[0], 0, sizeof(o->lines[0]));
	o->lines[0].status = s;
	o->n = 1;
}

static bool
status_is_bad(enum update_status s)
{
	switch (s) {
	case UPDATE_BADAUTH:
	case UPDATE_NOHOST:
	case UPDATE_NOTFQDN:
	case UPDATE_BADIP:
	case UPDATE_NUMHOST: return true;
	default: return false;
	}
}

/* How the rate limiter counts this outcome (see service.h). */
static enum service_count
outcome_count(const struct outcome *o)
{
	bool bad = false;

	for (size_t i = 0; i < o->n; i++) {
		if (o->lines[i].status == UPDATE_GOOD || o->lines[i].status == UPDATE_NOCHG)
			return SERVICE_COUNT_GOOD;
		if (status_is_bad(o->lines[i].status))
			bad = true;
	}
	return bad ? SERVICE_COUNT_BAD : SERVICE_COUNT_NONE;
}

static void
notify_change(const struct service_ctx *ctx, const struct service_request *req,
	      const struct credentials *who, const struct db_host *row,
	      const struct update_plan *plan, const struct host_result *r)
{
	struct service_change ch;

	if (!ctx->notify || !req->notify_change || !(plan->v4_changed || plan->v6_changed))
		return;
	ch.host = row;
	ch.email = who->email;
	ch.ipv4 = r->ipv4[0] ? r->ipv4 : NULL;
	ch.ipv6 = r->ipv6[0] ? r->ipv6 : NULL;
	ch.v4_changed = plan->v4_changed;
	ch.v6_changed = plan->v6_changed;
	ch.now = req->now;
	ctx->notify(ctx->notify_arg, &ch);
}

/* Writes what a GOOD published or deleted (and refreshes the families it confirmed),
 * inside the host's transaction. */
static int
record_good(const struct service_ctx *ctx, const struct service_request *req,
	    const struct db_host *row, const struct update_plan *plan, const struct host_result *r)
{
	int rc = 0;

	if (plan->set_families)
		rc = db_host_set_addr(ctx->db, row->id, plan->set_families,
				      (plan->set_families & DB_V4) ? r->ipv4 : NULL,
				      (plan->set_families & DB_V6) ? r->ipv6 : NULL, req->now);
	if (rc == 0 && plan->offline_families)
		rc = db_host_set_offline(ctx->db, row->id, plan->offline_families);
	if (rc == 0 && (plan->touch_families & ~plan->set_families))
		rc = db_host_touch(ctx->db, row->id, plan->touch_families & ~plan->set_families,
				   req->now);
	return rc;
}

/* The log line of a GOOD. */
static void
log_good(const struct db_host *row, const struct update_plan *plan, const struct host_result *r)
{
	if (plan->offline_families)
		log_info("%s: records deleted (offline)", row->fqdn);
	else
		log_info("%s: updated to %s%s%s", row->fqdn, r->ipv4,
			 r->ipv4[0] && r->ipv6[0] ? "," : "", r->ipv6);
}

/* GOOD: one UPDATE; the database follows only a NOERROR reply, so that it never
 * claims what DNS does not serve and the next request retries. Runs under the host's
 * lock (handle_host), which it ends. */
static enum update_status
apply_good(const struct service_ctx *ctx, const struct service_request *req,
	   const struct credentials *who, const struct db_host *row, const struct update_plan *plan,
	   struct host_result *r)
{
	struct dns_server srv;
	struct dns_result res;
	const struct tsig_key *key = config_dns_server(ctx->cfg, row->zone, &srv);
	int rc;

	memset(&res, 0, sizeof(res));
	rc = dns_update(&srv, key, &plan->change, &res);
	if (rc < 0) {
		(void)db_rollback(ctx->db);
		log_warnx("%s: DNS update failed: %s (%s)", row->fqdn, err_str(rc), res.msg);
		return UPDATE_DNSERR;
	}
	rc = record_good(ctx, req, row, plan, r);
	if (rc == 0)
		rc = db_commit(ctx->db);
	else
		(void)db_rollback(ctx->db);
	if (rc < 0) {
		log_error("%s: DNS updated but the database failed: %s", row->fqdn, err_str(rc));
		return UPDATE_911;
	}
	log_good(row, plan, r);
	notify_change(ctx, req, who, row, plan, r);
	return UPDATE_GOOD;
}

/* NOCHG: refresh the update time of the confirmed families, then end the lock. */
static enum update_status
apply_nochg(const struct service_ctx *ctx, const struct service_request *req,
	    const struct db_host *row, const struct update_plan *plan)
{
	int rc = 0;

	if (plan->touch_families)
		rc = db_host_touch(ctx->db, row->id, plan->touch_families, req->now);
	if (rc == 0)
		rc = db_commit(ctx->db);
	else
		(void)db_rollback(ctx->db);
	if (rc < 0) {
		log_error("%s: refreshing the update time failed: %s", row->fqdn, err_str(rc));
		return UPDATE_911;
	}
	return UPDATE_NOCHG;
}

/*
 * The common case without the per-host lock: most requests confirm what is published
 * (nochg) or name a host that is not the user's. Read, decide, and refresh the row
 * only where it still says what the decision saw (db.h host_touch_live): no lease or
 * row lock, no transaction for the common case. Returns true when `r` is answered, false when the
 * locked path must decide (a change to publish, or the row changed meanwhile).
 */
static bool
try_unlocked(const struct service_ctx *ctx, const struct service_request *req,
	     const struct credentials *who, const struct update_addrs *want, struct host_result *r)
{
	struct db_host row;
	struct update_plan plan;
	int rc, touched = 0;

	rc = db_host_get(ctx->db, r->fqdn, &row);
	if (rc == ERR_NOTFOUND) {
		r->status = UPDATE_NOHOST;
		return true;
	}
	if (rc < 0) {
		log_error("%s: host lookup failed: %s", r->fqdn, err_str(rc));
		r->status = UPDATE_911;
		return true;
	}
	update_decide(want, &row, who->user, req->now, &plan);
	if (plan.status == UPDATE_NOHOST || plan.status == UPDATE_BADIP) {
		if (plan.status == UPDATE_BADIP)
			log_info("%s: badip: %s", r->fqdn, plan.why);
		r->status = plan.status;
		return true;
	}
	if (plan.status != UPDATE_NOCHG || plan.touch_families == 0)
		return false;
	rc = db_host_touch_live(ctx->db, row.id, plan.touch_families, plan.ipv4, plan.ipv6,
				req->now, &touched);
	if (rc < 0) {
		log_error("%s: refreshing the update time failed: %s", r->fqdn, err_str(rc));
		r->status = UPDATE_911;
		return true;
	}
	if (touched != plan.touch_families)
		return false;
	r->status = UPDATE_NOCHG;
	snprintf(r->ipv4, sizeof(r->ipv4), "%s", plan.ipv4);
	snprintf(r->ipv6, sizeof(r->ipv6), "%s", plan.ipv6);
	return true;
}

/*
 * One host: lock it, decide on the fresh row, and carry out the decision before the
 * lock ends. The lock (db.h host_lock) makes "decide → DNS → database" one critical
 * section per host, so two daemons (or a daemon and the expiry pass of another
 * process) updating the same host cannot interleave their DNS and database writes and
 * leave the database claiming one address while DNS serves another. It is held for
 * one DNS exchange at most and only blocks updates of the same host (SQLite: a lease
 * row; MariaDB: a row lock).
 */
static void
handle_host(const struct service_ctx *ctx, const struct service_request *req,
	    const struct credentials *who, const struct update_addrs *want, struct host_result *r)
{
	struct db_host row;
	struct update_plan plan;
	int rc;

	if (try_unlocked(ctx, req, who, want, r))
		return;
	rc = db_host_lock(ctx->db, r->fqdn, &row);
	if (rc < 0 && rc != ERR_NOTFOUND) {
		log_error("%s: host lookup failed: %s", r->fqdn, err_str(rc));
		r->status = UPDATE_911;
		return;
	}
	update_decide(want, rc == 0 ? &row : NULL, who->user, req->now, &plan);
	r->status = plan.status;
	if (plan.status != UPDATE_GOOD && plan.status != UPDATE_NOCHG) {
		if (plan.status == UPDATE_BADIP)
			log_info("%s: badip: %s", r->fqdn, plan.why);
		if (rc == 0)
			(void)db_rollback(ctx->db);
		return;
	}
	snprintf(r->ipv4, sizeof(r->ipv4), "%s", plan.ipv4);
	snprintf(r->ipv6, sizeof(r->ipv6), "%s", plan.ipv6);
	if (plan.status == UPDATE_GOOD)
		r->status = apply_good(ctx, req, who, &row, &plan, r);
	else
		r->status = apply_nochg(ctx, req, &row, &plan);
}

/*
 * Which hosts the request means for the authenticated account `user`: the names its
 * hostname parameter lists, or, when it names none, the account's only host (a
 * router's update URL often has no hostname; an account with no or several hosts gets
 * notfqdn as before). A credential bound to one host (a per-host token) selects that
 * host here. Returns 0 with hosts[0..*n), or -1 with the status of the one-line answer
 * in *fail (numhost, 911).
 */
static int
select_hosts(const struct service_ctx *ctx, const struct service_request *req,
	     const struct credentials *who, struct update_host *hosts, size_t *n,
	     enum update_status *fail)
{
	const char *names = req->hostname;
	struct db_host row;
	int rc;

	/* A token names its host: a router that sends its FQDN as user name need not
	 * send it again. */
	if (who->kind == CREDENTIALS_HOST && !update_names_hosts(names))
		names = who->fqdn;
	if (update_split_hosts(names, hosts, UPDATE_MAX_HOSTS, n) < 0) {
		*fail = UPDATE_NUMHOST;
		return -1;
	}
	if (update_names_hosts(names))
		return 0;
	rc = db_host_sole(ctx->db, who->user, &row);
	if (rc != 0 && rc != ERR_NOTFOUND && rc != ERR_EXISTS) {
		log_error("user %s: host lookup failed: %s", who->user, err_str(rc));
		*fail = UPDATE_911;
		return -1;
	}
	if (rc == 0) {
		_Static_assert(sizeof(hosts[0].fqdn) == sizeof(row.fqdn), "fqdn sizes");
		memcpy(hosts[0].fqdn, row.fqdn, sizeof(hosts[0].fqdn));
		hosts[0].status = UPDATE_GOOD;
	}
	return 0;
}

/* What the request asks for: offline=YES, or the addresses it names (or the client's),
 * judged by the configuration. Returns 0, or -1 for a badip answer. */
static int
request_want(const struct service_ctx *ctx, const struct service_request *req,
	     struct update_addrs *want)
{
	if (req->offline) {
		memset(want, 0, sizeof(*want));
		want->offline = true;
		return 0;
	}
	if (update_detect_addrs(req->ipv4, req->ipv6, &req->client,
				!ctx->cfg->daemon.allow_private_addresses, want) < 0) {
		log_info("badip: %s", want->why);
		return -1;
	}
	return 0;
}

/* After authentication: the hosts, what to do, then every host in request order (a
 * token's request: its host only). */
static void
handle_hosts(const struct service_ctx *ctx, const struct service_request *req,
	     const struct credentials *who, struct outcome *o)
{
	struct update_host hosts[UPDATE_MAX_HOSTS];
	struct update_addrs want;
	enum update_status fail = UPDATE_911;
	size_t n = 0;

	if (select_hosts(ctx, req, who, hosts, &n, &fail) < 0) {
		outcome_single(o, fail);
		return;
	}
	if (request_want(ctx, req, &want) < 0) {
		outcome_single(o, UPDATE_BADIP);
		return;
	}
	memset(o->lines, 0, sizeof(o->lines));
	o->n = n;
	for (size_t i = 0; i < n; i++) {
		struct host_result *r = &o->lines[i];

		_Static_assert(sizeof(r->fqdn) == sizeof(hosts[i].fqdn), "fqdn sizes");
		memcpy(r->fqdn, hosts[i].fqdn, sizeof(r->fqdn));
		if (hosts[i].status == UPDATE_NOTFQDN || !hosts[i].fqdn[0])
			r->status = UPDATE_NOTFQDN;
		else if (who->kind == CREDENTIALS_HOST && strcmp(r->fqdn, who->fqdn) != 0)
			r->status = UPDATE_NOHOST; /* a token updates its host and nothing else */
		else
			handle_host(ctx, req, who, &want, r);
	}
}

static json_t *
json_line(const struct host_result *r, bool with_host)
{
	json_t *o = update_result_json(r->status, r->ipv4, r->ipv6);

	if (o && with_host && json_object_set_new(o, "hostname", json_string(r->fqdn)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* JSON: one object for a single line, a list of objects (with "hostname") for
 * several hosts. */
static int
format_json(const struct outcome *o, struct buf *b)
{
	json_t *root;
	char *text;
	int rc;

	if (o->n == 1) {
		root = json_line(&o->lines[0], false);
	} else {
		root = json_array();
		for (size_t i = 0; root && i < o->n; i++)
			if (json_array_append_new(root, json_line(&o->lines[i], true)) < 0) {
				json_decref(root);
				root = NULL;
			}
	}
	if (!root)
		return ERR_NOMEM;
	text = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(root);
	if (!text)
		return ERR_NOMEM;
	rc = buf_adds(b, text);
	free(text);
	return rc < 0 ? rc : buf_addc(b, '\n');
}

static int
format_text(const struct outcome *o, struct buf *b)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < o->n; i++) {
		const struct host_result *r = &o->lines[i];

		rc = update_format_line(b, r->status, r->ipv4[0] ? r->ipv4 : NULL,
					r->ipv6[0] ? r->ipv6 : NULL);
		if (rc == 0)
			rc = buf_addc(b, '\n');
	}
	return rc;
}

static int
build_reply(const struct outcome *o, bool json, struct service_reply *out)
{
	struct buf b;
	int rc;

	buf_init(&b, SERVICE_BODY_MAX);
	rc = json ? format_json(o, &b) : format_text(o, &b);
	if (rc < 0) {
		buf_free(&b);
		return ERR_NOMEM;
	}
	out->body_len = b.len;
	out->body = buf_steal(&b);
	out->json = json;
	out->first = o->lines[0].status;
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

static bool
limiter_on(const struct service_ctx *ctx)
{
	return ctx->rl && ctx->cfg->rate_limit.enabled;
}

int
service_authenticate(const struct service_ctx *ctx, const char *user, const char *password,
		     int64_t mono, struct credentials *who)
{
	struct credentials_ctx cc = {
		.db = ctx->db,
		.cache = ctx->cache,
		.ttl = ctx->cfg->daemon.credential_cache_ttl,
		.size = (size_t)ctx->cfg->daemon.credential_cache_size,
		.now = mono,
	};

	return credentials_check(&cc, user, password, who);
}

/* Everything after the rate-limit check: credentials, then the hosts. */
static void
handle_authenticated(const struct service_ctx *ctx, const struct service_request *req,
		     struct outcome *o)
{
	struct credentials who;
	int rc;

	if (!ctx->db) {
		outcome_single(o, UPDATE_911);
		return;
	}
	rc = service_authenticate(ctx, req->user, req->password, req->mono, &who);
	if (rc < 0) {
		log_error("credential lookup failed: the database could not be read");
		outcome_single(o, UPDATE_911);
	} else if (who.kind != CREDENTIALS_USER && who.kind != CREDENTIALS_HOST) {
		log_info("authentication failed for user \"%s\"", req->user ? req->user : "");
		outcome_single(o, UPDATE_BADAUTH);
	} else {
		handle_hosts(ctx, req, &who, o);
	}
	credentials_wipe(&who);
}

int
service_handle(const struct service_ctx *ctx, const struct service_request *req,
	       struct service_reply *out)
{
	struct outcome *o;
	int rc;

	memset(out, 0, sizeof(*out));
	out->http_status = 200;
	o = calloc(1, sizeof(*o));
	if (!o)
		return ERR_NOMEM;
	/* Admission reserves a slot in the client's windows until the request is
	 * settled, so that parallel requests cannot all pass before one is counted. */
	if (limiter_on(ctx) && !ratelimit_admit(ctx->rl, &req->client, req->mono)) {
		/* No password check: a client over its limit gets no further guesses. */
		outcome_single(o, UPDATE_ABUSE);
	} else {
		if (!req->user && !req->password) {
			outcome_single(o, UPDATE_BADAUTH);
			out->http_status = 401;
			out->challenge = true;
			out->count =
				req->bad_authorization ? SERVICE_COUNT_BAD : SERVICE_COUNT_NONE;
		} else {
			handle_authenticated(ctx, req, o);
			out->count = outcome_count(o);
		}
		if (limiter_on(ctx))
			ratelimit_settle(ctx->rl, &req->client, limiter_kind(out->count),
					 req->mono);
	}
	rc = build_reply(o, req->want_json, out);
	free(o);
	if (rc < 0)
		service_reply_free(out);
	return rc;
}
