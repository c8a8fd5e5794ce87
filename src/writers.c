/* SPDX-License-Identifier: MIT */
/* The zone writers of the daemon: a table of writers keyed by server, key and zone, the
 * thread of each, and the operations (database lease and results, DNS exchange) that
 * zonewriter.c runs through. */
#include "writers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"
#include "log.h"

#define WRITERS_BUCKETS 64

/* What makes two items go to the same writer. */
struct wkey {
	struct dns_server srv;
	bool has_tsig;
	struct tsig_key tsig; /* wiped when the writer goes */
	char zone[HOSTNAME_MAX + 1];
};

struct writer {
	struct writer *next; /* hash chain */
	struct writers *ws;
	struct wkey key;
	struct zonewriter *zw;
	pthread_mutex_t mu; /* run state below */
	pthread_cond_t cv;  /* wakes the thread (CLOCK_MONOTONIC) */
	bool running;	    /* a thread runs (or is about to) */
	bool joinable;	    /* `thread` has ended or will: join before the next */
	pthread_t thread;
	/* The thread's own, while it runs. */
	struct db *db;
	struct dns_client *dns;
};

struct writers {
	pthread_mutex_t mu; /* the table and `stopping` */
	const struct config *boot;
	struct writer *buckets[WRITERS_BUCKETS];
	size_t count;
	bool stopping;
	bool full_logged;
};

/* ---- the operations of struct zw_ops ---- */

static int
op_lease(void *ctx, struct db_lease *l, size_t n)
{
	struct writer *w = ctx;
	int rc;

	if (w->db == NULL && (rc = db_open(w->ws->boot, &w->db)) != 0) {
		w->db = NULL;
		return rc;
	}
	return db_host_lease_many(w->db, l, n);
}

static int
op_end(void *ctx, struct db_host_end *e, size_t n)
{
	struct writer *w = ctx;

	return w->db == NULL ? ERR_DB : db_host_end_many(w->db, e, n);
}

static int
op_send(void *ctx, const struct dns_change *chs, size_t n, struct dns_result *res)
{
	struct writer *w = ctx;
	int rc;

	if (w->dns == NULL && (rc = dns_client_new(&w->key.srv, &w->dns, res)) != 0)
		return rc;
	return dns_client_update(w->dns, w->key.has_tsig ? &w->key.tsig : NULL, w->key.zone, chs, n,
				 res);
}

static int64_t
op_now(void *ctx)
{
	(void)ctx;
	return clock_mono_ms();
}

static const struct zw_ops WRITER_OPS = {op_lease, op_end, op_send, op_now};

/* ---- the thread of a writer ---- */

/* Waits on w->cv (w->mu held) until `until` (monotonic ms). */
static void
wait_until(struct writer *w, int64_t until)
{
	struct timespec ts = clock_mono_timespec(until);
	int rc = pthread_cond_timedwait(&w->cv, &w->mu, &ts);

	(void)rc; /* a timeout, a signal or a spurious wake-up: the loop looks again */
}

static bool
is_stopping(struct writer *w)
{
	bool s;

	pthread_mutex_lock(&w->ws->mu);
	s = w->ws->stopping;
	pthread_mutex_unlock(&w->ws->mu);
	return s;
}

/* Closes what the thread opened. */
static void
release_thread_state(struct writer *w)
{
	db_close(w->db);
	w->db = NULL;
	dns_client_free(w->dns);
	w->dns = NULL;
}

/* One turn of the loop with w->mu held: runs a step, or waits. Returns false when the
 * thread should end (idle long enough, or the set is stopping). */
static bool
writer_turn(struct writer *w, int64_t *idle_since)
{
	int64_t now = clock_mono_ms();
	int64_t next = zw_next_ms(w->zw, now);

	if (next >= 0 && next <= now) {
		pthread_mutex_unlock(&w->mu);
		zw_step(w->zw, now);
		pthread_mutex_lock(&w->mu);
		*idle_since = clock_mono_ms();
		return true;
	}
	if (is_stopping(w))
		return false;
	if (next < 0 && now - *idle_since >= WRITERS_IDLE_MS)
		return false;
	wait_until(w, next >= 0 ? next : *idle_since + WRITERS_IDLE_MS);
	return true;
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	int64_t idle_since = clock_mono_ms();

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (writer_turn(w, &idle_since))
			;
		/* Ending: close outside the lock, then look once more, since an item may
		 * have come while closing (its submitter saw `running` and only signalled). */
		pthread_mutex_unlock(&w->mu);
		release_thread_state(w);
		if (is_stopping(w))
			zw_fail_all(w->zw, UPDATE_911);
		pthread_mutex_lock(&w->mu);
		if (zw_next_ms(w->zw, clock_mono_ms()) < 0 || is_stopping(w))
			break;
		idle_since = clock_mono_ms();
	}
	w->running = false;
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Makes sure a thread runs for w (w->mu held): joins the one that ended, starts one. */
static int
ensure_thread(struct writer *w)
{
	pthread_attr_t attr;
	int rc;

	if (w->running)
		return 0;
	if (w->joinable) {
		pthread_join(w->thread, NULL);
		w->joinable = false;
	}
	if (pthread_attr_init(&attr) != 0)
		return ERR_NOMEM;
	pthread_attr_setstacksize(&attr, WRITERS_STACK_SIZE);
	rc = pthread_create(&w->thread, &attr, writer_main, w);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		log_error("zone %s: cannot start its writer: %s", w->key.zone, strerror(rc));
		return ERR_NOMEM;
	}
	w->running = true;
	w->joinable = true;
	return 0;
}

