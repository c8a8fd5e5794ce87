/* SPDX-License-Identifier: MIT */
/* The process's Prometheus metrics: lock-free counters, gauges and fixed-bucket
 * histograms that the modules doing the work bump in one call each, rendered on demand
 * in the text exposition format (version 0.0.4). */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "update.h"

/*
 * Why process-wide state: the metrics describe the process, not a configuration
 * generation, so they must outlive every reload (a counter that restarted at zero on
 * SIGHUP would read as a process restart to Prometheus). Everything here is atomics
 * (relaxed: each counter is independent), so counting never takes a lock; the only
 * lock guards the first appearance of a new zone or endpoint label.
 */

/* Labels that come from the configuration or the database are kept in bounded tables:
 * past the bound a new value counts under the label "other", so a misbehaving input
 * can never grow the output without limit. */
#define METRICS_ENDPOINTS_MAX 64	    /* CONFIG_MAX_ENDPOINTS: every configured path fits */
#define METRICS_ZONES_MAX     128	    /* zones seen by DNS updates */
#define METRICS_LABEL_MAX     253	    /* bytes of a label value we keep (a zone name) */
#define METRICS_TEXT_MAX      (1024 * 1024) /* bytes of a rendered exposition */

/* ddns_auth_verifications_total{result}: a password check (auth_verify, the dummy
 * check of an unknown user), and a credential cache's hits and misses. */
enum metrics_auth {
	METRICS_AUTH_OK,
	METRICS_AUTH_FAIL,
	METRICS_AUTH_CACHE_HIT,
	METRICS_AUTH_CACHE_MISS,
	METRICS_AUTH_COUNT
};

/* ddns_ratelimit_rejections_total{kind}: which window the client was over. */
enum metrics_ratelimit { METRICS_RL_GOOD, METRICS_RL_BAD, METRICS_RL_COUNT };

/* ddns_mails_total{kind,result}. */
enum metrics_mail_kind {
	METRICS_MAIL_CHANGE,
	METRICS_MAIL_EXPIRY,
	METRICS_MAIL_OTHER,
	METRICS_MAIL_KIND_COUNT
};
enum metrics_mail_result {
	METRICS_MAIL_SENT,    /* the server accepted the data */
	METRICS_MAIL_FAILED,  /* given up after the retries or on a 5xx */
	METRICS_MAIL_DROPPED, /* never sent: queue full, or still queued at shutdown */
	METRICS_MAIL_RESULT_COUNT
};

/* metrics_start: records the process start time (unix seconds) and the version for
 * process_start_time_seconds and ddns_build_info. Call once at daemon start. */
void metrics_start(int64_t now);

/* ddns_requests_total{endpoint,status} and ddns_request_duration_seconds: one update
 * request on the endpoint with path `endpoint` (borrowed) answered with `status` (the
 * first line's, as in the request log) after `micros` microseconds. */
void metrics_count_request(const char *endpoint, enum update_status status, int64_t micros);

/* metrics_register_endpoint: gives `endpoint` its series (all zero) before its first
 * request, so that rate() works from the first scrape. */
void metrics_register_endpoint(const char *endpoint);

/* ddns_auth_verifications_total{result}. */
void metrics_count_auth(enum metrics_auth result);

/* ddns_dns_updates_total{zone,rcode} and ddns_dns_update_duration_seconds: one RFC
 * 2136 exchange for `zone` that ended with `err` (0 or the ERR_* code dns_update
 * returned) and the reply's `rcode` (-1: none), after `micros` microseconds. The rcode
 * label is the rcode's name (NOERROR, REFUSED, NOTAUTH, ...) or, without a usable
 * reply, "timeout", "network", "bad_reply" (TSIG or format) or "internal". */
void metrics_count_dns_update(const char *zone, int err, int rcode, int64_t micros);

/* ddns_ratelimit_rejections_total{kind}. */
void metrics_count_ratelimit(enum metrics_ratelimit kind);

/* ddns_expiry_runs_total (a pass that completed; `ok` false: one that stopped on a
 * database error, ddns_expiry_errors_total) and, for a completed pass,
 * ddns_expiry_last_success_timestamp_seconds = now. */
void metrics_count_expiry_run(bool ok, int64_t now);

/* ddns_expired_records_total{family}: families expired by the pass. */
void metrics_count_expired(bool v4, bool v6);

/* ddns_mail_queue_length: `delta` messages entered (+) or left (-) a queue. */
void metrics_mail_queued(long delta);

/* ddns_mails_total{kind,result}. */
void metrics_count_mail(enum metrics_mail_kind kind, enum metrics_mail_result result);

/* ddns_hosts: the number of hostnames (set by the daemon's periodic work). */
void metrics_set_hosts(int64_t n);

/* ddns_ratelimit_clients: clients the rate limiter tracks. */
void metrics_set_ratelimit_clients(int64_t n);

/* metrics_render: appends the whole exposition to `out` (give it METRICS_TEXT_MAX).
 * Series with fixed labels are always present (zero until counted) so that rate()
 * works from the first scrape; a histogram's _count equals its +Inf bucket even while
 * other threads count. Returns 0, ERR_TOOBIG or ERR_NOMEM (out then holds a prefix). */
int metrics_render(struct buf *out);

/* metrics_escape_label: appends `s` as a label value body (without the quotes):
 * backslash, double quote and line feed escaped as the format requires. */
int metrics_escape_label(struct buf *out, const char *s);

/* metrics_rcode_label: the rcode label metrics_count_dns_update uses for (err, rcode);
 * a static string. */
const char *metrics_rcode_label(int err, int rcode);

/* metrics_content_type: the exposition's HTTP Content-Type. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
