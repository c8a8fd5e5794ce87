/* SPDX-License-Identifier: MIT */
/* Per-client sliding-window rate limits in a bounded hash table with LRU eviction. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "err.h"
#include "metrics.h"

/* The times of a client's last `max` requests of one kind, oldest at `head` once full.
 * With the ring full, the client is limited exactly when its oldest entry is still in
 * the window: then `max` requests fall inside it. */
struct ring {
	int64_t *ts;
	int head;  /* next slot to write = oldest slot when full */
	int count; /* 0..max */
};

struct rl_entry {
	struct addr addr;
	struct rl_entry *hnext;	      /* hash chain */
	struct rl_entry *prev, *next; /* LRU list, most recently seen first */
	int64_t last_seen;
	int pending; /* admitted by ratelimit_admit, not yet settled */
	struct ring good, bad;
	int64_t slots[]; /* good_max + bad_max timestamps */
};

struct ratelimit {
	struct ratelimit_config cfg;
	pthread_mutex_t lock;
	struct rl_entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	struct rl_entry *lru_head, *lru_tail;
	uint64_t seed; /* keys the hash so clients cannot aim at one chain */
};

static bool
range_ok(int v, int max)
{
	return v >= 1 && v <= max;
}

static int
check_config(const struct ratelimit_config *cfg)
{
	if (!cfg->enabled)
		return 0;
	if (!range_ok(cfg->good_window_seconds, RATELIMIT_MAX_WINDOW) ||
	    !range_ok(cfg->bad_window_seconds, RATELIMIT_MAX_WINDOW) ||
	    !range_ok(cfg->good_max_requests, RATELIMIT_MAX_REQUESTS) ||
	    !range_ok(cfg->bad_max_requests, RATELIMIT_MAX_REQUESTS))
		return ERR_RANGE;
	return 0;
}

static uint64_t
random_seed(void)
{
	uint64_t s = 0;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
		s = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&s;
	return s;
}

int
ratelimit_new(const struct ratelimit_config *cfg, struct ratelimit **out)
{
	struct ratelimit *rl;
	int rc;

	if (!cfg || !out)
		return ERR_INVAL;
	*out = NULL;
	if ((rc = check_config(cfg)) != 0)
		return rc;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return ERR_NOMEM;
	rl->cfg = *cfg;
	if (rl->cfg.max_clients == 0)
		rl->cfg.max_clients = RATELIMIT_DEFAULT_CLIENTS;
	rl->nbuckets = 16;
	while (rl->nbuckets < rl->cfg.max_clients && rl->nbuckets < ((size_t)1 << 24))
		rl->nbuckets <<= 1;
	rl->buckets = cfg->enabled ? calloc(rl->nbuckets, sizeof(*rl->buckets)) : NULL;
	if (cfg->enabled && !rl->buckets) {
		free(rl);
		return ERR_NOMEM;
	}
	rl->seed = random_seed();
	pthread_mutex_init(&rl->lock, NULL);
	*out = rl;
	return 0;
}

