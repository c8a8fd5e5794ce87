/* SPDX-License-Identifier: MIT */
/* Time for timeouts, deadlines and durations: the monotonic clock, which never jumps
 * when the system time is set, in the units the callers count in. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>
#include <time.h>

/* clock_mono_ms / clock_mono_s: CLOCK_MONOTONIC in milliseconds / whole seconds. Only
 * differences mean anything (the origin is unspecified, e.g. the boot). */
int64_t clock_mono_ms(void);
int64_t clock_mono_s(void);

/* clock_mono_us: CLOCK_MONOTONIC in microseconds, for durations that metrics measure. */
int64_t clock_mono_us(void);

/* clock_elapsed_ms: milliseconds since `start_ms`, a clock_mono_ms() reading. */
int64_t clock_elapsed_ms(int64_t start_ms);

/* clock_mono_timespec: the clock_mono_ms() instant `ms` as an absolute CLOCK_MONOTONIC
 * timespec, for pthread_cond_timedwait on a condition whose clock attribute is
 * CLOCK_MONOTONIC. */
struct timespec clock_mono_timespec(int64_t ms);

/* clock_wall_ms: CLOCK_REALTIME in milliseconds since the Unix epoch. Not for
 * durations (it jumps when the time is set); for instants that several processes must
 * read alike, such as a lease expiry stored in a database. */
int64_t clock_wall_ms(void);

#endif
