/* SPDX-License-Identifier: MIT */
/* The verified-credential cache: which (user, password) pairs passed an Argon2
 * verification against which stored hash, kept as keyed digests for a while so that a
 * router's next request needs no Argon2; and a verification shared by the requests
 * that need the same one at the same time. */
#ifndef CREDCACHE_H
#define CREDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CREDCACHE_KEY_LEN    32 /* HMAC-SHA256 */
#define CREDCACHE_SECRET_LEN 32 /* the random HMAC key of the process */

/*
 * What an entry is (and is not): the HMAC-SHA256, under a random key made when the
 * cache is created (never written anywhere), of the user name, the PHC string the
 * password was verified against and the password, each but the last length-prefixed
 * so that no two different triples give the same input. Neither the password nor
 * anything from which it could be tested offline without the key is kept. Because the
 * stored hash is part of the digest, an entry matches only while the user's stored
 * hash is still the one it was verified against: `user passwd`, `user delete` or a
 * change by another daemon on the same database take effect on the very next request
 * (the caller reads the user's row for every request), and nothing has to be told.
 */
struct credcache_key {
	unsigned char d[CREDCACHE_KEY_LEN];
};

struct credcache;

/* Counters, for tests and operators. */
struct credcache_stats {
	size_t entries;		/* remembered credentials */
	size_t waiting;		/* requests waiting for another one's verification */
	uint64_t hits;		/* lookups answered from the cache */
	uint64_t misses;	/* lookups that were not */
	uint64_t verifications; /* verification callbacks run */
	uint64_t shared;	/* requests that took another one's verification result */
};

/* credcache_new: an empty cache with a fresh random key (getrandom). It grows with use
 * (a small table at first) up to the size the callers pass. Returns 0, ERR_NOMEM or
 * ERR_CRYPTO (no randomness). */
int credcache_new(struct credcache **out);

/* credcache_free: wipes (explicit_bzero) the key and every entry and frees them. No
 * other thread may use the cache any more. NULL ok. */
void credcache_free(struct credcache *c);

/* credcache_key: the digest of `user`, `phc` (the stored hash the password is checked
 * against; for an unknown user any fixed string) and `password` (NULL reads as "").
 * Returns 0 or ERR_CRYPTO. Any thread. */
int credcache_key(const struct credcache *c, const char *user, const char *phc,
		  const char *password, struct credcache_key *out);

/* credcache_lookup: whether `k` was verified less than `ttl` seconds before `now`
 * (seconds of a clock that never jumps; tests pass their own). ttl <= 0 (the cache is
 * off) is always false. A hit makes the entry the most recently used. Many threads may
 * look up at once. */
bool credcache_lookup(struct credcache *c, const struct credcache_key *k, int64_t now, int ttl);

/* The verification of a miss: 0 when the credentials are good, any ERR_* code else.
 * `arg` is the caller's. */
typedef int (*credcache_verify_fn)(void *arg);

/*
 * credcache_verify: verifies `k` once however many threads ask for it at the same
 * time. The first caller runs fn(arg); callers with the same key that arrive while it
 * runs wait for it and return its result without running their own `fn` (a burst of
 * one router's retries costs one Argon2 run, not N); a caller that finds `k` verified
 * meanwhile (within `ttl` of `now`) returns 0 at once. On 0 from `fn`, `k` is
 * remembered with the time `now` when ttl > 0 and max > 0, evicting the least
 * recently used entries beyond `max`; any other result is returned and never
 * remembered. Returns what `fn` returned (the first caller's, for those that waited).
 *
 * A waiter shares a failure as well as a success: the requests that wait are exactly
 * those carrying the same user, stored hash and password as the running one, so they
 * learn nothing it does not; and since every credential check that is not a hit goes
 * through here (unknown users' dummy verifications included), joining a running
 * verification is equally fast for a good password, a wrong one and an unknown user.
 */
int credcache_verify(struct credcache *c, const struct credcache_key *k, int64_t now, int ttl,
		     size_t max, credcache_verify_fn fn, void *arg);

/* credcache_purge: forgets the entries verified `ttl` seconds or more before `now`
 * (all of them when ttl <= 0), then the least recently used ones beyond `max` (after a
 * reload that lowered the size). Frees their memory. For a periodic job. */
void credcache_purge(struct credcache *c, int64_t now, int ttl, size_t max);

/* credcache_stats: a snapshot of the counters. */
void credcache_stats(struct credcache *c, struct credcache_stats *out);

#endif