void
ratelimit_free(struct ratelimit *rl)
{
	struct rl_entry *e, *next;

	if (!rl)
		return;
	for (e = rl->lru_head; e; e = next) {
		next = e->next;
		free(e);
	}
	free(rl->buckets);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* The murmur3 finaliser over the address words, keyed by the seed. */
static uint64_t
mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static size_t
bucket_of(const struct ratelimit *rl, const struct addr *a)
{
	uint64_t w0, w1, h;

	memcpy(&w0, a->bytes, 8);
	memcpy(&w1, a->bytes + 8, 8);
	h = mix(rl->seed ^ (uint64_t)a->family);
	h = mix(h ^ w0);
	h = mix(h ^ w1);
	return (size_t)(h & (rl->nbuckets - 1));
}

static struct rl_entry *
find(const struct ratelimit *rl, const struct addr *key)
{
	struct rl_entry *e = rl->buckets[bucket_of(rl, key)];

	while (e && !addr_equal(&e->addr, key))
		e = e->hnext;
	return e;
}

/* Requests of the ring inside the window (a ring holds at most max <= 100). */
static int
ring_in_window(const struct ring *r, int window, int64_t now)
{
	int n = 0;

	for (int i = 0; i < r->count; i++)
		n += now - r->ts[i] < window;
	return n;
}

/* Over the good (or the bad) limit, counting the requests still in flight as if each
 * could be of either kind: parallel requests must not all pass before the first is
 * counted. */
static bool
over_good(const struct ratelimit *rl, const struct rl_entry *e, int64_t now)
{
	return ring_in_window(&e->good, rl->cfg.good_window_seconds, now) + e->pending >=
	       rl->cfg.good_max_requests;
}

static bool
over_bad(const struct ratelimit *rl, const struct rl_entry *e, int64_t now)
{
	return ring_in_window(&e->bad, rl->cfg.bad_window_seconds, now) + e->pending >=
	       rl->cfg.bad_max_requests;
}

static bool
entry_limited(const struct ratelimit *rl, const struct rl_entry *e, int64_t now)
{
	return over_good(rl, e, now) || over_bad(rl, e, now);
}

static void
ring_add(struct ring *r, int max, int64_t now)
{
	r->ts[r->head] = now;
	r->head = (r->head + 1) % max;
	if (r->count < max)
		r->count++;
}

bool
ratelimit_check(struct ratelimit *rl, const struct addr *a, int64_t now)
{
	struct rl_entry *e;
	struct addr key;
	bool limited = false;

	if (!rl || !rl->cfg.enabled || !addr_client_key(a, &key))
		return false;
	pthread_mutex_lock(&rl->lock);
	e = find(rl, &key);
	if (e)
		limited = entry_limited(rl, e, now);
	pthread_mutex_unlock(&rl->lock);
	return limited;
}

static void
lru_unlink(struct ratelimit *rl, struct rl_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		rl->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		rl->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push_front(struct ratelimit *rl, struct rl_entry *e)
{
	e->prev = NULL;
	e->next = rl->lru_head;
	if (rl->lru_head)
		rl->lru_head->prev = e;
	rl->lru_head = e;
	if (!rl->lru_tail)
		rl->lru_tail = e;
}

static void
hash_unlink(struct ratelimit *rl, struct rl_entry *e)
{
	struct rl_entry **pp = &rl->buckets[bucket_of(rl, &e->addr)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
}

/* Takes `e` out of both structures; the caller frees or reuses it. */
static void
detach(struct ratelimit *rl, struct rl_entry *e)
{
	hash_unlink(rl, e);
	lru_unlink(rl, e);
	rl->count--;
}

/* A fresh entry for `key`: the LRU victim's memory when the table is full (all entries
 * have the same size), else a new allocation. NULL when out of memory. */
static struct rl_entry *
new_entry(struct ratelimit *rl, const struct addr *key)
{
	size_t nslots = (size_t)rl->cfg.good_max_requests + (size_t)rl->cfg.bad_max_requests;
	struct rl_entry *e;

	if (rl->count >= rl->cfg.max_clients && rl->lru_tail) {
		e = rl->lru_tail;
		detach(rl, e);
	} else {
		e = malloc(sizeof(*e) + nslots * sizeof(int64_t));
		if (!e)
			return NULL;
	}
	memset(e, 0, sizeof(*e));
	e->addr = *key;
	e->good.ts = e->slots;
	e->bad.ts = e->slots + rl->cfg.good_max_requests;
	return e;
}

/* The entry of `key`, created when missing, moved to the front of the LRU list and
 * seen at `now`. NULL when out of memory. Called with the lock held. */
static struct rl_entry *
touch(struct ratelimit *rl, const struct addr *key, int64_t now)
{
	struct rl_entry *e = find(rl, key);
	size_t b;

	if (e) {
		lru_unlink(rl, e);
	} else if ((e = new_entry(rl, key)) != NULL) {
		b = bucket_of(rl, key);
		e->hnext = rl->buckets[b];
		rl->buckets[b] = e;
		rl->count++;
	}
	if (e) {
		if (now > e->last_seen)
			e->last_seen = now;
		lru_push_front(rl, e);
	}
	return e;
}

static void
count_request(struct ratelimit *rl, struct rl_entry *e, enum ratelimit_kind kind, int64_t now)
{
	if (kind == RATELIMIT_GOOD)
		ring_add(&e->good, rl->cfg.good_max_requests, now);
	else if (kind == RATELIMIT_BAD)
		ring_add(&e->bad, rl->cfg.bad_max_requests, now);
}

void
ratelimit_record(struct ratelimit *rl, const struct addr *a, bool good, int64_t now)
{
	struct rl_entry *e;
	struct addr key;

	if (!rl || !rl->cfg.enabled || !addr_client_key(a, &key))
		return;
	pthread_mutex_lock(&rl->lock);
	e = touch(rl, &key, now);
	if (e)
		count_request(rl, e, good ? RATELIMIT_GOOD : RATELIMIT_BAD, now);
	pthread_mutex_unlock(&rl->lock);
}

bool
ratelimit_admit(struct ratelimit *rl, const struct addr *a, int64_t now)
{
	struct rl_entry *e;
	struct addr key;
	bool admitted = true;

	if (!rl || !rl->cfg.enabled || !addr_client_key(a, &key))
		return true;
	pthread_mutex_lock(&rl->lock);
	e = touch(rl, &key, now);
	if (e && entry_limited(rl, e, now))
		admitted = false;
	else if (e)
		e->pending++;
	if (!admitted)
		metrics_count_ratelimit(over_good(rl, e, now) ? METRICS_RL_GOOD : METRICS_RL_BAD);
	pthread_mutex_unlock(&rl->lock);
	return admitted;
}

void
ratelimit_settle(struct ratelimit *rl, const struct addr *a, enum ratelimit_kind kind, int64_t now)
{
	struct rl_entry *e;
	struct addr key;

	if (!rl || !rl->cfg.enabled || !addr_client_key(a, &key))
		return;
	pthread_mutex_lock(&rl->lock);
	e = touch(rl, &key, now);
	if (e) {
		/* An entry evicted (and re-created) meanwhile has lost the reservation. */
		if (e->pending > 0)
			e->pending--;
		count_request(rl, e, kind, now);
	}
	pthread_mutex_unlock(&rl->lock);
}

size_t
ratelimit_cleanup(struct ratelimit *rl, int64_t now)
{
	int64_t window;
	size_t dropped = 0;

	if (!rl || !rl->cfg.enabled)
		return 0;
	window = rl->cfg.good_window_seconds > rl->cfg.bad_window_seconds
			 ? rl->cfg.good_window_seconds
			 : rl->cfg.bad_window_seconds;
	pthread_mutex_lock(&rl->lock);
	while (rl->lru_tail && now - rl->lru_tail->last_seen >= window) {
		struct rl_entry *e = rl->lru_tail;

		detach(rl, e);
		free(e);
		dropped++;
	}
	pthread_mutex_unlock(&rl->lock);
	return dropped;
}

size_t
ratelimit_count(struct ratelimit *rl)
{
	size_t n;

	if (!rl)
		return 0;
	pthread_mutex_lock(&rl->lock);
	n = rl->count;
	pthread_mutex_unlock(&rl->lock);
	return n;
}
