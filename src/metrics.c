/* SPDX-License-Identifier: MIT */
/* The process's metrics (see metrics.h): arrays of atomic counters indexed by enums and
 * by bounded label tables, fixed-bucket histograms, and the text exposition renderer. */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "build_config.h"

#include "err.h"

typedef atomic_uint_least64_t counter;

static void
add(counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
get(const counter *c)
{
	return atomic_load_explicit((counter *)c, memory_order_relaxed);
}

/* ---- bounded label tables ---- */

/*
 * A label value gets its index once, under the table's mutex; readers scan the
 * published prefix [0, n) without a lock: a slot is written completely before n is
 * raised (release) and never changes afterwards. Index `max` is the "other" label.
 */
struct labels {
	pthread_mutex_t mu;
	atomic_size_t n;
	size_t max;
	char (*names)[METRICS_LABEL_MAX + 1];
};

static size_t
labels_find(struct labels *t, const char *name, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t->names[i], name) == 0)
			return i;
	return t->max;
}

/* The index of `name`, added when new; t->max ("other") when the table is full or the
 * name is too long to keep. */
static size_t
labels_index(struct labels *t, const char *name)
{
	size_t n = atomic_load_explicit(&t->n, memory_order_acquire);
	size_t i = labels_find(t, name, n);

	if (i < t->max || strlen(name) > METRICS_LABEL_MAX)
		return i;
	pthread_mutex_lock(&t->mu);
	n = atomic_load_explicit(&t->n, memory_order_relaxed);
	i = labels_find(t, name, n); /* another thread may have added it meanwhile */
	if (i == t->max && n < t->max) {
		snprintf(t->names[n], sizeof(t->names[n]), "%s", name);
		atomic_store_explicit(&t->n, n + 1, memory_order_release);
		i = n;
	}
	pthread_mutex_unlock(&t->mu);
	return i;
}

static size_t
labels_count(struct labels *t)
{
	return atomic_load_explicit(&t->n, memory_order_acquire);
}

static const char *
labels_name(const struct labels *t, size_t i)
{
	return i < t->max ? t->names[i] : "other";
}

/* ---- histograms ---- */

#define HIST_MAX_BUCKETS 16

struct histogram {
	const int64_t *bounds_us; /* upper bounds, ascending, in microseconds */
	size_t nbounds;
	counter counts[HIST_MAX_BUCKETS + 1]; /* per bucket; [nbounds] is above the last */
	counter sum_us;
};

static void
observe(struct histogram *h, int64_t us)
{
	size_t i = 0;

	if (us < 0)
		us = 0;
	while (i < h->nbounds && us > h->bounds_us[i])
		i++;
	add(&h->counts[i], 1);
	add(&h->sum_us, (uint64_t)us);
}

/* A request waits on Argon2 (tens of ms) and DNS; a DNS exchange on a local server takes
 * well under a millisecond and is bounded by dns_timeout. */
static const int64_t request_bounds[] = {1000,	 5000,	 10000,	  25000,   50000,   100000,
					 250000, 500000, 1000000, 2500000, 5000000, 10000000};
