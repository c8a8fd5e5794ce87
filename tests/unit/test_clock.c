/* SPDX-License-Identifier: MIT */
/* Unit tests of clock.c: the monotonic readings agree with each other and with the
 * system's clocks, and a deadline converts to the timespec a condition variable waits
 * for. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "clock.h"
#include "tap.h"

static int64_t
raw_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_readings(void)
{
	int64_t before = raw_ms(CLOCK_MONOTONIC), ms = clock_mono_ms(), s = clock_mono_s();
	int64_t after = raw_ms(CLOCK_MONOTONIC), wall = clock_wall_ms();
	int64_t prev = clock_mono_ms();
	int backwards = 0;

	ok(before <= ms && ms <= after, "clock_mono_ms reads CLOCK_MONOTONIC in ms");
	ok(s * 1000 <= after && s >= before / 1000, "clock_mono_s is the same clock in s");
	ok(wall >= raw_ms(CLOCK_REALTIME) - 1000 && wall <= raw_ms(CLOCK_REALTIME),
	   "clock_wall_ms reads CLOCK_REALTIME in ms");
	ok(wall > 1600000000000LL, "since the Unix epoch");
	for (int i = 0; i < 100000; i++) {
		int64_t now = clock_mono_ms();

		backwards += now < prev;
		prev = now;
	}
	is_int(backwards, 0, "the monotonic clock never goes back");
}

static void
test_elapsed(void)
{
	struct timespec pause = {0, 30 * 1000000L};
	int64_t start = clock_mono_ms(), ms;

	nanosleep(&pause, NULL);
	ms = clock_elapsed_ms(start);
	ok(ms >= 30 && ms < 5000, "clock_elapsed_ms counts a 30 ms sleep (%lld ms)", (long long)ms);
}

static void
test_timespec(void)
{
	struct timespec ts = clock_mono_timespec(12345);
	pthread_condattr_t ca;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv;
	int64_t start, waited;
	int rc;

	ok(ts.tv_sec == 12 && ts.tv_nsec == 345000000L, "12345 ms: 12 s and 345,000,000 ns");
	ts = clock_mono_timespec(0);
	ok(ts.tv_sec == 0 && ts.tv_nsec == 0, "0 ms: zero");

	/* A condition on the monotonic clock waits until the converted deadline. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cv, &ca);
	start = clock_mono_ms();
	ts = clock_mono_timespec(start + 50);
	pthread_mutex_lock(&mu);
	do
		rc = pthread_cond_timedwait(&cv, &mu, &ts);
	while (rc == 0);
	pthread_mutex_unlock(&mu);
	waited = clock_elapsed_ms(start);
	ok(rc == ETIMEDOUT && waited >= 50 && waited < 5000,
	   "a deadline 50 ms ahead times out after 50 ms (%lld ms)", (long long)waited);
	pthread_cond_destroy(&cv);
	pthread_condattr_destroy(&ca);
}

int
main(void)
{
	test_readings();
	test_elapsed();
	test_timespec();
	return tap_done();
}
