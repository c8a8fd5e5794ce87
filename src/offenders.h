/* SPDX-License-Identifier: MIT */
/* Misbehaving clients, counted per address so that a flood gives one log line per
 * address and interval, not one per connection or request. Thread-safe. */
#ifndef OFFENDERS_H
#define OFFENDERS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Addresses remembered at once. Past it an offence is reported at once rather than
 * forgotten (an attacker with more addresses than this gets more lines, not silence). */
#define OFFENDERS_MAX 4096

struct offenders;

/* offenders_new: reports each address at most once per `interval_ms`. Returns 0 or
 * ERR_NOMEM/ERR_INVAL (interval_ms <= 0). Free with offenders_free (NULL ok). */
int offenders_new(int64_t interval_ms, struct offenders **out);
void offenders_free(struct offenders *o);

/* offenders_note: `n` offences of the client `key` (borrowed; as addr_client_key
 * makes it, or a zeroed address for "everybody") at `now_ms` (a monotonic clock).
 * Returns the number to report now — these and those held back since the address's
 * last report — or 0 when the address was reported less than interval_ms ago: they
 * are held back for its next report. */
unsigned long offenders_note(struct offenders *o, const struct addr *key, unsigned long n,
			     int64_t now_ms);

/* offenders_flush: calls report(arg, key, count) for each address whose offences were
 * held back and whose interval has passed (so that the last ones of a flood are not
 * kept for ever), and forgets addresses quiet for an interval. */
void offenders_flush(struct offenders *o, int64_t now_ms,
		     void (*report)(void *arg, const struct addr *key, unsigned long count),
		     void *arg);

/* offenders_count: addresses remembered now (tests). */
size_t offenders_count(struct offenders *o);

#endif
