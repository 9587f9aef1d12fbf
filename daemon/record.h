/*
 * record.h: one record the daemon has taken from a client ring. The daemon
 * owns the copy; librdkafka borrows the value until the delivery report.
 */
#ifndef RS_RECORD_H
#define RS_RECORD_H

#include <stdint.h>
#include <sys/queue.h>

#include "frame.h"

struct rs_session;
struct rs_topic;

/* Owned by its session's record list from the ring read until the record
 * is finished (delivered, or failed and reported). */
struct rs_record {
	TAILQ_ENTRY(rs_record) entry; /* session order = ring order */
	struct rs_session *session;
	struct rs_topic *topic;
	uint64_t start; /* ring position of the frame */
	int done;
	struct rs_frame frame; /* points into data */
	uint8_t data[];	       /* the private copy of the frame */
};

TAILQ_HEAD(rs_record_list, rs_record);

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