static const int64_t dns_bounds[] = {500,    1000,   2500,   5000,    10000,   25000,	50000,
				     100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

/* ---- the state ---- */

#define STATUS_COUNT  (UPDATE_911 + 1)
#define RCODE_NAMED   16 /* the 4-bit header rcodes */
#define RCODE_TIMEOUT (RCODE_NAMED + 0)
#define RCODE_NETWORK (RCODE_NAMED + 1)
#define RCODE_BADREPL (RCODE_NAMED + 2)
#define RCODE_INTERNL (RCODE_NAMED + 3)
#define RCODE_COUNT   (RCODE_NAMED + 4)

static char endpoint_names[METRICS_ENDPOINTS_MAX][METRICS_LABEL_MAX + 1];
static char zone_names[METRICS_ZONES_MAX][METRICS_LABEL_MAX + 1];

static struct {
	struct labels endpoints, zones;
	counter requests[METRICS_ENDPOINTS_MAX + 1][STATUS_COUNT];
	struct histogram request_duration;
	counter auth[METRICS_AUTH_COUNT];
	counter dns[METRICS_ZONES_MAX + 1][RCODE_COUNT];
	struct histogram dns_duration;
	counter ratelimit[METRICS_RL_COUNT];
	counter expiry_runs, expiry_errors, expired_v4, expired_v6;
	atomic_int_least64_t expiry_last_success;
	atomic_long mail_queue;
	counter mails[METRICS_MAIL_KIND_COUNT][METRICS_MAIL_RESULT_COUNT];
	atomic_int_least64_t hosts, ratelimit_clients; /* -1 until known */
	atomic_int_least64_t start_time;	       /* 0 until metrics_start */
} m = {
	.endpoints = {.mu = PTHREAD_MUTEX_INITIALIZER,
		      .max = METRICS_ENDPOINTS_MAX,
		      .names = endpoint_names},
	.zones = {.mu = PTHREAD_MUTEX_INITIALIZER, .max = METRICS_ZONES_MAX, .names = zone_names},
	.request_duration = {.bounds_us = request_bounds,
			     .nbounds = sizeof(request_bounds) / sizeof(request_bounds[0])},
	.dns_duration = {.bounds_us = dns_bounds,
			 .nbounds = sizeof(dns_bounds) / sizeof(dns_bounds[0])},
	.hosts = -1,
	.ratelimit_clients = -1,
};

_Static_assert(sizeof(dns_bounds) / sizeof(dns_bounds[0]) <= HIST_MAX_BUCKETS, "buckets");
_Static_assert(sizeof(request_bounds) / sizeof(request_bounds[0]) <= HIST_MAX_BUCKETS, "buckets");

/* ---- counting ---- */

void
metrics_start(int64_t now)
{
	atomic_store(&m.start_time, now);
}

void
metrics_count_request(const char *endpoint, enum update_status status, int64_t micros)
{
	size_t e = labels_index(&m.endpoints, endpoint ? endpoint : "");

	if ((unsigned)status < STATUS_COUNT)
		add(&m.requests[e][status], 1);
	observe(&m.request_duration, micros);
}

void
metrics_register_endpoint(const char *endpoint)
{
	(void)labels_index(&m.endpoints, endpoint);
}

void
metrics_count_auth(enum metrics_auth result)
{
	if ((unsigned)result < METRICS_AUTH_COUNT)
		add(&m.auth[result], 1);
}

static int
rcode_index(int err, int rcode)
{
	if (err == 0)
		return 0;
	if (err == ERR_DNS && rcode >= 0 && rcode < RCODE_NAMED)
		return rcode;
	switch (err) {
	case ERR_TIMEOUT: return RCODE_TIMEOUT;
	case ERR_IO: return RCODE_NETWORK;
	case ERR_DNS:
	case ERR_CRYPTO: return RCODE_BADREPL;
	default: return RCODE_INTERNL;
	}
}

static const char *const rcode_names[RCODE_COUNT] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",	   "REFUSED",  "YXDOMAIN",
	"YXRRSET", "NXRRSET", "NOTAUTH",  "NOTZONE",  "RCODE11",   "RCODE12",  "RCODE13",
	"RCODE14", "RCODE15", "timeout",  "network",  "bad_reply", "internal",
};

const char *
metrics_rcode_label(int err, int rcode)
{
	return rcode_names[rcode_index(err, rcode)];
}

void
metrics_count_dns_update(const char *zone, int err, int rcode, int64_t micros)
{
	size_t z = labels_index(&m.zones, zone ? zone : "");

	add(&m.dns[z][rcode_index(err, rcode)], 1);
	observe(&m.dns_duration, micros);
}

void
metrics_count_ratelimit(enum metrics_ratelimit kind)
{
	if ((unsigned)kind < METRICS_RL_COUNT)
		add(&m.ratelimit[kind], 1);
}

void
metrics_count_expiry_run(bool ok, int64_t now)
{
	add(ok ? &m.expiry_runs : &m.expiry_errors, 1);
	if (ok)
		atomic_store_explicit(&m.expiry_last_success, now, memory_order_relaxed);
}

