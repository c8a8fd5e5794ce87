/* SPDX-License-Identifier: MIT */
/* One configuration generation and what was built from it, reference-counted, and the
 * slot that holds the current one: a reload publishes a new generation while requests
 * in progress finish with the one they started with. */
#ifndef GEN_H
#define GEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "config.h"
#include "db.h"
#include "service.h"

/* How long freeing a generation lets its mail queue go on sending what requests of
 * that generation queued (only when the queue was not handed to a newer generation). */
#define GEN_MAIL_DRAIN_MS 5000

struct gen_limiter;
struct gen_credcache;

/* A generation. The public members are read-only once gen_new returns; whoever holds a
 * reference may read them from any thread. Later features hang what they build from
 * the configuration here too (a verified-credential cache's settings, per-zone DNS
 * writers, metrics): built in gen_new, freed with the generation. */
struct gen {
	const struct config *cfg;
	struct ratelimit *rl;  /* shared with the previous generation when limits match */
	struct notify *notify; /* change and expiry mails */
	struct cidr *trusted;  /* parsed cfg->daemon.trusted_proxies */
	size_t ntrusted;
	/* The verified-credential cache: made with the first generation and handed on to
	 * every later one (its random key and entries belong to the process; a reload
	 * changes only the ttl and size that requests and the purge pass use). */
	struct credcache *cache;

	/* Private to gen.c. */
	atomic_int refs;
	struct config *owned_cfg; /* cfg when the generation frees it, else NULL */
	struct gen_limiter *limiter;
	struct gen_credcache *shared_cache;
	struct gen *next; /* the slot's list, oldest first */
};

/* The current generation and those replaced but not yet freed. */
struct gen_slot;

/* gen_new: builds a generation for `cfg`: its rate limiter (that of `prev`, shared,
 * when the limits are the same, so that a reload does not forgive an abusive client),
 * the credential cache (that of `prev`, always; a new one at start-up),
 * its notifier (templates compiled now; the mail queue of `prev` taken over when
 * [email] is unchanged, see notify_reopen) and the parsed trusted proxies. `prev`
 * (NULL at start-up) is borrowed. With `own_cfg` the generation frees `cfg` when it
 * goes; otherwise `cfg` is borrowed and must outlive it (the start-up configuration).
 * *out holds one reference, the caller's: hand it to gen_slot_new/gen_slot_publish,
 * or give the generation up with gen_abandon. Returns 0, or ERR_NOMEM, ERR_RANGE (rate
 * limits), ERR_CRYPTO (no randomness for the cache's key), ERR_INVAL/ERR_IO (a
 * template) with the reason logged; `cfg` then stays the
 * caller's and nothing of `prev` changed. Main thread only. */
int gen_new(struct config *cfg, bool own_cfg, struct gen *prev, struct gen **out);

/* gen_abandon: frees a generation that was never published (a later step of the reload
 * failed); what it took over from `prev` (the mail queue) goes back first. NULL ok. */
void gen_abandon(struct gen *g, struct gen *prev);

/* gen_service_ctx: what a request of generation `g` hands to service_handle, with the
 * calling thread's database connection `db`. Borrowed from `g`: valid while the caller
 * holds its reference. */
void gen_service_ctx(const struct gen *g, struct db *db, struct service_ctx *out);

/* gen_slot_new: a slot whose current generation is `g`; takes over the caller's
 * reference. Returns 0 or ERR_NOMEM (`g` then stays the caller's). */
int gen_slot_new(struct gen *g, struct gen_slot **out);

/* gen_slot_acquire: the current generation with one more reference, for a request
 * that arrived. Any thread; never blocks beyond a short mutex. */
struct gen *gen_slot_acquire(struct gen_slot *s);

/* gen_release: drops one reference (the end of a request). Any thread; never blocks
 * and never frees: a generation whose last reference went is freed by the main
 * thread's next gen_slot_reap. NULL ok. */
void gen_release(struct gen *g);

/* gen_slot_publish: makes `g` (from gen_new, with the caller's reference, which the
 * slot takes over) current; requests that arrive from now on use it. The slot drops
 * its reference to the previous one, which is freed once no request uses it. Main
 * thread only. */
void gen_slot_publish(struct gen_slot *s, struct gen *g);

/* gen_slot_reap: frees the replaced generations that no request uses any more, oldest
 * first (see gen.c for why the order matters). Main thread only: closing a notifier
 * that still owns its mail queue drains it for up to GEN_MAIL_DRAIN_MS. Returns the
 * number freed. */
size_t gen_slot_reap(struct gen_slot *s);

/* gen_slot_free: frees the slot and every generation, the current one included, each
 * with its mail drain. Call once no other thread can hold a reference any more (the
 * HTTP workers stopped). NULL ok. */
void gen_slot_free(struct gen_slot *s);

#endif
