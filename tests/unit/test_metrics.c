/* SPDX-License-Identifier: MIT */
/* Unit tests of metrics.c: label escaping, the exposition of every family, histogram
 * buckets, the bounded label tables ("other"), and counting from several threads. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"

#include "buf.h"
#include "err.h"
#include "metrics.h"
#include "tap.h"

/* The rendered exposition (caller frees). */
static char *
render(void)
{
	struct buf b;

	buf_init(&b, METRICS_TEXT_MAX);
	if (metrics_render(&b) != 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* Whether `text` has the line `line` (exactly, as a whole line). */
static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static int
count_lines_with(const char *text, const char *prefix)
{
	int n = 0;
	size_t len = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, len) == 0)
			n++;
	return n;
}

static void
test_escape(void)
{
	struct buf b;

	buf_init(&b, 256);
	is_int(metrics_escape_label(&b, "plain.zone"), 0, "escape: plain");
	is_str(buf_str(&b), "plain.zone", "escape: plain text unchanged");
	buf_reset(&b);
	metrics_escape_label(&b, "a\\b\"c\nd");
	is_str(buf_str(&b), "a\\\\b\\\"c\\nd", "escape: backslash, quote and newline");
	buf_reset(&b);
	metrics_escape_label(&b, "");
	is_str(buf_str(&b), "", "escape: empty");
	buf_free(&b);
}

static void
test_rcode_labels(void)
{
	is_str(metrics_rcode_label(0, 0), "NOERROR", "rcode: success");
	is_str(metrics_rcode_label(ERR_DNS, 5), "REFUSED", "rcode: REFUSED");
	is_str(metrics_rcode_label(ERR_DNS, 9), "NOTAUTH", "rcode: NOTAUTH");
	is_str(metrics_rcode_label(ERR_TIMEOUT, -1), "timeout", "rcode: timeout");
	is_str(metrics_rcode_label(ERR_IO, -1), "network", "rcode: network");
	is_str(metrics_rcode_label(ERR_CRYPTO, 0), "bad_reply", "rcode: bogus TSIG");
	is_str(metrics_rcode_label(ERR_DNS, -1), "bad_reply", "rcode: unusable reply");
	is_str(metrics_rcode_label(ERR_INVAL, -1), "internal", "rcode: our own error");
}

/* Before anything was counted: the fixed families are there, all zero. */
static void
test_empty(void)
{
	char *t = render();
	char line[128];

	ok(t != NULL, "render: an empty state renders");
	if (!t)
		return;
	snprintf(line, sizeof(line), "ddns_build_info{version=\"%s\"} 1", DDNS_VERSION);
	ok(has_line(t, line), "build_info carries the version");
	ok(has_line(t, "# TYPE ddns_requests_total counter"), "requests: TYPE line");
	ok(has_line(t, "ddns_auth_verifications_total{result=\"cache_miss\"} 0"),
	   "auth: every result present at zero");
	ok(has_line(t, "ddns_ratelimit_rejections_total{kind=\"bad\"} 0"), "ratelimit at zero");
	ok(has_line(t, "ddns_mail_queue_length 0"), "mail queue length zero");
	ok(has_line(t, "ddns_mails_total{kind=\"expiry\",result=\"dropped\"} 0"), "mails at zero");
	ok(!strstr(t, "kind=\"other\""), "no 'other' mail kind until one is counted");
	ok(!strstr(t, "ddns_hosts "), "ddns_hosts absent until the first count");
	ok(!strstr(t, "process_start_time_seconds "), "no start time before metrics_start");
	ok(has_line(t, "ddns_request_duration_seconds_bucket{le=\"+Inf\"} 0"), "empty histogram");
	ok(t[strlen(t) - 1] == '\n', "the text ends with a line feed");
	free(t);
}

static void
count_some(void)
{
	metrics_start(1700000000);
	metrics_register_endpoint("/nic/update");
	metrics_count_request("/update", UPDATE_GOOD, 3000);
	metrics_count_request("/update", UPDATE_GOOD, 7000);
	metrics_count_request("/update", UPDATE_911, 20000000);
	metrics_count_auth(METRICS_AUTH_OK);
	metrics_count_dns_update("dyn.example.com", 0, 0, 800);
	metrics_count_dns_update("dyn.example.com", ERR_DNS, 5, 1200);
	metrics_count_dns_update("we\"ird\\zone", ERR_TIMEOUT, -1, 2000000);
	metrics_count_ratelimit(METRICS_RL_GOOD);
	metrics_count_expiry_run(true, 1700000100);
	metrics_count_expiry_run(false, 1700000200);
	metrics_count_expired(true, true);
	metrics_count_expired(false, true);
	metrics_mail_queued(3);
	metrics_mail_queued(-1);
	metrics_count_mail(METRICS_MAIL_CHANGE, METRICS_MAIL_SENT);
	metrics_set_hosts(42);
	metrics_set_ratelimit_clients(7);
}

