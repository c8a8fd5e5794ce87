/* SPDX-License-Identifier: MIT */
/* Per-client rate limiting: good and bad requests in separate exact sliding windows,
 * in a bounded, thread-safe table; the clock is a parameter. */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Each tracked client keeps the times of its last max_requests requests (one ring per
 * kind), so the window is exact. The bound keeps that ring small: 100 requests in a
 * window is far beyond what a DynDNS client needs (ddclient/inadyn send one every few
 * minutes). */
#define RATELIMIT_MAX_REQUESTS 100
/* Windows above a day make no sense for a DynDNS client and only pin memory. */
#define RATELIMIT_MAX_WINDOW 86400
/* Clients tracked at once when the configuration says 0 (each costs ~160 bytes with the
 * default limits, 1.7 KiB at the RATELIMIT_MAX_REQUESTS bound). */
#define RATELIMIT_DEFAULT_CLIENTS 16384

struct ratelimit_config {
	bool enabled;		 /* false: check never limits, record keeps nothing */
	int good_window_seconds; /* 1..RATELIMIT_MAX_WINDOW */
	int good_max_requests;	 /* 1..RATELIMIT_MAX_REQUESTS */
	int bad_window_seconds;
	int bad_max_requests;
	size_t max_clients; /* table bound; 0 = RATELIMIT_DEFAULT_CLIENTS */
};

struct ratelimit;

/* ratelimit_new: a limiter for `cfg` (copied). ERR_RANGE when a window or maximum is
 * outside the bounds above (only checked when enabled), ERR_NOMEM. Free with
 * ratelimit_free (NULL ok). */
int ratelimit_new(const struct ratelimit_config *cfg, struct ratelimit **out);
void ratelimit_free(struct ratelimit *rl);

/* ratelimit_check: whether client `a` is over a limit at `now`: it already made
 * good_max_requests good requests within the last good_window_seconds, or
 * bad_max_requests bad ones within bad_window_seconds. The request is then answered
 * `abuse` without a password check. A request at time t counts while now - t < window.
 * Never limits when disabled. Does not record anything. A client is counted under its
 * addr_client_key: IPv4-mapped IPv6 as IPv4, IPv6 per /64.
 *
 * `now` should come from a clock that does not jump (CLOCK_MONOTONIC seconds): a clock
 * set back keeps old requests "in the window" until it catches up. */
bool ratelimit_check(struct ratelimit *rl, const struct addr *a, int64_t now);

/* ratelimit_record: counts one request of `a` at `now` as good (authenticated,
 * good/nochg) or bad (anything else). Meant for requests that passed ratelimit_check:
 * recording the `abuse` answers too would keep a hammering client locked out for as
 * long as it hammers, which is a policy the caller may choose.
 *
 * When the table is full, the client seen least recently is evicted to make room.
 * Refusing newcomers instead would let anyone with many source addresses lock every
 * new legitimate client out; eviction only forgets the count of a client that made no
 * request for the longest time, which helps an attacker only if it already commands
 * more addresses than the table holds - and such an attacker is not stopped by a
 * per-address limit anyway. Out of memory: the request is not counted. */
void ratelimit_record(struct ratelimit *rl, const struct addr *a, bool good, int64_t now);

/* How a finished request counts. */
enum ratelimit_kind {
	RATELIMIT_GOOD, /* authenticated, good/nochg */
	RATELIMIT_BAD,	/* badauth, nohost, notfqdn, ... */
	RATELIMIT_NONE	/* counts as neither (dnserr, 911, no credentials at all) */
};

/* ratelimit_admit: ratelimit_check and a reservation in one step. A client under its
 * limits is admitted and holds one pending request, which counts against both limits
 * until ratelimit_settle; so a burst of parallel requests cannot all pass the check
 * before the first of them is counted. Returns false (nothing reserved) when the
 * client is over a limit: answer `abuse` without a password check. */
bool ratelimit_admit(struct ratelimit *rl, const struct addr *a, int64_t now);

/* ratelimit_settle: ends the reservation of an admitted request and counts it as
 * `kind`. Call exactly once per admitted request. */
void ratelimit_settle(struct ratelimit *rl, const struct addr *a, enum ratelimit_kind kind,
		      int64_t now);

/* ratelimit_cleanup: forgets clients with no request inside the longer of the two
 * windows. Costs in proportion to what it drops (clients are kept in least recently
 * seen order). Returns the number of clients dropped. */
size_t ratelimit_cleanup(struct ratelimit *rl, int64_t now);

/* ratelimit_count: clients currently tracked (tests, metrics). */
size_t ratelimit_count(struct ratelimit *rl);

#endif
