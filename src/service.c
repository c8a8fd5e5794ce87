/* SPDX-License-Identifier: MIT */
/* One DynDNS update request end to end, as a job that moves between the HTTP thread, the
 * Argon2 pool and the zone writers: the order of checks, the unlocked fast path, and the
 * reply. HTTP lives in http.c; the pure decision in update.c; DNS and the per-host
 * critical section in the zone writers (zonewriter.c). */
#include "service.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "auth.h"
#include "authpool.h"
#include "credentials.h"
#include "err.h"
#include "log.h"
#include "ratelimit.h"
#include "writers.h"
#include "zonewriter.h"

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

/* A host handed to its zone writer: the item and where its answer goes. */
struct host_item {
	struct zw_item it;
	struct service_job *job;
	size_t line;
};

struct service_job {
	struct authpool_job aj; /* first: the pool hands back &aj */
	struct service_ctx ctx;
	struct service_request req; /* its strings point into `strings` */
	char *strings;
	size_t strings_len;
	void (*done)(struct service_job *job, void *arg);
	void *done_arg;
	struct credentials who; /* who authenticated (wiped when the job is freed) */
	bool admitted;		/* the rate limiter admitted it: settle at the end */
	bool counted;		/* credentials came: the outcome counts (service.h) */
	bool challenge;
	/* The flow's reference plus one per host at a writer; the one that drops it to
	 * zero finishes the request. */
	atomic_int pending;
	struct outcome out;
	struct service_reply reply;
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

/* ---- the reply ---- */

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

/* The end of a request: the rate limiter settled, the reply built, `done` called. */
static void
finish(struct service_job *job)
{
	struct service_reply *rep = &job->reply;

	rep->http_status = job->challenge ? 401 : 200;
	rep->challenge = job->challenge;
	rep->count = job->counted ? outcome_count(&job->out) : SERVICE_COUNT_NONE;
	if (job->admitted)
		ratelimit_settle(job->ctx.rl, &job->req.client, limiter_kind(rep->count),
				 job->req.mono);
	if (build_reply(&job->out, job->req.want_json, rep) < 0)
		service_reply_free(rep);
	job->done(job, job->done_arg);
}

/* Drops one reference; the last one finishes the request. */
static void
job_release(struct service_job *job)
{
	if (atomic_fetch_sub(&job->pending, 1) == 1)
		finish(job);
}

/* ---- hosts ---- */

static void
notify_change(const struct service_job *job, const struct zw_item *it, const struct host_result *r)
{
	const struct service_ctx *ctx = &job->ctx;
	struct service_change ch;

	if (!ctx->notify || !job->req.notify_change ||
	    !(it->plan.v4_changed || it->plan.v6_changed))
		return;
	ch.host = &it->before;
	ch.email = job->who.email;
	ch.ipv4 = r->ipv4[0] ? r->ipv4 : NULL;
	ch.ipv6 = r->ipv6[0] ? r->ipv6 : NULL;
	ch.v4_changed = it->plan.v4_changed;
	ch.v6_changed = it->plan.v6_changed;
	ch.now = job->req.now;
	ctx->notify(ctx->notify_arg, &ch);
}

/* A host's answer from its zone writer (on the writer's thread). */
static void
host_done(struct zw_item *it)
{
	struct host_item *hi = (struct host_item *)it;
	struct service_job *job = hi->job;
	struct host_result *r = &job->out.lines[hi->line];

	r->status = it->status;
	if (it->repaired)
		log_warnx("%s: an earlier update was cut short between DNS and the database; "
			  "republished what the database holds",
			  r->fqdn);
	if (it->status == UPDATE_GOOD || it->status == UPDATE_NOCHG) {
		snprintf(r->ipv4, sizeof(r->ipv4), "%s", it->plan.ipv4);
		snprintf(r->ipv6, sizeof(r->ipv6), "%s", it->plan.ipv6);
	}
	if (it->status == UPDATE_BADIP)
		log_info("%s: badip: %s", r->fqdn, it->plan.why);
	if (it->status == UPDATE_GOOD && it->plan.offline_families) {
		log_info("%s: records deleted (offline)", r->fqdn);
	} else if (it->status == UPDATE_GOOD) {
		log_info("%s: updated to %s%s%s", r->fqdn, r->ipv4,
			 r->ipv4[0] && r->ipv6[0] ? "," : "", r->ipv6);
		notify_change(job, it, r);
	}
	free(hi);
	job_release(job);
}

/* Hands host `line` to the writer of `zone`: it decides again under the host's lease
 * and answers through host_done. */
static void
to_writer(struct service_job *job, size_t line, const char *zone, const struct update_addrs *want)
{
	struct host_item *hi;

	if (job->ctx.writers == NULL || (hi = calloc(1, sizeof(*hi))) == NULL) {
		job->out.lines[line].status = UPDATE_911;
		return;
	}
	hi->job = job;
	hi->line = line;
	hi->it.kind = ZW_UPDATE;
	memcpy(hi->it.fqdn, job->out.lines[line].fqdn, sizeof(hi->it.fqdn));
	hi->it.now = job->req.now;
	hi->it.want = *want;
	_Static_assert(sizeof(hi->it.user) == sizeof(job->who.user), "user sizes");
	memcpy(hi->it.user, job->who.user, sizeof(hi->it.user));
	hi->it.done = host_done;
	atomic_fetch_add(&job->pending, 1);
	writers_submit(job->ctx.writers, job->ctx.cfg, zone, &hi->it);
}

/*
 * The common case without the per-host lease: most requests confirm what is published
 * (nochg) or name a host that is not the user's. Read, decide, and refresh the row
 * only where it still says what the decision saw (db.h host_touch_live): no lease, no
 * DNS, no transaction. A touch the row already has (the same second) is not written
 * again. Returns true when `r` is answered; false when the writer must decide (a
 * change to publish, a row that changed meanwhile, or a host with a lease: another
 * writer is at work on it, or one died mid-update) with *zone set.
 */
static bool
try_unlocked(struct service_job *job, struct db *db, const struct update_addrs *want,
	     struct host_result *r, char *zone)
{
	struct db_host row;
	struct update_plan plan;
	int rc, touched = 0, touch;

