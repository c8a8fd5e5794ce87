/* SPDX-License-Identifier: MIT */
/* The verified-credential cache: a hash table of keyed digests with least-recently-used
 * eviction and a time to live, read by many threads at once, and single-flight
 * verification of misses. */
#include "credcache.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "err.h"

/* The table starts this small (an idle daemon must stay small: its memory grows with
 * use) and doubles whenever it holds as many entries as buckets. */
#define CREDCACHE_MIN_BUCKETS 64

struct entry {
	struct credcache_key key;
	int64_t verified;	   /* `now` of the verification: the time to live counts from it */
	_Atomic int64_t moved;	   /* `now` when it last went to the front of the list */
	struct entry *hnext;	   /* the bucket's chain */
	struct entry *prev, *next; /* the use list, most recent first */
};

/* A verification in progress, and the requests waiting for its result. */
struct flight {
	struct credcache_key key;
	int result;
	bool done;
	int waiters;
	struct flight *next;
};

/*
 * Locks, always taken in this order: `flight_mu`, then `lock`, then `lru_mu`.
 * `lock` guards the table and the list's membership: lookups hold it shared, inserts
 * and evictions exclusive. A hit moves its entry to the front of the list under the
 * shared lock, so the list's order has its own small mutex; to keep hits from queueing
 * on it, an entry moves at most once per second (`moved`): the order is exact to the
 * second, which is all an eviction of the least recently used needs.
 */
struct credcache {
	pthread_rwlock_t lock;
	pthread_mutex_t lru_mu;
	pthread_mutex_t flight_mu;
	pthread_cond_t flight_cv;
	unsigned char secret[CREDCACHE_SECRET_LEN];
	struct entry **buckets;
	size_t nbuckets, count;
	struct entry lru; /* sentinel: lru.next is the most recent, lru.prev the least */
	struct flight *flights;
	size_t waiting;
	_Atomic uint64_t hits, misses, verifications, shared;
};

static void
init_lock(pthread_rwlock_t *l)
{
	pthread_rwlockattr_t a;

	/* glibc's default lets a stream of readers starve a writer; an insert must not
	 * wait behind every router that keeps hitting the cache. */
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(l, &a);
	pthread_rwlockattr_destroy(&a);
}

int
credcache_new(struct credcache **out)
{
	struct credcache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return ERR_NOMEM;
	c->buckets = calloc(CREDCACHE_MIN_BUCKETS, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return ERR_NOMEM;
	}
	if (getrandom(c->secret, sizeof(c->secret), 0) != (ssize_t)sizeof(c->secret)) {
		free(c->buckets);
		free(c);
		return ERR_CRYPTO;
	}
	c->nbuckets = CREDCACHE_MIN_BUCKETS;
	c->lru.next = c->lru.prev = &c->lru;
	init_lock(&c->lock);
	pthread_mutex_init(&c->lru_mu, NULL);
	pthread_mutex_init(&c->flight_mu, NULL);
	pthread_cond_init(&c->flight_cv, NULL);
	*out = c;
	return 0;
}

static void
entry_free(struct entry *e)
{
	explicit_bzero(e, sizeof(*e));
	free(e);
}

void
credcache_free(struct credcache *c)
{
	struct entry *e, *next;

	if (!c)
		return;
	for (e = c->lru.next; e != &c->lru; e = next) {
		next = e->next;
		entry_free(e);
	}
	free(c->buckets);
	pthread_rwlock_destroy(&c->lock);
	pthread_mutex_destroy(&c->lru_mu);
	pthread_mutex_destroy(&c->flight_mu);
	pthread_cond_destroy(&c->flight_cv);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

/* Feeds a length-prefixed field (4 bytes, big-endian) to the HMAC. */
static int
hmac_field(gnutls_hmac_hd_t h, const char *s, size_t n)
{
	unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
				(unsigned char)(n >> 8), (unsigned char)n};

	if (gnutls_hmac(h, len, sizeof(len)) < 0)
		return ERR_CRYPTO;
	return n == 0 || gnutls_hmac(h, s, n) >= 0 ? 0 : ERR_CRYPTO;
}

int
credcache_key(const struct credcache *c, const char *user, const char *phc, const char *password,
	      struct credcache_key *out)
{
	gnutls_hmac_hd_t h;
	int rc;

