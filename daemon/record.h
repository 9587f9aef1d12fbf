/* SPDX-License-Identifier: MIT */
/*
 * record.h: one record the daemon holds, whether taken from a client ring
 * or read back from the spool. The daemon owns the copy; librdkafka borrows
 * the value until the delivery report.
 */
#ifndef RS_RECORD_H
#define RS_RECORD_H

#include <stdint.h>
#include <sys/queue.h>

#include "frame.h"

struct rs_session;
struct rs_topic;

enum rs_record_list_id {
	RS_LIST_NONE = 0,
	RS_LIST_DIRECT, /* its topic's records in librdkafka from a ring */
	RS_LIST_HOLD,	/* its topic's records waiting to be dispatched */
	RS_LIST_REPLAY, /* its topic's records in librdkafka from the spool */
};

/*
 * A record lives while anything holds it: its session's ring list
 * (in_ring), librdkafka (in_kafka), a topic list (list), or the list of
 * spool appends not yet committed (in_wait). rs_record_release() frees it
 * when the last one lets go.
 */
struct rs_record {
	TAILQ_ENTRY(rs_record) entry;  /* session order = ring order */
	TAILQ_ENTRY(rs_record) tentry; /* the topic list named by list */
	TAILQ_ENTRY(rs_record) wentry; /* the flow's uncommitted appends */
	struct rs_session *session;    /* valid while in_ring */
	uint64_t session_id;
	struct rs_topic *topic;
	uint64_t start;	    /* ring position of the frame (ring records) */
	uint64_t rseq;	    /* daemon-wide order in which records were read */
	uint64_t spool_seq; /* 0 unless it is in the spool */
	int64_t read_ms;    /* monotonic time it was read */
	uint32_t size;	    /* bytes of data[] */
	uint8_t in_ring;
	uint8_t ring_done; /* its ring space may be released */
	uint8_t in_kafka;
	uint8_t in_wait;
	uint8_t list;	       /* enum rs_record_list_id */
	uint8_t from_spool;    /* read back from the spool */
	uint8_t possible_dup;  /* sent again after POSSIBLY_PERSISTED */
	uint8_t orphan;	       /* its client is gone: spooled as well */
	uint8_t size_retries;  /* sent again after its batch was too large */
	struct rs_frame frame; /* points into data */
	uint8_t data[];	       /* the private copy */
};

TAILQ_HEAD(rs_record_list, rs_record);

/* A record with room for size bytes of data and every other field zero;
 * NULL when memory is short. Main thread only: freed records of the same
 * size class are reused from a bounded cache (RS_RECORD_CACHE_BYTES). */
struct rs_record *rs_record_alloc(uint32_t size);

/* Frees rec if nothing holds it any more. */
void rs_record_release(struct rs_record *rec);

/* Frees rec, whoever holds it: for a record never handed on. */
void rs_record_free(struct rs_record *rec);

/* Gives the cache's memory back to the allocator (at exit). */
void rs_record_cache_drop(void);

/* Bytes of freed records the cache keeps at most. */
#define RS_RECORD_CACHE_BYTES (8u << 20)

/* A record's fate, as it goes into the report. */
struct rs_outcome {
	int status;	 /* 0 or RINGSIDE_E* */
	int kafka_error; /* rd_kafka_resp_err_t */
	int persistence; /* ringside_persistence_t */
	int stage;	 /* ringside_stage_t */
	int32_t partition;
	int64_t offset;
	int64_t timestamp;
};

#endif
