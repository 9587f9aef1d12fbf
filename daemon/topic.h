/* SPDX-License-Identifier: MIT */
/*
 * topic.h: one Kafka topic in use, shared by every session that resolved
 * it: its policy (producer.c) and where its records flow (flow.c). Owned by
 * the producer; lives until the daemon exits.
 */
#ifndef RS_TOPIC_H
#define RS_TOPIC_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "config.h"
#include "record.h"
#include "spool.h"

enum rs_topic_mode {
	RS_MODE_DIRECT,	 /* ring -> librdkafka */
	RS_MODE_SPOOLED, /* ring -> spool -> librdkafka, in order */
};

enum rs_pending_state {
	RS_PENDING_INFLIGHT, /* librdkafka holds it */
	RS_PENDING_DONE,     /* delivered, or failed for good and reported */
	RS_PENDING_FAILED,   /* failed for now: to be sent again */
};

/* A spooled record handed to librdkafka and not yet retired. */
struct rs_pending {
	uint64_t seq;
	struct rs_spool_pos pos;
	uint8_t state;
	uint8_t possible_dup;
	uint8_t tries; /* failures with an unclassified error */
};

/* Sorted by seq; a ring buffer of entries. */
struct rs_pending_q {
	struct rs_pending *v; /* owned */
	size_t cap;
	size_t head;
	size_t n;
};

#define RS_TOPIC_NO_OWNER ((uid_t)-1)
#define RS_SPOOL_TOPIC_NONE UINT32_MAX

/*
 * Who writes what: producer_topic.c fills in the policy when it creates
 * the topic (reload.c changes it later, flow.c only reads it); flow.c
 * owns everything from "where its records are" down; session.c counts
 * refs. Everything runs on the daemon's main thread.
 */
struct rs_topic {
	/* --- identity and policy (producer_topic.c, reload.c) */
	char *name; /* owned */
	/* sessions that resolved it (session.c); at 0, and idle, the server
	 * forgets it */
	uint32_t refs;
	int64_t unused_ms; /* when refs last fell to 0 (or it was made) */
	uid_t owner;	   /* whose session brought it in; RS_TOPIC_NO_OWNER for
			    * the spool's */
	enum rs_acks acks; /* the producer instance (acks class) it is in */
	int acks_next;	   /* -1, or the acks a reload set: applied once none of
			    * the topic's records is in librdkafka */
	enum rs_reports reports; /* which reports its records get */
	int write_ahead;	 /* every record goes through the spool */
	uint64_t
		backlog_bytes; /* direct bytes in librdkafka before it spills */
	uint32_t backlog_ms; /* age of the oldest direct record before it spills
			      */
	uint32_t
		kafka_timeout_ms; /* librdkafka's message.timeout.ms; 0: none */
	rd_kafka_topic_t *rkt;	  /* owned; in the instance of its acks class */

	/* --- counters (flow.c), for STATUS and the metrics */
	uint64_t inflight;  /* records in librdkafka, direct and replayed */
	uint64_t delivered; /* final reports of success */
	uint64_t delivered_bytes; /* their keys' and values' bytes */
	uint64_t failed;	  /* final reports of failure */
	uint64_t spilled;	  /* records written to the spool */
	uint64_t replayed;	  /* records produced from the spool */
	uint64_t possible_dups;	  /* sent again after a POSSIBLY_PERSISTED */
	int64_t delivered_ms;	  /* when a record of it was last delivered */

	/* --- where its records are (flow.c; see flow.h) */
	enum rs_topic_mode mode;
	uint32_t spool_topic; /* its spool index; RS_SPOOL_TOPIC_NONE until
			       * it first spills (flow.c) */
	/* in librdkafka straight from their rings, in read order */
	struct rs_record_list direct;
	uint64_t direct_bytes; /* their bytes, against backlog_bytes */
	uint64_t unshadowed;   /* direct records not yet in the spool */
	/* read from their rings, waiting (ring space kept) for room in
	 * librdkafka or the spool, in read order */
	struct rs_record_list hold;
	struct rs_spool_cursor cursor; /* the next record to replay */
	/* spooled records handed to librdkafka and not retired yet */
	struct rs_pending_q pending;
	size_t scan; /* first pending entry the cursor has not passed */
	struct rs_record_list replaying; /* in librdkafka from the spool */
	uint64_t replay_inflight;	 /* their number, against the window */
	uint64_t replay_bytes;		 /* and their bytes */
	uint64_t uncommitted;		 /* appended, not committed yet */
	/* a replayed record failed for now: the cursor goes back to the
	 * oldest failed pending entry at the next pass */
	int rewind;
	int draining;	   /* direct again, replayed records still in flight */
	int64_t resume_ms; /* no replay before this (a failure, a start) */
	uint32_t backoff_ms; /* the last wait before a resend; doubles */
	int busy;	     /* in the flow's busy list (busy_entry) */
	/* a failed producer instance holds some of its records: none goes
	 * to librdkafka directly until they are back (flow.c) */
	int fence;
	TAILQ_ENTRY(rs_topic) busy_entry; /* the flow's topics with work */
};

TAILQ_HEAD(rs_topic_list, rs_topic);

#endif
