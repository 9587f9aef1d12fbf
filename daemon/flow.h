/* SPDX-License-Identifier: MIT */
/*
 * flow.h: where each record goes: straight to librdkafka, or into the spool
 * and back out in order. One state machine per topic (topic.h):
 *
 *   DIRECT  records go to librdkafka; they keep their ring space until
 *           delivered. A backlog over backlog_bytes or backlog_ms, a ring
 *           half full while nothing is delivered, or a retriable failure
 *           (a local timeout) switches the topic to SPOOLED. A full
 *           librdkafka queue does not: that is a limit of this process,
 *           and records wait in their rings (the hold list) for room.
 *   SPOOLED first the topic's records still inside librdkafka are written
 *           to the spool ("shadows"), then every new record: so the spool
 *           holds the topic's records in read order. Ring space is freed
 *           once a record is committed to the spool. Replay starts when no
 *           record of the topic is left in librdkafka from the direct path,
 *           sends the spool's records in order, and after a retriable
 *           failure waits until nothing is in flight, then starts again from
 *           the oldest record not yet delivered (skipping delivered ones):
 *           librdkafka's own timeouts leave gaps, replay never does. When
 *           replay has read the whole spool, the topic goes back to DIRECT
 *           at once, its replayed records still in flight ahead of the new
 *           ones ("replay caught up"; "spool drained" once they are all
 *           delivered). write_ahead topics stay SPOOLED.
 *
 * A record that can be neither produced nor spooled (spool full or broken)
 * waits in its topic's hold list, keeping its ring space: the application's
 * ring fills and ringside_send() returns RINGSIDE_EFULL.
 */
#ifndef RS_FLOW_H
#define RS_FLOW_H

#include <stdint.h>

#include "record.h"
#include "spool.h"
#include "topic.h"

struct rs_producer;
struct rs_flow;
struct rs_session;

/*
 * What the flow tells the layer above about a record's session, without
 * knowing what a session is (the server passes session.c's functions).
 * ctx is rs_flow_new()'s; session is rec->session, valid while in_ring.
 */
struct rs_flow_ops {
	/* the final report (delivered or failed), to rec's session if it is
	 * still open; counted as dropped otherwise */
	void (*report)(void *ctx, struct rs_record *rec,
		       const struct rs_outcome *o);
	/* the non-final report: rec is committed to the spool */
	void (*report_spooled)(void *ctx, struct rs_record *rec);
	/* rec's ring space may be released (finished, or safe in the spool) */
	void (*ring_done)(struct rs_record *rec);
	/* back-pressure bookkeeping: delta records held / one spilled */
	void (*held)(struct rs_session *session, int delta);
	void (*spilled)(struct rs_session *session);
};

/* ops must outlive the flow. */
struct rs_flow *rs_flow_new(const struct rs_flow_ops *ops, void *ctx,
			    struct rs_producer *p, struct rs_spool *sp);
void rs_flow_free(struct rs_flow *f);

/* A topic just created: its spool identity, and write-ahead mode. */
void rs_flow_topic_new(struct rs_flow *f, struct rs_topic *t);

/* A record just read from a ring. */
void rs_flow_dispatch(struct rs_flow *f, struct rs_record *rec);

/* librdkafka's delivery report for rec. */
void rs_flow_delivered(struct rs_flow *f, struct rs_record *rec,
		       const struct rs_outcome *o);

/* After each drain pass and each batch of delivery reports: commits the
 * spool, frees ring space of committed records, checks backlogs, retries
 * held records, replays. Returns how much it did (0: idle). */
unsigned int rs_flow_pass(struct rs_flow *f);

/* Periodic spool work (syncs, checkpoints, retirement). */
void rs_flow_tick(struct rs_flow *f);

/* A topic the spool holds records for at start-up. */
void rs_flow_recovered(struct rs_flow *f, struct rs_topic *t,
		       const struct rs_spool_pos *first);

/* A reload set t's new policy (acks in t->acks_next). */
void rs_flow_topic_changed(struct rs_flow *f, struct rs_topic *t,
			   int was_write_ahead);

/* A record read for a topic its session may no longer use (a reload took
 * the topic or the permission away): reported failed with status. */
void rs_flow_refuse(struct rs_flow *f, struct rs_record *rec, int status);

/* A session's ring is half full and oldest is its first unfinished record:
 * if that has waited in librdkafka RELIEVE_AGE_MS or more and its topic
 * has delivered nothing for as long (an outage, not a client faster than
 * Kafka), the topic spills (the spool frees ring space; librdkafka would
 * free it only on delivery), so the application does not get
 * RINGSIDE_EFULL while the spool has room. */
void rs_flow_relieve(struct rs_flow *f, struct rs_record *oldest);

/* rec's client is gone and no process can hand its ring to another
 * daemon: the record goes to the spool too (now if it is in librdkafka,
 * else when it gets there), so that it survives a daemon crash. */
void rs_flow_orphaned(struct rs_flow *f, struct rs_record *rec);

/* A producer instance of class acks was replaced after a fatal error;
 * its records are coming back, to be sent again in order. */
void rs_flow_producer_failed(struct rs_flow *f, enum rs_acks acks);

/* Shutdown: no more replay. */
void rs_flow_stop(struct rs_flow *f);
/* Shutdown deadline: every record still in librdkafka from a ring is put
 * in the spool, so purging it loses nothing. */
void rs_flow_spill_inflight(struct rs_flow *f);
/* 1 if nothing of t is in motion: in librdkafka, held, or in the spool
 * (it may then be forgotten when no session uses it). */
int rs_flow_topic_idle(const struct rs_topic *t);

/* 1 when nothing waits in hold lists or for a spool commit. */
int rs_flow_settled(const struct rs_flow *f);
/* 1 while any topic has records in motion (the scheduler keeps ticking). */
int rs_flow_busy(const struct rs_flow *f);

struct rs_flow_stats {
	uint64_t held;
	uint64_t spilled;
	uint64_t replayed;
	uint64_t possible_dups;
	uint64_t topics_spooled;
};
void rs_flow_stats(const struct rs_flow *f, struct rs_flow_stats *st);

/*
 * Time from ringsided taking a record from its ring to the record's final
 * report, per acks class, for records that did not go through the spool
 * (their wait shows in the spool's age). Milliseconds of the coarse clock
 * (a few ms of resolution). bucket[i] counts records at or under
 * rs_latency_le_ms[i]; the last, those over every bound.
 */
#define RS_LATENCY_BOUNDS 13
extern const uint32_t rs_latency_le_ms[RS_LATENCY_BOUNDS];
struct rs_latency {
	uint64_t bucket[RS_LATENCY_BOUNDS + 1];
	uint64_t count;
	uint64_t sum_ms;
};
const struct rs_latency *rs_flow_latency(const struct rs_flow *f,
					 enum rs_acks acks);

#endif
