/* SPDX-License-Identifier: MIT */
/*
 * hist.c: see hist.h. Values below HIST_SUB are exact (exponent 0); above,
 * the exponent is the position of the highest bit and the sub-bucket the
 * HIST_SUB_BITS bits after it.
 */
#include <string.h>

#include "hist.h"

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

static void bucket(uint64_t v, unsigned int *e, unsigned int *s)
{
	unsigned int top;

	if (v < HIST_SUB) {
		*e = 0;
		*s = (unsigned int)v;
		return;
	}
	top = 63U - (unsigned int)__builtin_clzll(v); /* >= HIST_SUB_BITS */
	*e = top - HIST_SUB_BITS + 1;
	if (*e >= HIST_EXP) {
		*e = HIST_EXP - 1;
		*s = HIST_SUB - 1;
		return;
	}
	*s = (unsigned int)(v >> (top - HIST_SUB_BITS)) & (HIST_SUB - 1);
}

/* The largest value that lands in bucket (e, s). */
static uint64_t upper(unsigned int e, unsigned int s)
{
	unsigned int shift;

	if (e == 0)
		return s;
	shift = e - 1;
	return (((uint64_t)(HIST_SUB + s) + 1) << shift) - 1;
}

void hist_add(struct hist *h, uint64_t ns)
{
	unsigned int e, s;

	bucket(ns, &e, &s);
	h->counts[e][s]++;
	h->n++;
	h->sum += ns;
	if (ns > h->max)
		h->max = ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned int e = 0; e < HIST_EXP; e++)
		for (unsigned int s = 0; s < HIST_SUB; s++)
			dst->counts[e][s] += src->counts[e][s];
	dst->n += src->n;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t want, seen = 0;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n + 0.5);
	if (want < 1)
		want = 1;
	if (want > h->n)
		want = h->n;
	for (unsigned int e = 0; e < HIST_EXP; e++)
		for (unsigned int s = 0; s < HIST_SUB; s++) {
			seen += h->counts[e][s];
			if (seen >= want) {
				uint64_t u = upper(e, s);

				return u < h->max ? u : h->max;
			}
		}
	return h->max;
}
