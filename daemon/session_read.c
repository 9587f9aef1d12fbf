/* SPDX-License-Identifier: MIT */
/*
 * session_read.c: a session's records, from its ring to their reports:
 * reads committed frames into records (a private copy each) and hands them
 * to the flow, writes each record's reports into the reply ring, and moves
 * release only past finished records. session.c is the session's life on
 * the control socket; this file never touches the socket.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/ringside.h"
#include "client/ringside_clock.h"
#include "config.h"
#include "flow.h"
#include "log.h"
#include "session.h"
#include "session_read.h"
#include "topic.h"

static void session_read_session_release_finished(struct rs_session *s)
{
	struct rs_record *rec;

	while ((rec = TAILQ_FIRST(&s->records)) != NULL && rec->ring_done) {
		TAILQ_REMOVE(&s->records, rec, entry);
		rec->in_ring = 0;
		rec->session = NULL;
		rs_record_release(rec);
		s->finished++;
	}
	rs_ring_release(&s->ring, rec != NULL ? rec->start : s->ring.head);
	rs_store_relaxed(&s->shm.hdr->records_finished, s->finished);
}

void rs_session_ring_done(struct rs_record *rec)
{
	/* release moves in rs_session_flush(), after reports are published:
	 * a client that sees release pass a record must also see its report
	 * (ringside_flush() relies on it) */
	rec->ring_done = 1;
}

void rs_session_held(struct rs_session *s, int delta)
{
	s->held += delta;
}

void rs_session_spilled(struct rs_session *s)
{
	s->spilled++;
}

static int session_read_session_wants_report(enum rs_reports mode,
					     const struct rs_outcome *o)
{
	if (mode == RS_REPORTS_ALL)
		return 1;
	return mode == RS_REPORTS_ERRORS && o->status != 0;
}

/* The session-local id of a record's topic, or -1 if the session never
 * resolved it. */
static int64_t session_read_session_topic_id(const struct rs_session *s,
					     const struct rs_record *rec)
{
	if (!rec->from_spool)
		return rec->frame.topic; /* as this session wrote it */
	for (uint32_t i = 0; i < s->ntopics; i++)
		if (s->topics[i] == rec->topic)
			return i;
	return -1;
}

void rs_session_report(void *ctx, struct rs_record *rec,
		       const struct rs_outcome *o)
{
	const struct rs_session_env *env = ctx;
	struct rs_session *s = rec->in_ring
				       ? rec->session
				       : env->find(env->srv, rec->session_id);
	struct ringside_reply_slot slot;
	const char *why;
	int64_t id;

	if (s == NULL) {
		(*env->reports_orphaned)++; /* its session is gone */
		return;
	}
	if (o->stage != RINGSIDE_STAGE_SPOOLED) {
		if (o->status == 0)
			s->delivered++;
		else
			s->failed++;
	}
	if (!session_read_session_wants_report(rec->topic->reports, o))
		return;
	id = session_read_session_topic_id(s, rec);
	if (s->state != RS_SESSION_OPEN || id < 0) {
		rs_reply_drop(&s->reply); /* nobody to read it */
		return;
	}
	memset(&slot, 0, sizeof(slot));
	slot.opaque = rec->frame.opaque;
	slot.offset = o->offset;
	slot.timestamp = o->timestamp;
	slot.partition = o->partition;
	slot.status = o->status;
	slot.kafka_error = o->kafka_error;
	slot.topic = (uint32_t)id;
	slot.persistence = (uint8_t)o->persistence;
	slot.stage = (uint8_t)o->stage;
	if (rs_reply_push(&s->reply, &slot, &why) < 0)
		rs_session_violation(s, why);
	else
		s->reply_dirty = 1;
}

void rs_session_report_spooled(void *env, struct rs_record *rec)
{
	struct rs_outcome o = {
		.stage = RINGSIDE_STAGE_SPOOLED,
		.persistence = RINGSIDE_NOT_PERSISTED,
		.partition = -1,
		.offset = -1,
		.timestamp = rec->frame.timestamp,
	};

	rs_session_report(env, rec, &o);
}

