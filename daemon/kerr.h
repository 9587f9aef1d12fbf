/* SPDX-License-Identifier: MIT */
/*
 * kerr.h: what librdkafka's error codes mean to ringside: whether a record
 * that came back with one is sent again, through a new producer instance,
 * or reported failed, and the report it gets.
 */
#ifndef RS_KERR_H
#define RS_KERR_H

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "record.h"

/* What an error from librdkafka means for the record it came with. */
enum rs_err_class {
	RS_ERR_NONE = 0,
	RS_ERR_TRANSIENT, /* the cluster cannot take it now: send it again */
	RS_ERR_PRODUCER,  /* the producer instance failed: again, via a new one
			   */
	RS_ERR_PERMANENT, /* refused for good: report it failed */
	RS_ERR_OTHER, /* unclassified: sent again a few times, then failed */
};
int rs_kafka_err_class(int err);

/* Maps a delivery result to a report outcome. */
void rs_outcome_from_kafka(rd_kafka_resp_err_t err,
			   rd_kafka_msg_status_t status, enum rs_acks acks,
			   struct rs_outcome *o);

#endif
