/* SPDX-License-Identifier: MIT */
/*
 * verify.h: reads every topic back and checks each record against what its
 * writer must have sent (records.h): exactly once, same key, value and
 * headers, on the topic it was sent to, per-key order kept. Tests then ask
 * which records arrived and compare with the reports clients got.
 */
#ifndef RS_VERIFY_H
#define RS_VERIFY_H

#include "harness.h"

struct v_topic {
	const char *name;
	int partitions;
	int acks; /* 0, 1, or -1 for all */
};

struct v_rec {
	int count;
	int32_t partition;
	int64_t offset;
};

struct v_ctx {
	unsigned int writers;
	unsigned int threads;
	unsigned int per_thread; /* upper bound on sequence numbers */
	unsigned int keys;
	const struct v_topic *topics;
	unsigned int ntopics;
	struct v_rec *recs;
	size_t consumed;
	size_t duplicates;
	size_t bad_content;
	size_t order_violations;
};

void v_init(struct v_ctx *v, unsigned int writers, unsigned int threads,
	    unsigned int per_thread, unsigned int keys,
	    const struct v_topic *topics, unsigned int ntopics);
void v_free(struct v_ctx *v);

/* Consumes every topic and checks each record as described above. */
void v_consume(struct v_ctx *v, struct h_env *e);

struct v_rec *v_get(struct v_ctx *v, uint64_t opaque);

/* How many of thread (w, t)'s records arrived, and whether they are exactly
 * its first ones (no gap). */
unsigned int v_arrived(struct v_ctx *v, unsigned int w, unsigned int t,
		       int *contiguous);

/* Checks a successful report against the record Kafka holds. Returns NULL
 * or what is wrong. */
const char *v_report_matches(struct v_ctx *v, const struct h_report *r);

#endif
