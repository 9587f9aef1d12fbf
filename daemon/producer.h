/* SPDX-License-Identifier: MIT */
/*
 * producer.h: ringsided's librdkafka producers, one per acks class in use
 * (librdkafka forces acks=all under idempotence, so acks 0 and 1 need their
 * own instance), and the topics resolved through them.
 */
#ifndef RS_PRODUCER_H
#define RS_PRODUCER_H

#include <event2/event.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "config.h"
#include "kstats.h"
#include "record.h"
#include "topic.h"

struct rs_producer;

/* Called once per delivery report, then once after each batch of them
 * (more: reports are left for the next rs_producer_serve()). */
typedef void (*rs_dr_fn)(struct rs_record *rec, const struct rs_outcome *o,
			 void *arg);
typedef void (*rs_dr_batch_fn)(void *arg, int more);

int rs_producer_new(const struct rs_config *cfg, struct event_base *base,
		    rs_dr_fn dr, rs_dr_batch_fn batch, void *arg,
		    struct rs_producer **pp, char *err, size_t errlen);
void rs_producer_free(struct rs_producer *p);

enum { RS_TOPIC_DENIED = -1, RS_TOPIC_LIMIT = -2, RS_TOPIC_ERROR = -3 };

/* Resolves a topic by name for a session of uid: 0, or RS_TOPIC_* with a
 * reason in err. A new topic counts toward uid's max_topics_per_uid while
 * it is held; new topics are announced to the callback set below. */
int rs_producer_topic(struct rs_producer *p, const char *name, uid_t uid,
		      struct rs_topic **tp, char *err, size_t errlen);

/* Frees t: no session holds it and nothing of it is in flight, held or
 * spooled (the caller checks). Its counters go with it. */
void rs_producer_topic_forget(struct rs_producer *p, struct rs_topic *t);

/* The same for a topic the spool holds records for: when the config no
 * longer lists it, it gets the built-in policy rather than being lost. */
int rs_producer_topic_force(struct rs_producer *p, const char *name,
			    struct rs_topic **tp, char *err, size_t errlen);

typedef void (*rs_topic_new_fn)(struct rs_topic *t, void *arg);
void rs_producer_on_topic(struct rs_producer *p, rs_topic_new_fn fn, void *arg);

enum {
	RS_SEND_OK = 0,
	RS_SEND_FULL = 1,   /* librdkafka's queue is full: later */
	RS_SEND_FAILED = 2, /* refused for good: *o says why */
	RS_SEND_AGAIN = 3,  /* the producer cannot take it now (being
			     * replaced after a fatal error): later */
};

/* Hands a record to librdkafka: RS_SEND_*. */
int rs_producer_send(struct rs_producer *p, struct rs_record *rec,
		     struct rs_outcome *o);

uint64_t rs_producer_inflight(const struct rs_producer *p);

/* Serves every producer's event queue now, up to RS_SERVE_BUDGET
 * delivery reports or for RS_SERVE_US: a burst (a purge hands back
 * 100,000 at once) is spread over turns of the event loop, which the
 * control socket waits for. 1 if reports may be left. */
#define RS_SERVE_BUDGET 16384U
#define RS_SERVE_US 5000
int rs_producer_serve(struct rs_producer *p);

/* Shutdown: send what is queued, ignoring linger, for up to timeout_ms. */
void rs_producer_flush(struct rs_producer *p, int timeout_ms);

/* Shutdown: fail everything still queued or in flight (reports follow). */
void rs_producer_purge(struct rs_producer *p);

/* The same for one acks class's producer; its queue only unless
 * inflight. */
void rs_producer_purge_class(struct rs_producer *p, enum rs_acks acks,
			     int inflight);

/* Called after a producer instance was replaced following a fatal error,
 * before its records come back (purged): the flow keeps their topics'
 * order. */
typedef void (*rs_fatal_fn)(enum rs_acks acks, void *arg);
void rs_producer_on_fatal(struct rs_producer *p, rs_fatal_fn fn, void *arg);

/* How many instances were replaced so far. */
uint64_t rs_producer_replacements(const struct rs_producer *p);

/* The topics in use, for status reports: 0 <= i < rs_producer_ntopics(). */
size_t rs_producer_ntopics(const struct rs_producer *p);
struct rs_topic *rs_producer_topic_at(const struct rs_producer *p, size_t i);

/* Reload: the producer reads cfg from now on and starts the acks classes
 * cfg can reach. -1 if one cannot start (the old cfg stays). */
int rs_producer_reconfigure(struct rs_producer *p, const struct rs_config *cfg,
			    char *err, size_t errlen);

/* Moves t to the acks class acks. Only while none of t's records is in
 * librdkafka: a delivery report is read with its topic's acks. */
int rs_producer_topic_acks(struct rs_producer *p, struct rs_topic *t,
			   enum rs_acks acks, char *err, size_t errlen);

/* The last statistics of one acks class's producer (and its name), or
 * NULL if that class is not running. */
const struct rs_kstats *rs_producer_kstats(const struct rs_producer *p,
					   enum rs_acks acks,
					   const char **name);

#endif
