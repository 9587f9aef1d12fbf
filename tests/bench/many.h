/* SPDX-License-Identifier: MIT */
/*
 * many.h: comparison 7 of make bench, many client processes (many.c).
 */
#ifndef RS_BENCH_MANY_H
#define RS_BENCH_MANY_H

#include "bench.h"

typedef void (*many_out_fn)(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
typedef const char *(*many_goal_fn)(int met);

/* Runs both sweeps against cluster c, writing tables through out and
 * judging each goal through goal. */
void bench_many(struct cluster *c, double scale, many_out_fn out,
		many_goal_fn goal);

#endif
