/* SPDX-License-Identifier: MIT */
/*
 * hist.h: a log-linear latency histogram (HdrHistogram-style): values in
 * nanoseconds, 32 linear sub-buckets per power of two, so every recorded
 * value is kept to within 1/32 (3 %) of itself, from 1 ns to hours, in a
 * fixed 16 KiB. Recording is an add: no allocation, no lock (one histogram
 * per thread; merge them afterwards).
 */
#ifndef RS_BENCH_HIST_H
#define RS_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1U << HIST_SUB_BITS)
#define HIST_EXP 59

struct hist {
	uint64_t n;
	uint64_t max;
	uint64_t sum;
	uint64_t counts[HIST_EXP][HIST_SUB];
};

void hist_reset(struct hist *h);
void hist_add(struct hist *h, uint64_t ns);
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at quantile q (0 < q <= 1): the bucket's upper bound, never
 * above the largest recorded value. 0 if empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