	if (gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, c->secret, sizeof(c->secret)) < 0)
		return ERR_CRYPTO;
	user = user ? user : "";
	phc = phc ? phc : "";
	password = password ? password : "";
	/* The password is the rest of the input: the prefixes of the two fields before it
	 * make the split unambiguous. */
	rc = hmac_field(h, user, strlen(user));
	if (rc == 0)
		rc = hmac_field(h, phc, strlen(phc));
	if (rc == 0 && password[0] && gnutls_hmac(h, password, strlen(password)) < 0)
		rc = ERR_CRYPTO;
	gnutls_hmac_deinit(h, out->d);
	if (rc != 0)
		explicit_bzero(out, sizeof(*out));
	return rc;
}

/* The digest is uniformly random: its first bytes are a good bucket index. */
static size_t
bucket_of(const struct credcache *c, const struct credcache_key *k)
{
	uint64_t v;

	memcpy(&v, k->d, sizeof(v));
	return (size_t)(v & (c->nbuckets - 1));
}

/* The entry of `k`, or NULL. Under `lock` (either mode). */
static struct entry *
find(const struct credcache *c, const struct credcache_key *k)
{
	struct entry *e = c->buckets[bucket_of(c, k)];

	while (e && memcmp(e->key.d, k->d, sizeof(k->d)) != 0)
		e = e->hnext;
	return e;
}