void
metrics_count_expired(bool v4, bool v6)
{
	if (v4)
		add(&m.expired_v4, 1);
	if (v6)
		add(&m.expired_v6, 1);
}

void
metrics_mail_queued(long delta)
{
	atomic_fetch_add_explicit(&m.mail_queue, delta, memory_order_relaxed);
}

void
metrics_count_mail(enum metrics_mail_kind kind, enum metrics_mail_result result)
{
	if ((unsigned)kind < METRICS_MAIL_KIND_COUNT &&
	    (unsigned)result < METRICS_MAIL_RESULT_COUNT)
		add(&m.mails[kind][result], 1);
}

void
metrics_set_hosts(int64_t n)
{
	atomic_store_explicit(&m.hosts, n, memory_order_relaxed);
}

void
metrics_set_ratelimit_clients(int64_t n)
{
	atomic_store_explicit(&m.ratelimit_clients, n, memory_order_relaxed);
}

/* ---- rendering ---- */

int
metrics_escape_label(struct buf *out, const char *s)
{
	int rc = 0;

	for (; rc == 0 && *s; s++) {
		if (*s == '\\')
			rc = buf_adds(out, "\\\\");
		else if (*s == '"')
			rc = buf_adds(out, "\\\"");
		else if (*s == '\n')
			rc = buf_adds(out, "\\n");
		else
			rc = buf_addc(out, *s);
	}
	return rc;
}

/* The HELP and TYPE lines of a metric family. Help texts are ours: no escaping. */
static int
family(struct buf *b, const char *name, const char *type, const char *help)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int
label(struct buf *b, bool first, const char *key, const char *value)
{
	int rc = buf_printf(b, "%s%s=\"", first ? "{" : ",", key);

	if (rc == 0)
		rc = metrics_escape_label(b, value);
	return rc == 0 ? buf_addc(b, '"') : rc;
}

/* One sample line: name, up to two labels (key NULL: none), the value as text. */
static int
sample(struct buf *b, const char *name, const char *k1, const char *v1, const char *k2,
       const char *v2, const char *value)
{
	int rc = buf_adds(b, name);

	if (rc == 0 && k1)
		rc = label(b, true, k1, v1);
	if (rc == 0 && k2)
		rc = label(b, !k1, k2, v2);
	if (rc == 0 && k1)
		rc = buf_addc(b, '}');
	return rc == 0 ? buf_printf(b, " %s\n", value) : rc;
}

