/* SPDX-License-Identifier: MIT */
/*
 * ringside_clock.h: the clocks of the daemon and the client library, in one
 * place. Not installed. Monotonic time for every interval and deadline; the
 * coarse monotonic clock (a few ms, no hardware read) where it is read per
 * record; wall time only for what is written down (record timestamps, segment
 * headers, log lines).
 */
#ifndef RINGSIDE_CLOCK_H
#define RINGSIDE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t rs_ts_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Monotonic microseconds and milliseconds. */
static inline int64_t rs_now_us(void)
{
	return rs_ts_us(CLOCK_MONOTONIC);
}

static inline int64_t rs_now_ms(void)
{
	return rs_ts_us(CLOCK_MONOTONIC) / 1000;
}

/* Monotonic milliseconds, to the kernel tick: for per-record stamps. */
static inline int64_t rs_coarse_ms(void)
{
	return rs_ts_us(CLOCK_MONOTONIC_COARSE) / 1000;
}

/* Milliseconds since the epoch. */
static inline int64_t rs_wall_ms(void)
{
	return rs_ts_us(CLOCK_REALTIME) / 1000;
}

#endif