	rc = db_host_get(db, r->fqdn, &row);
	if (rc == ERR_NOTFOUND || rc < 0) {
		if (rc != ERR_NOTFOUND)
			log_error("%s: host lookup failed: %s", r->fqdn, err_str(rc));
		r->status = rc == ERR_NOTFOUND ? UPDATE_NOHOST : UPDATE_911;
		return true;
	}
	update_decide(want, &row, job->who.user, job->req.now, &plan);
	r->status = plan.status;
	if (plan.status == UPDATE_NOHOST || plan.status == UPDATE_BADIP) {
		if (plan.status == UPDATE_BADIP)
			log_info("%s: badip: %s", r->fqdn, plan.why);
		return true;
	}
	memcpy(zone, row.zone, sizeof(row.zone));
	if (plan.status != UPDATE_NOCHG || update_has_dns(&plan) || row.leased)
		return false;
	touch = plan.touch_families; /* none: offline with nothing published */
	if ((touch & DB_V4) && row.v4.updated >= job->req.now)
		touch &= ~DB_V4;
	if ((touch & DB_V6) && row.v6.updated >= job->req.now)
		touch &= ~DB_V6;
	if (touch && (rc = db_host_touch_live(db, row.id, touch, plan.ipv4, plan.ipv6, job->req.now,
					      &touched)) < 0) {
		log_error("%s: refreshing the update time failed: %s", r->fqdn, err_str(rc));
		r->status = UPDATE_911;
		return true;
	}
	if (touched != touch)
		return false;
	snprintf(r->ipv4, sizeof(r->ipv4), "%s", plan.ipv4);
	snprintf(r->ipv6, sizeof(r->ipv6), "%s", plan.ipv6);
	return true;
}

/*
 * Which hosts the request means for the authenticated account: the names its hostname
 * parameter lists, or, when it names none, the account's only host (a router's update
 * URL often has no hostname; an account with no or several hosts gets notfqdn as
 * before). A credential bound to one host (a per-host token) selects that host here.
 * Returns 0 with hosts[0..*n), or -1 with the status of the one-line answer in *fail
 * (numhost, 911).
 */
static int
select_hosts(struct service_job *job, struct db *db, struct update_host *hosts, size_t *n,
	     enum update_status *fail)
{
	const struct credentials *who = &job->who;
	const char *names = job->req.hostname;
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
	rc = db_host_sole(db, who->user, &row);
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
request_want(const struct service_job *job, struct update_addrs *want)
{
	const struct service_request *req = &job->req;

	if (req->offline) {
		memset(want, 0, sizeof(*want));
		want->offline = true;
		return 0;
	}
	if (update_detect_addrs(req->ipv4, req->ipv6, &req->client,
				!job->ctx.cfg->daemon.allow_private_addresses, want) < 0) {
		log_info("badip: %s", want->why);
		return -1;
	}
	return 0;
}

/* After authentication: the hosts, what to do, then every host in request order (a
 * token's request: its host only): answered here or handed to its zone's writer. */
static void
handle_hosts(struct service_job *job, struct db *db)
{
	struct update_host hosts[UPDATE_MAX_HOSTS];
	struct outcome *o = &job->out;
	struct update_addrs want;
	enum update_status fail = UPDATE_911;
	size_t n = 0;

	if (select_hosts(job, db, hosts, &n, &fail) < 0) {
		outcome_single(o, fail);
		return;
	}
	if (request_want(job, &want) < 0) {
		outcome_single(o, UPDATE_BADIP);
		return;
	}
	memset(o->lines, 0, sizeof(o->lines));
	o->n = n;
	for (size_t i = 0; i < n; i++) {
		struct host_result *r = &o->lines[i];
		char zone[HOSTNAME_MAX + 1];

		_Static_assert(sizeof(r->fqdn) == sizeof(hosts[i].fqdn), "fqdn sizes");
		memcpy(r->fqdn, hosts[i].fqdn, sizeof(r->fqdn));
		if (hosts[i].status == UPDATE_NOTFQDN || !hosts[i].fqdn[0])
			r->status = UPDATE_NOTFQDN;
		else if (job->who.kind == CREDENTIALS_HOST && strcmp(r->fqdn, job->who.fqdn) != 0)
			r->status = UPDATE_NOHOST; /* a token updates its host and nothing else */
		else if (!try_unlocked(job, db, &want, r, zone))
			to_writer(job, i, zone, &want);
	}
}

/* ---- credentials ---- */

/* What a credential step of the job uses: the job's clock and cache, the thread's
 * database connection. */
static struct credentials_ctx
cred_ctx(const struct service_ctx *ctx, struct db *db, int64_t mono)
{
	struct credentials_ctx cc = {
		.db = db,
		.cache = ctx->cache,
		.ttl = ctx->cfg->daemon.credential_cache_ttl,
		.size = (size_t)ctx->cfg->daemon.credential_cache_size,
		.now = mono,
	};

	return cc;
}

int
service_authenticate(const struct service_ctx *ctx, const char *user, const char *password,
		     int64_t mono, struct credentials *who)
{
	struct credentials_ctx cc = cred_ctx(ctx, ctx->db, mono);

	return credentials_check(&cc, user, password, who);
}

/* After the decision on the credentials: the hosts, or badauth. */
static void
after_credentials(struct service_job *job, struct db *db)
{
	const struct service_request *req = &job->req;

	if (job->who.kind != CREDENTIALS_USER && job->who.kind != CREDENTIALS_HOST) {
		log_info("authentication failed for user \"%s\"", req->user ? req->user : "");
		outcome_single(&job->out, UPDATE_BADAUTH);
	} else if (db == NULL) {
		outcome_single(&job->out, UPDATE_911);
	} else {
		handle_hosts(job, db);
	}
}

/* The verification of a pending decision (credentials_verify: Argon2, or joining the
 * same credentials' running one), then the hosts. */
static void
verify_and_continue(struct service_job *job, struct db *db)
{
	struct credentials_ctx cc = cred_ctx(&job->ctx, db, job->req.mono);

	credentials_verify(&cc, job->req.password, &job->who);
	after_credentials(job, db);
}

static void
pool_run(struct authpool_job *aj, struct db *db)
{
	struct service_job *job = (struct service_job *)aj;

	verify_and_continue(job, db);
	job_release(job);
}

static void
pool_cancel(struct authpool_job *aj)
{
	struct service_job *job = (struct service_job *)aj;

	credentials_wipe(&job->who);
	outcome_single(&job->out, UPDATE_911);
	job_release(job);
}

/* Whether a pending decision can be verified where the request runs: no pool, or a
 * stored hash cheaper than a database read (tests, benchmarks). An unknown user's dummy
 * verification costs a real one: the pool, too. */
static bool
verify_here(const struct service_job *job)
{
	return job->ctx.auth == NULL || (job->who.known && auth_is_cheap(job->who.phc));
}

/* The credentials: a token, a cache hit, or the verification, on the Argon2 pool when
 * there is one. Returns true when the flow went to the pool (which then owns the
 * flow's reference). */
static bool
authenticate(struct service_job *job, struct db *db)
{
	struct credentials_ctx cc = cred_ctx(&job->ctx, db, job->req.mono);
	int rc;

	if (db == NULL) {
		outcome_single(&job->out, UPDATE_911);
		return false;
	}
	rc = credentials_lookup(&cc, job->req.user, job->req.password, &job->who);
	if (rc < 0) {
		log_error("credential lookup failed: the database could not be read");
		outcome_single(&job->out, UPDATE_911);
		return false;
	}
	if (job->who.kind != CREDENTIALS_PENDING) {
		after_credentials(job, db);
		return false;
	}
	if (verify_here(job)) {
		verify_and_continue(job, db);
		return false;
	}
	job->aj.run = pool_run;
	job->aj.cancel = pool_cancel;
	if (authpool_submit(job->ctx.auth, &job->aj) == 0)
		return true;
	credentials_wipe(&job->who);
	outcome_single(&job->out, UPDATE_911);
	return false;
}

void
service_job_start(struct service_job *job, struct db *db)
{
	const struct service_request *req = &job->req;

	atomic_store(&job->pending, 1);
	/* Admission reserves a slot in the client's windows until the request is
	 * settled, so that parallel requests cannot all pass before one is counted. */
	if (limiter_on(&job->ctx) && !ratelimit_admit(job->ctx.rl, &req->client, req->mono)) {
		/* No password check: a client over its limit gets no further guesses. */
		outcome_single(&job->out, UPDATE_ABUSE);
	} else {
		job->admitted = limiter_on(&job->ctx);
		if (!req->user && !req->password) {
			outcome_single(&job->out, UPDATE_BADAUTH);
			job->challenge = true;
			job->counted = req->bad_authorization; /* garbage counts as bad */
		} else {
			job->counted = true;
			if (authenticate(job, db))
				return;
		}
	}
	job_release(job);
}

/* ---- the job's life ---- */

/* Copies `s` (NULL stays NULL) into the job's string block at *off. */
static const char *
copy_str(struct service_job *job, const char *s, size_t *off)
{
	char *dst;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	dst = job->strings + *off;
	memcpy(dst, s, n);
	*off += n;
	return dst;
}

static size_t
str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

int
service_job_new(const struct service_ctx *ctx, const struct service_request *req,
		void (*done)(struct service_job *job, void *arg), void *arg,
		struct service_job **out)
{
	struct service_job *job = calloc(1, sizeof(*job));
	size_t off = 0;

	*out = NULL;
	if (job == NULL)
		return ERR_NOMEM;
	job->strings_len = str_size(req->hostname) + str_size(req->ipv4) + str_size(req->ipv6) +
			   str_size(req->user) + str_size(req->password);
	if (job->strings_len && (job->strings = malloc(job->strings_len)) == NULL) {
		free(job);
		return ERR_NOMEM;
	}
	job->ctx = *ctx;
	job->req = *req;
	job->req.hostname = copy_str(job, req->hostname, &off);
	job->req.ipv4 = copy_str(job, req->ipv4, &off);
	job->req.ipv6 = copy_str(job, req->ipv6, &off);
	job->req.user = copy_str(job, req->user, &off);
	job->req.password = copy_str(job, req->password, &off);
	job->done = done;
	job->done_arg = arg;
	*out = job;
	return 0;
}

const struct service_reply *
service_job_reply(const struct service_job *job)
{
	return &job->reply;
}

void
service_job_free(struct service_job *job)
{
	if (job == NULL)
		return;
	if (job->strings) {
		explicit_bzero(job->strings, job->strings_len);
		free(job->strings);
	}
	credentials_wipe(&job->who);
	service_reply_free(&job->reply);
	free(job);
}
