/* SPDX-License-Identifier: MIT */
/*
 * producer_impl.h: the state producer.c (librdkafka instances, sends,
 * delivery reports) and producer_topic.c (topics and their librdkafka
 * handles) share. Private to those two files: everyone else sees struct
 * rs_producer only through producer.h.
 */
#ifndef RS_PRODUCER_IMPL_H
#define RS_PRODUCER_IMPL_H

#include "producer.h"

struct rs_class {
	struct rs_producer *p;
	enum rs_acks acks;
	rd_kafka_t *rk;		 /* owned */
	rd_kafka_queue_t *queue; /* owned reference to rk's main queue */
	int efd;		 /* owned; librdkafka writes it */
	struct event *ev;	 /* owned */
	struct rs_kstats stats;	 /* the last statistics event */
	int fatal;		 /* rk raised a fatal error: replace it */
	int owns_mock;		 /* rk holds the embedded mock cluster */
	struct rs_class *next;	 /* in the producer's retired list */
};

/* Owns the classes, the topics and their librdkafka handles. */
struct rs_producer {
	const struct rs_config *cfg;
	struct event_base *base;
	rs_dr_fn dr;
	rs_dr_batch_fn batch;
	uint64_t served;     /* reports in this rs_producer_serve() */
	int64_t serve_until; /* ... which stops then (rs_now_us()) */
	int serve_cut;	     /* ... and stopped at a limit */
	void *arg;
	struct rs_class cls[RS_ACKS_N]; /* rk == NULL: class not in use */
	int first;			/* the class created first */
	char *mock_bootstraps;		/* when [kafka] asks for a mock */
	struct rs_topic **topics;
	size_t ntopics;
	uint64_t inflight;
	rs_topic_new_fn on_topic;
	void *on_topic_arg;
	rs_fatal_fn on_fatal;
	void *on_fatal_arg;
	/* replaced instances, served until their records are all reported
	 * (owned) */
	struct rs_class *retired;
	uint64_t replacements;
	int restart[RS_ACKS_N]; /* a replacement failed to start: again */
	/* one report event's messages (owned) */
	const rd_kafka_message_t **msgs;
	size_t msgs_cap;
	uint64_t size_retries; /* records sent again, their batch too large */
};

/* message.timeout.ms or delivery.timeout.ms: ringsided's to apply, never
 * librdkafka's */
int producer_is_timeout_key(const char *key);
/* The operator's message.timeout.ms in props (the last one set), else
 * dflt. Checked by the config loader. */
uint32_t producer_props_timeout(const struct rs_props *props, uint32_t dflt);
/* producer_topic.c: frees t and its librdkafka handle */
void producer_topic_free(struct rs_topic *t);

#endif
