/* SPDX-License-Identifier: MIT */
/* Configuration generations: what a reload builds from one configuration, shared by
 * reference count between the main thread and the requests that use it. */
#include "gen.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "credcache.h"
#include "err.h"
#include "log.h"
#include "notify.h"
#include "ratelimit.h"

/* A rate limiter shared by consecutive generations whose limits are equal. Its count
 * is touched by the main thread only: generations are built and freed there. */
struct gen_limiter {
	int refs;
	struct ratelimit *rl;
};

/* The current generation holds the slot's reference. Replaced generations stay in the
 * list, oldest first, until gen_slot_reap frees them.
 *
 * Freeing happens on the main thread only, never in gen_release: the last reference of
 * a replaced generation is often dropped by an HTTP worker thread (a request that
 * completes after the reload), and freeing closes the generation's notifier, which may
 * drain its mail queue for up to GEN_MAIL_DRAIN_MS; a worker must never block on that.
 * The main loop reaps on every tick (one second), so a replaced generation lives at
 * most that long after its last request. */
struct gen_slot {
	pthread_mutex_t mu; /* guards `cur` against a publish while a request takes it */
	struct gen *cur;
	struct gen *oldest; /* every generation of the slot, oldest first; cur is last */
};

static int
limiter_new(const struct config *cfg, struct gen_limiter **out)
{
	struct ratelimit_config rc = {
		.enabled = cfg->rate_limit.enabled,
		.good_window_seconds = cfg->rate_limit.good_window_seconds,
		.good_max_requests = cfg->rate_limit.good_max_requests,
		.bad_window_seconds = cfg->rate_limit.bad_window_seconds,
		.bad_max_requests = cfg->rate_limit.bad_max_requests,
		.max_clients = 0,
	};
	struct gen_limiter *l = calloc(1, sizeof(*l));
	int err;

	*out = NULL;
	if (!l)
		return ERR_NOMEM;
	err = ratelimit_new(&rc, &l->rl);
	if (err < 0) {
		log_error("rate_limit: %s", err_str(err));
		free(l);
		return err;
	}
	l->refs = 1;
	*out = l;
	return 0;
}

static void
limiter_unref(struct gen_limiter *l)
{
	if (!l || --l->refs > 0)
		return;
	ratelimit_free(l->rl);
	free(l);
}

static bool
rate_limits_equal(const struct config *a, const struct config *b)
{
	return a->rate_limit.enabled == b->rate_limit.enabled &&
	       a->rate_limit.good_window_seconds == b->rate_limit.good_window_seconds &&
	       a->rate_limit.good_max_requests == b->rate_limit.good_max_requests &&
	       a->rate_limit.bad_window_seconds == b->rate_limit.bad_window_seconds &&
	       a->rate_limit.bad_max_requests == b->rate_limit.bad_max_requests;
}

/* The limiter of `prev` when the limits did not change (a reload — logrotate sends
 * SIGHUP every day — must not forgive an abusive client), else a new one. */
static int
take_limiter(struct gen *g, const struct gen *prev)
{
	int rc = 0;

	if (prev && rate_limits_equal(prev->cfg, g->cfg)) {
		g->limiter = prev->limiter;
		g->limiter->refs++;
	} else {
		rc = limiter_new(g->cfg, &g->limiter);
	}
	if (rc == 0)
		g->rl = g->limiter->rl;
	return rc;
}

/* The credential cache, shared by every generation of the process; like the limiter,
 * its count is touched by the main thread only. */
struct gen_credcache {
	int refs;
	struct credcache *cache;
};

static int
take_cache(struct gen *g, const struct gen *prev)
{
	struct gen_credcache *sc;
	int rc;

	if (prev) {
		g->shared_cache = prev->shared_cache;
		g->shared_cache->refs++;
	} else {
		if (!(sc = calloc(1, sizeof(*sc))))
			return ERR_NOMEM;
		if ((rc = credcache_new(&sc->cache)) < 0) {
			log_error("credential cache: %s", err_str(rc));
			free(sc);
			return rc;
		}
		sc->refs = 1;
		g->shared_cache = sc;
	}
	g->cache = g->shared_cache->cache;
	return 0;
}

static void
cache_unref(struct gen_credcache *sc)
{
	if (!sc || --sc->refs > 0)
		return;
	credcache_free(sc->cache);
	free(sc);
}

static int
parse_trusted(struct gen *g)
{
	const struct config_strlist *l = &g->cfg->daemon.trusted_proxies;

	if (!l->len)
		return 0;
	g->trusted = calloc(l->len, sizeof(*g->trusted));
	if (!g->trusted)
		return ERR_NOMEM;
	for (size_t i = 0; i < l->len; i++) {
		if (cidr_parse(l->items[i], &g->trusted[i]) < 0) {
			log_error("daemon.trusted_proxies: \"%s\" is not an address or CIDR",
				  l->items[i]);
			return ERR_INVAL;
		}
	}
	g->ntrusted = l->len;
	return 0;
}