/* Copies one frame out of the ring and checks it: all of it, or for a
 * record too large to take only its header (its report needs the opaque
 * and topic). NULL with *why set: the client broke the protocol; NULL
 * without: out of memory, try later. */
static struct rs_record *session_read_session_take_record(struct rs_session *s,
							  uint32_t size,
							  int oversize,
							  const char **why)
{
	uint32_t copy =
		oversize ? (uint32_t)sizeof(struct ringside_frame) : size;
	struct rs_record *rec = rs_record_alloc(copy);
	int rc;

	*why = NULL;
	if (rec == NULL)
		return NULL;
	rs_ring_copy(&s->ring, rec->data, copy);
	rc = oversize ? rs_frame_parse_header(rec->data, size, &rec->frame, why)
		      : rs_frame_parse(rec->data, size, &rec->frame, why);
	if (rc < 0) {
		rs_record_free(rec);
		return NULL;
	}
	if (rec->frame.topic >= s->ntopics) {
		*why = "frame names a topic the session never resolved";
		rs_record_free(rec);
		return NULL;
	}
	rec->session = s;
	rec->session_id = s->id;
	rec->topic = s->topics[rec->frame.topic];
	rec->start = s->ring.head;
	rec->in_ring = 1;
	rec->orphan = s->state == RS_SESSION_CLOSING;
	rs_ring_advance(&s->ring, size);
	TAILQ_INSERT_TAIL(&s->records, rec, entry);
	s->records_in++;
	(*s->env->records_read)++;
	rs_store_relaxed(&s->shm.hdr->records_read, s->records_in);
	return rec;
}

static int session_read_one(struct rs_session *s)
{
	struct rs_record *rec;
	const char *why;
	uint32_t size;
	int k;

	switch ((k = rs_ring_peek(&s->ring, &size, &why))) {
	case RS_RING_VIOLATION:
		rs_session_violation(s, why);
		return 0;
	case RS_RING_PAD:
		rs_ring_advance(&s->ring, size);
		return 1;
	case RS_RING_RECORD:
	case RS_RING_OVERSIZE:
		rec = session_read_session_take_record(
			s, size, k == RS_RING_OVERSIZE, &why);
		if (rec == NULL) {
			if (why != NULL)
				rs_session_violation(s, why);
			return 0;
		}
		if (k == RS_RING_OVERSIZE) {
			/* committed under an older, larger max_record_bytes */
			if (s->oversize++ == 0)
				rs_session_log(
					RS_LOG_WARN, s,
					"its ring holds records over this "
					"daemon's max_record_bytes, "
					"written under an older limit: "
					"each is failed as too large");
			rs_flow_refuse(*s->env->flow, rec,
				       RINGSIDE_ERECORD_TOO_LARGE);
		} else if (s->refused[rec->frame.topic] != 0) {
			rs_flow_refuse(*s->env->flow, rec,
				       s->refused[rec->frame.topic]);
		} else {
			rs_flow_dispatch(*s->env->flow, rec);
		}
		return 1;
	default:
		break;
	}
	/* nothing committed at head */
	if (s->state == RS_SESSION_CLOSING && rs_ring_unread(&s->ring)) {
		/* the client died between reserving and committing: those
		 * sends never returned 0, so nothing accepted is lost */
		uint64_t gap = rs_ring_skip_gap(&s->ring);

		s->gap_bytes += gap;
		return gap > 0;
	}
	return 0;
}

/* max_records_per_second, a token bucket holding a second's worth: a
 * client over its rate finds its ring full, and the others still get
 * read. Not while stopping: shutdown reads what is there at once. */
static unsigned int session_read_session_rate_budget(struct rs_session *s,
						     unsigned int budget)
{
	uint32_t rate = rs_session_cfg(s)->max_records_per_second;
	int64_t now;

	if (rate == 0 || s->stopping)
		return budget;
	now = rs_now_us();
	if (s->tokens_us == 0)
		s->tokens = rate;
	else
		s->tokens += (double)(now - s->tokens_us) * rate / 1e6;
	if (s->tokens > rate)
		s->tokens = rate;
	s->tokens_us = now;
	return s->tokens < (double)budget ? (unsigned int)s->tokens : budget;
}