static void
test_counts(void)
{
	char *t;

	count_some();
	t = render();
	if (!t) {
		ok(0, "render after counting");
		return;
	}
	ok(has_line(t, "process_start_time_seconds 1700000000"), "start time");
	ok(has_line(t, "ddns_requests_total{endpoint=\"/update\",status=\"good\"} 2"), "good x2");
	ok(has_line(t, "ddns_requests_total{endpoint=\"/update\",status=\"911\"} 1"), "911 x1");
	ok(has_line(t, "ddns_requests_total{endpoint=\"/nic/update\",status=\"abuse\"} 0"),
	   "a registered endpoint has every status at zero");
	is_int(count_lines_with(t, "ddns_requests_total{endpoint=\"/update\""), 10,
	       "ten DynDNS statuses per endpoint");
	ok(has_line(t, "ddns_request_duration_seconds_bucket{le=\"0.005\"} 1"), "bucket 5 ms");
	ok(has_line(t, "ddns_request_duration_seconds_bucket{le=\"0.01\"} 2"),
	   "buckets are cumulative");
	ok(has_line(t, "ddns_request_duration_seconds_bucket{le=\"10\"} 2"),
	   "20 s is above the last bound");
	ok(has_line(t, "ddns_request_duration_seconds_bucket{le=\"+Inf\"} 3"), "+Inf has all");
	ok(has_line(t, "ddns_request_duration_seconds_count 3"), "_count equals +Inf");
	ok(has_line(t, "ddns_request_duration_seconds_sum 20.010000"), "_sum in seconds");
	ok(has_line(t, "ddns_auth_verifications_total{result=\"ok\"} 1"), "auth ok");
	ok(has_line(t, "ddns_dns_updates_total{zone=\"dyn.example.com\",rcode=\"NOERROR\"} 1"),
	   "dns NOERROR");
	ok(has_line(t, "ddns_dns_updates_total{zone=\"dyn.example.com\",rcode=\"REFUSED\"} 1"),
	   "dns REFUSED");
	ok(!strstr(t, "rcode=\"SERVFAIL\""), "rcodes that never happened are left out");
	ok(has_line(t, "ddns_dns_updates_total{zone=\"we\\\"ird\\\\zone\",rcode=\"timeout\"} 1"),
	   "a zone label is escaped");
	ok(has_line(t, "ddns_dns_update_duration_seconds_bucket{le=\"0.001\"} 1"), "dns bucket");
	ok(has_line(t, "ddns_ratelimit_rejections_total{kind=\"good\"} 1"), "ratelimit good");
	ok(has_line(t, "ddns_ratelimit_clients 7"), "ratelimit clients");
	ok(has_line(t, "ddns_expiry_runs_total 1"), "expiry runs");
	ok(has_line(t, "ddns_expiry_errors_total 1"), "expiry errors");
	ok(has_line(t, "ddns_expiry_last_success_timestamp_seconds 1700000100"),
	   "last success is the completed pass");
	ok(has_line(t, "ddns_expired_records_total{family=\"ipv6\"} 2"), "expired ipv6");
	ok(has_line(t, "ddns_mail_queue_length 2"), "queue length follows the deltas");
	ok(has_line(t, "ddns_mails_total{kind=\"change\",result=\"sent\"} 1"), "mail sent");
	ok(has_line(t, "ddns_hosts 42"), "hosts gauge");
	free(t);
}

/* Past METRICS_ZONES_MAX zones, new ones count as "other"; a known one keeps its own. */
static void
test_zone_bound(void)
{
	char zone[64], *t;

	for (int i = 0; i < METRICS_ZONES_MAX + 10; i++) {
		snprintf(zone, sizeof(zone), "z%d.example", i);
		metrics_count_dns_update(zone, 0, 0, 100);
	}
	metrics_count_dns_update("dyn.example.com", 0, 0, 100);
	t = render();
	if (!t) {
		ok(0, "render with many zones");
		return;
	}
	is_int(count_lines_with(t, "ddns_dns_updates_total{zone=\"z"), METRICS_ZONES_MAX - 2,
	       "zone table bounded (two zones were there before)");
	ok(has_line(t, "ddns_dns_updates_total{zone=\"other\",rcode=\"NOERROR\"} 12"),
	   "the overflow counts under other");
	ok(has_line(t, "ddns_dns_updates_total{zone=\"dyn.example.com\",rcode=\"NOERROR\"} 2"),
	   "a zone seen before the table filled keeps counting");
	free(t);
}

#define THREADS 4
#define PER	20000

static void *
hammer(void *arg)
{
	char zone[32];

	snprintf(zone, sizeof(zone), "t%d.example", (int)(long)arg % 2);
	for (int i = 0; i < PER; i++) {
		metrics_count_request("/threads", UPDATE_NOCHG, 100);
		metrics_count_dns_update("threads.example", 0, 0, 100);
	}
	return NULL;
}

static void
test_threads(void)
{
	pthread_t th[THREADS];
	char line[128], *t;

	for (long i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, hammer, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	t = render();
	snprintf(line, sizeof(line),
		 "ddns_requests_total{endpoint=\"/threads\",status=\"nochg\"} %d", THREADS * PER);
	ok(t && has_line(t, line), "no count lost between threads");
	ok(t && count_lines_with(
			t, "ddns_requests_total{endpoint=\"/threads\",status=\"nochg\"}") == 1,
	   "a label added by racing threads appears once");
	free(t);
}

int
main(void)
{
	test_escape();
	test_rcode_labels();
	test_empty();
	test_counts();
	test_zone_bound();
	test_threads();
	return tap_done();
}