static void
list_unlink(struct entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void
list_push_front(struct credcache *c, struct entry *e)
{
	e->prev = &c->lru;
	e->next = c->lru.next;
	c->lru.next->prev = e;
	c->lru.next = e;
}

/* Makes `e` the most recently used, at most once per second (see struct credcache). */
static void
touch(struct credcache *c, struct entry *e, int64_t now)
{
	if (atomic_load_explicit(&e->moved, memory_order_relaxed) == now)
		return;
	pthread_mutex_lock(&c->lru_mu);
	atomic_store_explicit(&e->moved, now, memory_order_relaxed);
	list_unlink(e);
	list_push_front(c, e);
	pthread_mutex_unlock(&c->lru_mu);
}

static bool
is_fresh(const struct entry *e, int64_t now, int ttl)
{
	return ttl > 0 && now >= e->verified && now - e->verified < ttl;
}

/* The lookup proper, under the caller's shared lock. */
static bool
lookup_locked(struct credcache *c, const struct credcache_key *k, int64_t now, int ttl)
{
	struct entry *e = find(c, k);

	if (!e || !is_fresh(e, now, ttl))
		return false;
	touch(c, e, now);
	return true;
}

bool
credcache_lookup(struct credcache *c, const struct credcache_key *k, int64_t now, int ttl)
{
	bool hit;

	if (ttl <= 0)
		return false;
	pthread_rwlock_rdlock(&c->lock);
	hit = lookup_locked(c, k, now, ttl);
	pthread_rwlock_unlock(&c->lock);
	atomic_fetch_add_explicit(hit ? &c->hits : &c->misses, 1, memory_order_relaxed);
	return hit;
}

/* Takes `e` out of its chain and the list and frees it. Under the exclusive lock. */
static void
remove_entry(struct credcache *c, struct entry *e)
{
	struct entry **p = &c->buckets[bucket_of(c, &e->key)];

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	list_unlink(e);
	c->count--;
	entry_free(e);
}

/* Doubles the table (rehashing every entry); on allocation failure it stays as it is,
 * with longer chains. Under the exclusive lock. */
static void
grow(struct credcache *c)
{
	size_t n = c->nbuckets * 2;
	struct entry **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
	for (struct entry *e = c->lru.next; e != &c->lru; e = e->next) {
		size_t i = bucket_of(c, &e->key);

		e->hnext = b[i];
		b[i] = e;
	}
}

/* Remembers `k` as verified at `now`, evicting the least recently used entries beyond
 * `max`. Under the exclusive lock. A failed allocation only means a later miss. */
static void
insert_locked(struct credcache *c, const struct credcache_key *k, int64_t now, size_t max)
{
	struct entry *e = find(c, k);
	size_t i;

	if (e) {
		list_unlink(e);
	} else {
		while (c->count >= max && c->lru.prev != &c->lru)
			remove_entry(c, c->lru.prev);
		if (c->count >= c->nbuckets)
			grow(c);
		if (!(e = calloc(1, sizeof(*e))))
			return;
		e->key = *k;
		i = bucket_of(c, k);
		e->hnext = c->buckets[i];
		c->buckets[i] = e;
		c->count++;
	}
	e->verified = now;
	atomic_store_explicit(&e->moved, now, memory_order_relaxed);
	list_push_front(c, e);
}

/* The flight of `k`, or NULL. Under flight_mu. */
static struct flight *
find_flight(struct credcache *c, const struct credcache_key *k)
{
	struct flight *f = c->flights;

	while (f && memcmp(f->key.d, k->d, sizeof(k->d)) != 0)
		f = f->next;
	return f;
}

/* Waits for flight `f` to land and returns its result; the last one out frees it.
 * Called and returns with flight_mu held. */
static int
wait_flight(struct credcache *c, struct flight *f)
{
	int rc;

	f->waiters++;
	c->waiting++;
	while (!f->done)
		pthread_cond_wait(&c->flight_cv, &c->flight_mu);
	rc = f->result;
	c->waiting--;
	if (--f->waiters == 0)
		free(f);
	atomic_fetch_add_explicit(&c->shared, 1, memory_order_relaxed);
	return rc;
}

/* Whether `k` is in the cache and fresh; under flight_mu, so that a flight that lands
 * (inserts, then leaves the list under flight_mu) is seen one way or the other. */
static bool
landed(struct credcache *c, const struct credcache_key *k, int64_t now, int ttl)
{
	bool hit;

	if (ttl <= 0)
		return false;
	pthread_rwlock_rdlock(&c->lock);
	hit = lookup_locked(c, k, now, ttl);
	pthread_rwlock_unlock(&c->lock);
	return hit;
}

/* Ends flight `f` with `rc`: off the list, waiters woken; freed here when none waits. */
static void
land(struct credcache *c, struct flight *f, int rc)
{
	struct flight **p;

	pthread_mutex_lock(&c->flight_mu);
	for (p = &c->flights; *p != f; p = &(*p)->next)
		;
	*p = f->next;
	f->result = rc;
	f->done = true;
	if (f->waiters == 0)
		free(f);
	else
		pthread_cond_broadcast(&c->flight_cv);
	pthread_mutex_unlock(&c->flight_mu);
}

int
credcache_verify(struct credcache *c, const struct credcache_key *k, int64_t now, int ttl,
		 size_t max, credcache_verify_fn fn, void *arg)
{
	struct flight *f;
	int rc;

	pthread_mutex_lock(&c->flight_mu);
	if ((f = find_flight(c, k)) != NULL) {
		rc = wait_flight(c, f);
		pthread_mutex_unlock(&c->flight_mu);
		return rc;
	}
	if (landed(c, k, now, ttl)) {
		pthread_mutex_unlock(&c->flight_mu);
		atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
		return 0;
	}
	/* Without memory for a flight this caller verifies on its own. */
	if ((f = calloc(1, sizeof(*f))) != NULL) {
		f->key = *k;
		f->next = c->flights;
		c->flights = f;
	}
	pthread_mutex_unlock(&c->flight_mu);
	atomic_fetch_add_explicit(&c->verifications, 1, memory_order_relaxed);
	rc = fn(arg);
	if (rc == 0 && ttl > 0 && max > 0) {
		pthread_rwlock_wrlock(&c->lock);
		insert_locked(c, k, now, max);
		pthread_rwlock_unlock(&c->lock);
	}
	if (f)
		land(c, f, rc);
	return rc;
}

void
credcache_purge(struct credcache *c, int64_t now, int ttl, size_t max)
{
	struct entry *e, *prev;

	pthread_rwlock_wrlock(&c->lock);
	for (e = c->lru.prev; e != &c->lru; e = prev) {
		prev = e->prev;
		if (!is_fresh(e, now, ttl))
			remove_entry(c, e);
	}
	while (c->count > max)
		remove_entry(c, c->lru.prev);
	pthread_rwlock_unlock(&c->lock);
}

void
credcache_stats(struct credcache *c, struct credcache_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&c->lock);
	out->entries = c->count;
	pthread_rwlock_unlock(&c->lock);
	pthread_mutex_lock(&c->flight_mu);
	out->waiting = c->waiting;
	pthread_mutex_unlock(&c->flight_mu);
	out->hits = atomic_load(&c->hits);
	out->misses = atomic_load(&c->misses);
	out->verifications = atomic_load(&c->verifications);
	out->shared = atomic_load(&c->shared);
}