/* Frees a generation and what it owns; its notifier gets a short drain for mails that
 * requests of this generation queued. */
static void
gen_free(struct gen *g)
{
	if (!g)
		return;
	notify_close(g->notify, GEN_MAIL_DRAIN_MS);
	limiter_unref(g->limiter);
	cache_unref(g->shared_cache);
	free(g->trusted);
	config_free(g->owned_cfg);
	free(g);
}

int
gen_new(struct config *cfg, bool own_cfg, struct gen *prev, struct gen **out)
{
	struct gen *g = calloc(1, sizeof(*g));
	char err[512] = "";
	int rc;

	*out = NULL;
	if (!g)
		return ERR_NOMEM;
	atomic_init(&g->refs, 1);
	g->cfg = cfg;
	rc = take_limiter(g, prev);
	if (rc == 0)
		rc = take_cache(g, prev);
	if (rc == 0)
		rc = parse_trusted(g);
	/* Last, because it may take the mail queue over from `prev`: nothing may fail
	 * after that. Templates compile now: a broken one is refused (FILE:LINE: ...). */
	if (rc == 0) {
		rc = notify_reopen(cfg, prev ? prev->notify : NULL, prev ? prev->cfg : NULL,
				   &g->notify, err, sizeof(err));
		if (rc < 0)
			log_error("%s", err);
	}
	if (rc < 0) {
		gen_free(g); /* owned_cfg is not set yet: cfg stays the caller's */
		return rc;
	}
	g->owned_cfg = own_cfg ? cfg : NULL;
	*out = g;
	return 0;
}

void
gen_abandon(struct gen *g, struct gen *prev)
{
	if (!g)
		return;
	notify_abandon(g->notify, prev ? prev->notify : NULL);
	g->notify = NULL;
	gen_free(g);
}

/* The change hook of a generation's notifier (never blocks: the mail module queues). */
static void
notify_change_hook(void *arg, const struct service_change *ch)
{
	notify_change(arg, ch->email, ch->host, ch->ipv4, ch->ipv6, ch->v4_changed, ch->v6_changed,
		      ch->now);
}

void
gen_service_ctx(const struct gen *g, struct db *db, struct service_ctx *out)
{
	memset(out, 0, sizeof(*out));
	out->cfg = g->cfg;
	out->db = db;
	out->rl = g->rl;
	out->cache = g->cache;
	out->notify = notify_change_hook;
	out->notify_arg = g->notify;
}

int
gen_slot_new(struct gen *g, struct gen_slot **out)
{
	struct gen_slot *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return ERR_NOMEM;
	pthread_mutex_init(&s->mu, NULL);
	s->cur = g;
	s->oldest = g;
	*out = s;
	return 0;
}

struct gen *
gen_slot_acquire(struct gen_slot *s)
{
	struct gen *g;

	/* Under the lock: between reading `cur` and counting the reference, a publish
	 * must not drop the slot's reference (the count could reach 0 and be reaped). */
	pthread_mutex_lock(&s->mu);
	g = s->cur;
	atomic_fetch_add(&g->refs, 1);
	pthread_mutex_unlock(&s->mu);
	return g;
}

void
gen_release(struct gen *g)
{
	if (g)
		atomic_fetch_sub(&g->refs, 1);
}

void
gen_slot_publish(struct gen_slot *s, struct gen *g)
{
	struct gen *old;

	pthread_mutex_lock(&s->mu);
	old = s->cur;
	s->cur = g;
	pthread_mutex_unlock(&s->mu);
	old->next = g;
	gen_release(old); /* the slot's reference */
}

/* Oldest first, and never past one still in use: a generation whose notifier handed
 * its mail queue to the next one (notify_reopen) keeps pushing mail into that queue
 * while a request of it runs, and the queue stops when the generation that owns it
 * last is freed. So a generation is freed only after every older one. A replaced
 * generation's count only goes down (requests take the current one), so 0 stays 0. */
size_t
gen_slot_reap(struct gen_slot *s)
{
	size_t n = 0;

	while (s->oldest != s->cur && atomic_load(&s->oldest->refs) == 0) {
		struct gen *g = s->oldest;

		s->oldest = g->next;
		gen_free(g);
		n++;
	}
	return n;
}

void
gen_slot_free(struct gen_slot *s)
{
	if (!s)
		return;
	/* No request is left (the workers stopped): every generation goes, oldest first,
	 * each notifier with its drain for the mails its requests queued. */
	while (s->oldest) {
		struct gen *g = s->oldest;

		s->oldest = g->next;
		gen_free(g);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}
