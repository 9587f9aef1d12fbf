/* SPDX-License-Identifier: MIT */
/*
 * kstats.h: the part of librdkafka's statistics (its JSON, every
 * statistics.interval.ms) that status and metrics show: each broker's
 * connection state, round-trip time and request queues, and how many
 * records the producer holds.
 */
#ifndef RS_KSTATS_H
#define RS_KSTATS_H

#include <stdint.h>

#define RS_KSTATS_BROKERS 16 /* more are counted, not kept */

struct rs_kbroker {
	char name[96];	    /* host:port/nodeid, as librdkafka names it */
	int32_t nodeid;	    /* -1: a bootstrap address not yet identified */
	char state[16];	    /* UP, DOWN, CONNECT, AUTH, ... */
	int64_t rtt_avg_us; /* over the last interval; 0: no requests */
	int64_t rtt_p99_us;
	int64_t outbuf_cnt;   /* requests waiting to be sent */
	int64_t waitresp_cnt; /* requests sent, waiting for a response */
	int64_t tx;	      /* requests sent since start */
	int64_t txerrs;
	int64_t connects;
	int64_t disconnects;
};

struct rs_kstats {
	int valid;	 /* a statistics event has been parsed */
	int64_t ts_us;	 /* librdkafka's own monotonic time stamp */
	int64_t msg_cnt; /* records queued or in flight in the producer */
	int64_t msg_size;
	uint32_t nbrokers; /* kept in broker[] */
	uint32_t nbrokers_seen;
	struct rs_kbroker broker[RS_KSTATS_BROKERS];
};

/* Parses one statistics JSON document. 0, or -1 (st unchanged) when it is
 * not one. */
int rs_kstats_parse(const char *json, struct rs_kstats *st);

/* 1 if librdkafka's connection to the broker is UP. */
int rs_kbroker_up(const struct rs_kbroker *b);

/* The number of brokers in state UP. */
uint32_t rs_kstats_up(const struct rs_kstats *st);

#endif
