/* SPDX-License-Identifier: MIT */
/*
 * session_read.h: a session's records, from its ring to their reports
 * (session_read.c). The server drives it: drains, flushes, the sleep
 * protocol and shutdown; the flow reports through it.
 */
#ifndef RS_SESSION_READ_H
#define RS_SESSION_READ_H

#include <stdint.h>

#include "record.h"

struct rs_session;
struct rs_session_env;

/* Reads up to budget frames and hands them to librdkafka. Returns how many
 * frames it took. */
unsigned int rs_session_drain(struct rs_session *s, unsigned int budget);

/* A record's ring space may be released (it is finished, or safe in the
 * spool). */
void rs_session_ring_done(struct rs_record *rec);

/* The final report for a record (delivered or failed), to its session if
 * that is still open; counted as dropped otherwise. env is the server's
 * struct rs_session_env (a void pointer, to be a struct rs_flow_ops
 * callback as it is). */
void rs_session_report(void *env, struct rs_record *rec,
		       const struct rs_outcome *o);

/* The non-final report: the record is committed to the spool. */
void rs_session_report_spooled(void *env, struct rs_record *rec);

/* Bookkeeping for the back-pressure state shown to the client. */
void rs_session_held(struct rs_session *s, int delta);
void rs_session_spilled(struct rs_session *s);

/* Publishes reports written since the last flush, then moves release past
 * the records finished meanwhile. Called after every drain pass and every
 * batch of delivery reports. */
void rs_session_flush(struct rs_session *s);

/* Sleep protocol, see ring.h. */
int rs_session_arm(struct rs_session *s);
void rs_session_disarm(struct rs_session *s);

/* Shutdown: mark the ring STOPPING and read only what is committed now. */
void rs_session_stop(struct rs_session *s);

/* 1 if everything the daemon will read from this session has been read. */
int rs_session_read_all(struct rs_session *s);

/* 1 when the session holds nothing more and can be freed. */
int rs_session_done(struct rs_session *s);

/* 1 while reports wait in the backlog. */
int rs_session_backlogged(const struct rs_session *s);

#endif