unsigned int rs_session_drain(struct rs_session *s, unsigned int budget)
{
	unsigned int n = 0;

	if (!s->shm_ready || s->state == RS_SESSION_HANDSHAKE || s->resuming)
		return 0;
	budget = session_read_session_rate_budget(s, budget);
	while (n < budget && s->state != RS_SESSION_DEAD) {
		if (s->stopping && s->ring.head >= s->stop_at)
			break;
		if (!session_read_one(s))
			break;
		n++;
	}
	if (rs_session_cfg(s)->max_records_per_second > 0 && !s->stopping)
		s->tokens -= n;
	if (s->ring.tail - s->ring.release > s->shm.ring_size / 2 &&
	    !TAILQ_EMPTY(&s->records))
		rs_flow_relieve(*s->env->flow, TAILQ_FIRST(&s->records));
	return n;
}

static void session_read_session_publish_state(struct rs_session *s)
{
	uint32_t state = RINGSIDE_SHM_HEALTHY;

	if (s->stopping)
		state = RINGSIDE_SHM_STOPPING;
	else if (s->held > 0)
		state = RINGSIDE_SHM_REFUSING; /* nothing takes its records */
	else if (s->spilled != s->spilled_seen)
		state = RINGSIDE_SHM_SPILLING;
	s->spilled_seen = s->spilled;
	if (state != s->published_state) {
		rs_store_relaxed(&s->shm.hdr->state, state);
		s->published_state = state;
	}
}

void rs_session_flush(struct rs_session *s)
{
	const char *why;

	if (!s->shm_ready)
		return;
	if (s->state == RS_SESSION_OPEN &&
	    (s->reply_dirty || s->reply.backlog_len > 0)) {
		s->reply_dirty = 0;
		if (rs_reply_flush(&s->reply, &why) < 0)
			rs_session_violation(s, why);
	}
	/* reports first (a seq_cst store of reply_tail), then release */
	session_read_session_release_finished(s);
	if (s->state == RS_SESSION_OPEN)
		session_read_session_publish_state(s);
}

int rs_session_arm(struct rs_session *s)
{
	if (s->state == RS_SESSION_CLOSING)
		return !rs_session_read_all(s);
	if (s->state != RS_SESSION_OPEN)
		return 0;
	if (s->stopping && s->ring.head >= s->stop_at)
		return 0;
	return rs_ring_arm(&s->ring);
}

void rs_session_disarm(struct rs_session *s)
{
	if (s->state == RS_SESSION_OPEN)
		rs_ring_disarm(&s->ring);
}

void rs_session_stop(struct rs_session *s)
{
	s->stopping = 1;
	if (!s->shm_ready) {
		s->stop_at = 0;
		return;
	}
	s->stop_at = rs_ring_snapshot_tail(&s->ring);
	rs_store_relaxed(&s->shm.hdr->state, RINGSIDE_SHM_STOPPING);
}

int rs_session_read_all(struct rs_session *s)
{
	const char *why;
	uint32_t size;

	if (!s->shm_ready || s->state == RS_SESSION_DEAD ||
	    s->state == RS_SESSION_HANDSHAKE)
		return 1;
	if (s->stopping && s->ring.head >= s->stop_at)
		return 1;
	if (s->state == RS_SESSION_OPEN)
		return 0;
	/* closing: all read once nothing is committed or reserved ahead */
	return rs_ring_peek(&s->ring, &size, &why) != RS_RING_RECORD &&
	       !rs_ring_unread(&s->ring);
}

int rs_session_done(struct rs_session *s)
{
	if (s->state != RS_SESSION_CLOSING && s->state != RS_SESSION_DEAD)
		return 0;
	if (!TAILQ_EMPTY(&s->records))
		return 0;
	return rs_session_read_all(s);
}

int rs_session_backlogged(const struct rs_session *s)
{
	return s->state == RS_SESSION_OPEN && s->reply.backlog_len > 0;
}
