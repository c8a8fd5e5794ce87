/* SPDX-License-Identifier: MIT */
/* The clock readings every module uses (see clock.h). */
#include "clock.h"

static int64_t
ms_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_mono_ms(void)
{
	return ms_of(CLOCK_MONOTONIC);
}

int64_t
clock_mono_s(void)
{
	return clock_mono_ms() / 1000;
}

int64_t
clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
clock_elapsed_ms(int64_t start_ms)
{
	return clock_mono_ms() - start_ms;
}

struct timespec
clock_mono_timespec(int64_t ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	return ts;
}

int64_t
clock_wall_ms(void)
{
	return ms_of(CLOCK_REALTIME);
}