static const char *
u64(uint64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

static const char *
i64(int64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%lld", (long long)v);
	return buf;
}

static const char *
seconds(uint64_t us, char *buf, size_t len)
{
	snprintf(buf, len, "%llu.%06llu", (unsigned long long)(us / 1000000),
		 (unsigned long long)(us % 1000000));
	return buf;
}

/* An upper bound as Prometheus writes it: "0.005", "1", "2.5". */
static const char *
bound(int64_t us, char *buf, size_t len)
{
	snprintf(buf, len, "%g", (double)us / 1e6);
	return buf;
}

/* _bucket (cumulative), _sum, _count; _count is the +Inf bucket itself, so the two
 * agree even when another thread counts during the walk. */
static int
histogram(struct buf *b, const char *name, const char *help, const struct histogram *h)
{
	char n[96], le[32], v[32];
	uint64_t cum = 0;
	int rc = family(b, name, "histogram", help);

	snprintf(n, sizeof(n), "%s_bucket", name);
	for (size_t i = 0; rc == 0 && i <= h->nbounds; i++) {
		cum += get(&h->counts[i]);
		rc = sample(b, n, "le",
			    i < h->nbounds ? bound(h->bounds_us[i], le, sizeof(le)) : "+Inf", NULL,
			    NULL, u64(cum, v, sizeof(v)));
	}
	snprintf(n, sizeof(n), "%s_sum", name);
	if (rc == 0)
		rc = sample(b, n, NULL, NULL, NULL, NULL, seconds(get(&h->sum_us), v, sizeof(v)));
	snprintf(n, sizeof(n), "%s_count", name);
	return rc == 0 ? sample(b, n, NULL, NULL, NULL, NULL, u64(cum, v, sizeof(v))) : rc;
}

/* A counter or gauge family without labels. */
static int
single(struct buf *b, const char *name, const char *type, const char *help, const char *value)
{
	int rc = family(b, name, type, help);

	return rc == 0 ? sample(b, name, NULL, NULL, NULL, NULL, value) : rc;
}

static int
render_process(struct buf *b)
{
	char v[32];
	int64_t start = atomic_load(&m.start_time);
	int rc = family(b, "ddns_build_info", "gauge", "Always 1; the version is a label.");

	if (rc == 0)
		rc = sample(b, "ddns_build_info", "version", DDNS_VERSION, NULL, NULL, "1");
	if (rc == 0 && start > 0)
		rc = single(b, "process_start_time_seconds", "gauge",
			    "Start time of the process since the Unix epoch in seconds.",
			    i64(start, v, sizeof(v)));
	return rc;
}

/* Every status of every endpoint registered or seen. The walk visits the table's
 * entries, then jumps to the "other" slot, which appears only once it was counted. */
static int
render_requests(struct buf *b)
{
	char v[32];
	size_t n = labels_count(&m.endpoints);
	int rc = family(b, "ddns_requests_total", "counter",
			"Update requests answered, by endpoint path and DynDNS status of the "
			"first result line.");

	for (size_t e = 0; rc == 0 && e <= n; e++) {
		if (e == n && e < m.endpoints.max)
			e = m.endpoints.max; /* "other": only when it was counted */
		for (int s = 0; rc == 0 && s < STATUS_COUNT; s++)
			if (e < n || get(&m.requests[e][s]))
				rc = sample(b, "ddns_requests_total", "endpoint",
					    labels_name(&m.endpoints, e), "status",
					    update_status_str((enum update_status)s),
					    u64(get(&m.requests[e][s]), v, sizeof(v)));
	}
	if (rc == 0)
		rc = histogram(b, "ddns_request_duration_seconds",
			       "Time from a complete update request to its answer.",
			       &m.request_duration);
	return rc;
}

static int
render_auth(struct buf *b)
{
	static const char *const names[METRICS_AUTH_COUNT] = {"ok", "fail", "cache_hit",
							      "cache_miss"};
	char v[32];
	int rc = family(b, "ddns_auth_verifications_total", "counter",
			"Password verifications by result (unknown users count as fail), and "
			"credential cache hits and misses.");

	for (int i = 0; rc == 0 && i < METRICS_AUTH_COUNT; i++)
		rc = sample(b, "ddns_auth_verifications_total", "result", names[i], NULL, NULL,
			    u64(get(&m.auth[i]), v, sizeof(v)));
	return rc;
}

/* Per zone seen: NOERROR always, other outcomes once they happened; "other" (the
 * table was full) as in render_requests. */
static int
render_dns(struct buf *b)
{
	char v[32];
	size_t n = labels_count(&m.zones);
	int rc = family(b, "ddns_dns_updates_total", "counter",
			"RFC 2136 UPDATE exchanges by zone and outcome (the reply's rcode, or "
			"timeout, network, bad_reply, internal).");

	for (size_t z = 0; rc == 0 && z <= n; z++) {
		if (z == n && z < m.zones.max)
			z = m.zones.max;
		for (int r = 0; rc == 0 && r < RCODE_COUNT; r++)
			if ((z < n && r == 0) || get(&m.dns[z][r]))
				rc = sample(b, "ddns_dns_updates_total", "zone",
					    labels_name(&m.zones, z), "rcode", rcode_names[r],
					    u64(get(&m.dns[z][r]), v, sizeof(v)));
	}
	if (rc == 0)
		rc = histogram(b, "ddns_dns_update_duration_seconds",
			       "Duration of one RFC 2136 UPDATE exchange, TCP fallback included.",
			       &m.dns_duration);
	return rc;
}

static int
render_ratelimit(struct buf *b)
{
	char v[32];
	int64_t clients = atomic_load_explicit(&m.ratelimit_clients, memory_order_relaxed);
	int rc = family(b, "ddns_ratelimit_rejections_total", "counter",
			"Requests answered abuse, by the window (good or bad requests) the "
			"client was over.");

	if (rc == 0)
		rc = sample(b, "ddns_ratelimit_rejections_total", "kind", "good", NULL, NULL,
			    u64(get(&m.ratelimit[METRICS_RL_GOOD]), v, sizeof(v)));
	if (rc == 0)
		rc = sample(b, "ddns_ratelimit_rejections_total", "kind", "bad", NULL, NULL,
			    u64(get(&m.ratelimit[METRICS_RL_BAD]), v, sizeof(v)));
	if (rc == 0 && clients >= 0)
		rc = single(b, "ddns_ratelimit_clients", "gauge",
			    "Clients (IPv6: /64 networks) the rate limiter tracks.",
			    i64(clients, v, sizeof(v)));
	return rc;
}

static int
render_expiry(struct buf *b)
{
	char v[32];
	int rc = single(b, "ddns_expiry_runs_total", "counter", "Expiry passes completed.",
			u64(get(&m.expiry_runs), v, sizeof(v)));

	if (rc == 0)
		rc = single(b, "ddns_expiry_errors_total", "counter",
			    "Expiry passes stopped by a database error.",
			    u64(get(&m.expiry_errors), v, sizeof(v)));
	if (rc == 0)
		rc = single(b, "ddns_expiry_last_success_timestamp_seconds", "gauge",
			    "When the last expiry pass completed (Unix time; 0: none yet).",
			    i64(atomic_load(&m.expiry_last_success), v, sizeof(v)));
	if (rc == 0)
		rc = family(b, "ddns_expired_records_total", "counter",
			    "A/AAAA records deleted from DNS by the expiry pass, by family.");
	if (rc == 0)
		rc = sample(b, "ddns_expired_records_total", "family", "ipv4", NULL, NULL,
			    u64(get(&m.expired_v4), v, sizeof(v)));
	if (rc == 0)
		rc = sample(b, "ddns_expired_records_total", "family", "ipv6", NULL, NULL,
			    u64(get(&m.expired_v6), v, sizeof(v)));
	return rc;
}

static int
render_mail(struct buf *b)
{
	static const char *const kinds[] = {"change", "expiry", "other"};
	static const char *const results[] = {"sent", "failed", "dropped"};
	char v[32];
	int rc = single(b, "ddns_mail_queue_length", "gauge",
			"Notification mails waiting to be sent (not counting the one in flight).",
			i64(atomic_load(&m.mail_queue), v, sizeof(v)));

	if (rc == 0)
		rc = family(b, "ddns_mails_total", "counter",
			    "Notification mails by kind and outcome.");
	for (int k = 0; rc == 0 && k < METRICS_MAIL_KIND_COUNT; k++)
		for (int r = 0; rc == 0 && r < METRICS_MAIL_RESULT_COUNT; r++)
			/* "other" (mail not queued by a notification) only once it occurs. */
			if (k != METRICS_MAIL_OTHER || get(&m.mails[k][r]))
				rc = sample(b, "ddns_mails_total", "kind", kinds[k], "result",
					    results[r], u64(get(&m.mails[k][r]), v, sizeof(v)));
	return rc;
}

int
metrics_render(struct buf *out)
{
	char v[32];
	int64_t hosts = atomic_load_explicit(&m.hosts, memory_order_relaxed);
	int rc = render_process(out);

	if (rc == 0)
		rc = render_requests(out);
	if (rc == 0)
		rc = render_auth(out);
	if (rc == 0)
		rc = render_dns(out);
	if (rc == 0)
		rc = render_ratelimit(out);
	if (rc == 0)
		rc = render_expiry(out);
	if (rc == 0)
		rc = render_mail(out);
	if (rc == 0 && hosts >= 0)
		rc = single(out, "ddns_hosts", "gauge",
			    "Hostnames in the database (refreshed every cleanup_interval).",
			    i64(hosts, v, sizeof(v)));
	return rc;
}