/* ---- the table ---- */

static void
make_key(const struct config *cfg, const char *zone, struct wkey *k)
{
	const struct tsig_key *t;

	memset(k, 0, sizeof(*k));
	t = config_dns_server(cfg, zone, &k->srv);
	if (t != NULL) {
		k->has_tsig = true;
		k->tsig = *t;
	}
	snprintf(k->zone, sizeof(k->zone), "%s", zone);
}

static unsigned
bucket_of(const struct wkey *k)
{
	uint32_t h = 2166136261u; /* FNV-1a of the zone: the part that varies most */

	for (const char *p = k->zone; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % WRITERS_BUCKETS;
}

/* Keys are compared whole (memcmp: both were zeroed before being filled). */
static bool
same_key(const struct wkey *a, const struct wkey *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	zw_free(w->zw);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	tsig_key_wipe(&w->key.tsig);
	free(w);
}

static struct writer *
writer_new(struct writers *ws, const struct wkey *k)
{
	struct writer *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	char label[HOSTNAME_MAX + 64];

	if (w == NULL)
		return NULL;
	w->ws = ws;
	w->key = *k;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(label, sizeof(label), "%s via %s:%d", k->zone, k->srv.addr, k->srv.port);
	if (zw_new(k->zone, label, &WRITER_OPS, w, k->srv.timeout_ms, &w->zw) != 0) {
		writer_free(w);
		return NULL;
	}
	return w;
}

/* The writer of key k, made when there is none (ws->mu held). NULL when stopping, out
 * of memory or at WRITERS_MAX. */
static struct writer *
find_writer(struct writers *ws, const struct wkey *k)
{
	unsigned b = bucket_of(k);
	struct writer *w;

	for (w = ws->buckets[b]; w != NULL; w = w->next)
		if (same_key(&w->key, k))
			return w;
	if (ws->stopping)
		return NULL;
	if (ws->count >= WRITERS_MAX) {
		if (!ws->full_logged)
			log_error("%d zone writers exist; updates of further zones fail (dnserr)",
				  WRITERS_MAX);
		ws->full_logged = true;
		return NULL;
	}
	if ((w = writer_new(ws, k)) == NULL)
		return NULL;
	w->next = ws->buckets[b];
	ws->buckets[b] = w;
	ws->count++;
	return w;
}

int
writers_new(const struct config *boot, struct writers **out)
{
	struct writers *ws = calloc(1, sizeof(*ws));

	*out = NULL;
	if (ws == NULL)
		return ERR_NOMEM;
	pthread_mutex_init(&ws->mu, NULL);
	ws->boot = boot;
	*out = ws;
	return 0;
}

static void
answer_now(struct zw_item *it, enum update_status status)
{
	it->status = status;
	it->done(it);
}

void
writers_submit(struct writers *ws, const struct config *cfg, const char *zone, struct zw_item *it)
{
	struct wkey k;
	struct writer *w;
	bool stopping;

	make_key(cfg, zone, &k);
	pthread_mutex_lock(&ws->mu);
	w = find_writer(ws, &k);
	stopping = ws->stopping;
	pthread_mutex_unlock(&ws->mu);
	tsig_key_wipe(&k.tsig);
	if (w == NULL) {
		answer_now(it, stopping ? UPDATE_911 : UPDATE_DNSERR);
		return;
	}
	if (!zw_submit(w->zw, it, clock_mono_ms()))
		return; /* answered: the zone fails fast or its queue is full */
	pthread_mutex_lock(&w->mu);
	if (ensure_thread(w) == 0)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

size_t
writers_fail_all(struct writers *ws, enum update_status status)
{
	struct writer *heads[WRITERS_BUCKETS];
	size_t n = 0;

	/* The answers run without the table's lock (a writer is never removed before
	 * writers_free, and a new one only goes in front of a chain). */
	pthread_mutex_lock(&ws->mu);
	memcpy(heads, ws->buckets, sizeof(heads));
	pthread_mutex_unlock(&ws->mu);
	for (size_t b = 0; b < WRITERS_BUCKETS; b++)
		for (struct writer *w = heads[b]; w != NULL; w = w->next)
			n += zw_fail_all(w->zw, status);
	return n;
}

/* Stops one writer's thread: wakes it (it sees `stopping`) and joins it. */
static void
stop_writer(struct writer *w)
{
	pthread_mutex_lock(&w->mu);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->joinable)
		pthread_join(w->thread, NULL);
	w->joinable = false;
	zw_fail_all(w->zw, UPDATE_911);
}

void
writers_free(struct writers *ws)
{
	if (ws == NULL)
		return;
	pthread_mutex_lock(&ws->mu);
	ws->stopping = true;
	pthread_mutex_unlock(&ws->mu);
	for (size_t b = 0; b < WRITERS_BUCKETS; b++) {
		struct writer *w = ws->buckets[b];

		while (w != NULL) {
			struct writer *next = w->next;

			stop_writer(w);
			writer_free(w);
			w = next;
		}
	}
	pthread_mutex_destroy(&ws->mu);
	free(ws);
}
