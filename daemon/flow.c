/* SPDX-License-Identifier: MIT */
/*
 * flow.c: the per-topic state machine described in flow.h. It decides and
 * keeps order; producer.c talks to librdkafka, spool.c to the disk,
 * session.c to clients.
 *
 * Order rule: within a topic, records reach librdkafka in the order they
 * were read, or, after a retriable failure, the oldest undelivered one is
 * sent again before anything younger. Everything below keeps that rule.
 *
 * Why one file of 1,200 lines: it is one state machine (direct, spooled,
 * replaying, held), and every transition must keep the order rule above;
 * split, a reader checking that rule would have to hold several files'
 * statics in mind at once. Its sections follow a record: the pending
 * queue, routing, delivery reports, then the pass that replays and
 * retires.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/ringside.h"
#include "client/ringside_clock.h"
#include "client/ringside_proto.h"
#include "flow.h"
#include "kerr.h"
#include "log.h"
#include "producer.h"

#define REPLAY_BUDGET 4096U  /* records per topic per pass */
#define HOLD_BUDGET 8192U    /* held records routed per topic per pass */
#define SHADOW_BUDGET 16384U /* shadows written per pass, all topics */
/* records in flight per topic: half of librdkafka's default queue
 * (queue.buffering.max.messages, 100,000), the rest left to direct
 * topics. At 20,000 a replay to a real cluster ran at 45,000-240,000
 * records/s, bound by acknowledgement round trips; at 50,000, 320,000-
 * 330,000 (RS_BENCH_ONLY=5 make bench-kafka) */
#define REPLAY_WINDOW 50000U
#define REPLAY_WINDOW_BYTES (64ULL << 20)
#define PENDING_MAX 200000U
#define BACKOFF_MIN_MS 100U
#define BACKOFF_MAX_MS 5000U
#define RECOVER_GRACE_MS 2000 /* replay after a start waits this long */
/* a ring half full of records this old, of a topic that delivered none
 * for as long, is an outage, not a burst */
#define RELIEVE_AGE_MS 100
#define OTHER_TRIES                                                            \
	5 /* sends of a record failing with an unclassified                    \
	   * error before it is reported failed */

/* Owns nothing but its lists' links: records belong to their holders. */
struct rs_flow {
	const struct rs_flow_ops *ops; /* the layer above; set once */
	void *ctx;		       /* its argument */
	struct rs_producer *producer;
	struct rs_spool *spool;
	struct rs_record_list wait; /* spool appends not yet committed */
	struct rs_latency latency[RS_ACKS_N]; /* see rs_flow_latency() */
	struct rs_topic_list busy; /* topics with anything in motion */
	uint64_t rseq;
	int64_t now_ms;
	int stopping;
	unsigned int shadow_budget; /* shadows this pass may still write */
	uint64_t held;
	uint64_t spilled;
	uint64_t replayed;
	uint64_t possible_dups;
	/* per acks class: records delivered, and that count + 1 at the last
	 * purge (0: never purged) */
	uint64_t delivered[RS_ACKS_N];
	uint64_t purge_mark[RS_ACKS_N];
	int64_t purge_ms[RS_ACKS_N]; /* when the class was last purged */
	int stall_logged[RS_ACKS_N];
};

struct rs_flow *rs_flow_new(const struct rs_flow_ops *ops, void *ctx,
			    struct rs_producer *p, struct rs_spool *sp)
{
	struct rs_flow *f = calloc(1, sizeof(*f));

	if (f == NULL)
		fatal("calloc");
	f->ops = ops;
	f->ctx = ctx;
	f->producer = p;
	f->spool = sp;
	f->shadow_budget = SHADOW_BUDGET;
	TAILQ_INIT(&f->wait);
	TAILQ_INIT(&f->busy);
	f->now_ms = rs_coarse_ms();
	return f;
}

static void flow_mark_busy(struct rs_flow *f, struct rs_topic *t);

/* Lets go of every record the flow's lists hold (at exit). */
static void flow_release_list(struct rs_topic *t, struct rs_record_list *l)
{
	struct rs_record *rec;

	while ((rec = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, rec, tentry);
		rec->list = RS_LIST_NONE;
		if (l == &t->direct) {
			t->direct_bytes -= rec->size;
			if (rec->spool_seq == 0)
				t->unshadowed--;
		}
		rs_record_release(rec);
	}
}

void rs_flow_free(struct rs_flow *f)
{
	struct rs_record *rec;
	struct rs_topic *t;

	while ((rec = TAILQ_FIRST(&f->wait)) != NULL) {
		TAILQ_REMOVE(&f->wait, rec, wentry);
		rec->in_wait = 0;
		rs_record_release(rec);
	}
	while ((t = TAILQ_FIRST(&f->busy)) != NULL) {
		TAILQ_REMOVE(&f->busy, t, busy_entry);
		t->busy = 0;
		flow_release_list(t, &t->hold);
		flow_release_list(t, &t->direct);
		flow_release_list(t, &t->replaying);
	}
	free(f);
}

/* t's index in the spool, taken the first time t needs one: a topic that
 * never spills never enters the spool's index (which is never pruned). */
static uint32_t flow_spool_id(struct rs_flow *f, struct rs_topic *t)
{
	if (t->spool_topic == RS_SPOOL_TOPIC_NONE)
		t->spool_topic =
			rs_spool_topic(f->spool, t->name, strlen(t->name));
	return t->spool_topic;
}

void rs_flow_topic_new(struct rs_flow *f, struct rs_topic *t)
{
	struct rs_spool_pos end;

	t->spool_topic = RS_SPOOL_TOPIC_NONE;
	t->mode = RS_MODE_DIRECT;
	if (!t->write_ahead)
		return;
	/* every record of a write-ahead topic goes through the spool */
	rs_spool_end(f->spool, &end);
	rs_spool_cursor_init(&t->cursor, flow_spool_id(f, t), &end,
			     rs_spool_last_seq(f->spool));
	t->mode = RS_MODE_SPOOLED;
	flow_mark_busy(f, t);
}

/* ------------------------------------------------------ pending queue */

static struct rs_pending *flow_pq_at(const struct rs_pending_q *q, size_t i)
{
	return &q->v[(q->head + i) % q->cap];
}

static struct rs_pending *flow_pq_push(struct rs_pending_q *q, uint64_t seq,
				       const struct rs_spool_pos *pos)
{
	struct rs_pending *e;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 256;
		struct rs_pending *v = malloc(cap * sizeof(*v));

		if (v == NULL)
			fatal("malloc");
		for (size_t i = 0; i < q->n; i++)
			v[i] = *flow_pq_at(q, i);
		free(q->v);
		q->v = v;
		q->cap = cap;
		q->head = 0;
	}
	e = flow_pq_at(q, q->n++);
	e->seq = seq;
	e->pos = *pos;
	e->state = RS_PENDING_INFLIGHT;
	e->possible_dup = 0;
	e->tries = 0;
	return e;
}

static struct rs_pending *flow_pq_find(const struct rs_pending_q *q,
				       uint64_t seq)
{
	size_t lo = 0, hi = q->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (flow_pq_at(q, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < q->n && flow_pq_at(q, lo)->seq == seq ? flow_pq_at(q, lo)
							  : NULL;
}

/* ------------------------------------------------------------ helpers */

static void flow_mark_busy(struct rs_flow *f, struct rs_topic *t)
{
	if (!t->busy) {
		t->busy = 1;
		TAILQ_INSERT_TAIL(&f->busy, t, busy_entry);
	}
}

static void flow_hold_push(struct rs_flow *f, struct rs_topic *t,
			   struct rs_record *rec)
{
	struct rs_record *after = TAILQ_LAST(&t->hold, rs_record_list);

	/* read order. A record read now is the youngest; one coming back
	 * from librdkafka is older than every held record (a record goes to
	 * librdkafka only while none of its topic is held), and so is the
	 * one flow_drain_hold() could not route: those are placed from the
	 * head, with no walk over a hold list of half a million records */
	if (after != NULL && after->rseq > rec->rseq) {
		struct rs_record *next = TAILQ_FIRST(&t->hold);

		after = NULL;
		while (next != NULL && next->rseq < rec->rseq) {
			after = next;
			next = TAILQ_NEXT(next, tentry);
		}
	}
	if (after == NULL)
		TAILQ_INSERT_HEAD(&t->hold, rec, tentry);
	else
		TAILQ_INSERT_AFTER(&t->hold, after, rec, tentry);
	rec->list = RS_LIST_HOLD;
	f->held++;
	if (rec->in_ring)
		f->ops->held(rec->session, 1);
	flow_mark_busy(f, t);
}

static void flow_hold_remove(struct rs_flow *f, struct rs_topic *t,
			     struct rs_record *rec)
{
	TAILQ_REMOVE(&t->hold, rec, tentry);
	rec->list = RS_LIST_NONE;
	f->held--;
	if (rec->in_ring)
		f->ops->held(rec->session, -1);
}

static void flow_direct_add(struct rs_flow *f, struct rs_topic *t,
			    struct rs_record *rec)
{
	TAILQ_INSERT_TAIL(&t->direct, rec, tentry);
	rec->list = RS_LIST_DIRECT;
	rec->in_kafka = 1;
	t->direct_bytes += rec->size;
	t->unshadowed++;
	flow_mark_busy(f, t);
}

static void flow_direct_remove(struct rs_topic *t, struct rs_record *rec)
{
	TAILQ_REMOVE(&t->direct, rec, tentry);
	rec->list = RS_LIST_NONE;
	t->direct_bytes -= rec->size;
	if (rec->spool_seq == 0)
		t->unshadowed--;
}

const uint32_t rs_latency_le_ms[RS_LATENCY_BOUNDS] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
};

static void flow_latency_note(struct rs_latency *l, int64_t ms)
{
	size_t i = 0;

	if (ms < 0)
		ms = 0;
	while (i < RS_LATENCY_BOUNDS && (uint64_t)ms > rs_latency_le_ms[i])
		i++;
	l->bucket[i]++;
	l->count++;
	l->sum_ms += (uint64_t)ms;
}

const struct rs_latency *rs_flow_latency(const struct rs_flow *f,
					 enum rs_acks acks)
{
	return &f->latency[acks];
}

/* Final outcome: report it and free the record's ring space. */
static void flow_finish(struct rs_flow *f, struct rs_record *rec,
			const struct rs_outcome *o)
{
	if (o->status == 0) {
		rec->topic->delivered++;
		rec->topic->delivered_bytes +=
			rec->frame.key_len + rec->frame.value_len;
	} else {
		rec->topic->failed++;
	}
	if (!rec->from_spool)
		flow_latency_note(&f->latency[rec->topic->acks],
				  rs_coarse_ms() - rec->read_ms);
	f->ops->report(f->ctx, rec, o);
	if (rec->in_ring)
		f->ops->ring_done(rec);
}

/* Fails rec for good, before it reached Kafka. */
static void flow_fail(struct rs_flow *f, struct rs_record *rec, int status)
{
	struct rs_outcome o = {
		.status = status,
		.stage = RINGSIDE_STAGE_FAILED,
		.partition = -1,
		.offset = -1,
		.timestamp = rec->frame.timestamp,
	};

	flow_finish(f, rec, &o);
}

/*
 * 1 if a record that failed with o is to be sent again rather than
 * reported failed: a transient error, or one of the producer instance
 * (rs_kafka_err_class), always; an unclassified one, up to OTHER_TRIES
 * times in all, so that an error nobody foresaw neither loses the record
 * at once nor holds its topic for ever.
 */
static int flow_send_again(const struct rs_topic *t,
			   const struct rs_record *rec,
			   const struct rs_outcome *o)
{
	const struct rs_pending *e;

	switch (rs_kafka_err_class(o->kafka_error)) {
	case RS_ERR_TRANSIENT:
	case RS_ERR_PRODUCER:
		return 1;
	case RS_ERR_OTHER:
		e = rec->spool_seq != 0
			    ? flow_pq_find(&t->pending, rec->spool_seq)
			    : NULL;
		return e == NULL || e->tries + 1 < OTHER_TRIES;
	default:
		return 0;
	}
}

/* ---------------------------------------------------------- the spool */

/* Appends rec to the spool. 1: done (or failed for good and reported);
 * 0: the spool cannot take it now. */
static int flow_spool_append(struct rs_flow *f, struct rs_topic *t,
			     struct rs_record *rec, int shadow)
{
	const struct rs_frame *fr = &rec->frame;
	struct rs_srec_in in = {
		.topic = t->name,
		.topic_len = (uint16_t)strlen(t->name),
		.session_id = rec->session_id,
		.opaque = fr->opaque,
		.timestamp = fr->timestamp,
		.partition = fr->partition,
		.headers = fr->headers,
		.header_bytes = fr->header_bytes,
		.header_count = fr->header_count,
		.key = fr->key,
		.key_len = fr->key ? fr->key_len : RINGSIDE_NULL_LEN,
		.value = fr->value,
		.value_len = fr->value ? fr->value_len : RINGSIDE_NULL_LEN,
	};
	struct rs_spool_pos pos;
	uint64_t seq;
	int rc;

	rc = rs_spool_append(f->spool, flow_spool_id(f, t), &in, &seq, &pos);
	if (rc == RS_SPOOL_ETOOBIG) {
		flow_fail(f, rec, RINGSIDE_ERECORD_TOO_LARGE);
		return 1;
	}
	if (rc < 0)
		return 0;
	rec->spool_seq = seq;
	rec->in_wait = 1;
	TAILQ_INSERT_TAIL(&f->wait, rec, wentry);
	t->uncommitted++;
	t->spilled++;
	f->spilled++;
	if (shadow)
		flow_pq_push(&t->pending, seq, &pos);
	if (rec->in_ring)
		f->ops->spilled(rec->session);
	return 1;
}

/* Writes every record the topic has in librdkafka, not yet in the spool,
 * to the spool, in read order. -1 if the spool cannot take them now, or
 * (unless all) this turn of the event loop has written its share of
 * shadows: a spill moment once wrote 100,000 at once, and the control
 * socket waited 190 ms. Records read meanwhile wait in the hold list. */
static int flow_shadow_rest(struct rs_flow *f, struct rs_topic *t, int all)
{
	struct rs_record *rec;

	if (t->unshadowed == 0)
		return 0; /* the common case: checked on every record */
	TAILQ_FOREACH (rec, &t->direct, tentry) {
		if (rec->spool_seq != 0)
			continue;
		if (!all && f->shadow_budget == 0)
			return -1;
		if (!flow_spool_append(f, t, rec, 1))
			return -1;
		t->unshadowed--;
		if (f->shadow_budget > 0)
			f->shadow_budget--;
	}
	return 0;
}

/* Switches t to SPOOLED (see flow.h). -1 if the spool cannot take records
 * now, unless force: a record of t already in the spool must be replayed
 * from it, whatever the spool can take today. all: see flow_shadow_rest(). */
static int flow_spool_topic(struct rs_flow *f, struct rs_topic *t,
			    const char *why, int force, int all)
{
	struct rs_spool_pos end;

	if (t->mode == RS_MODE_SPOOLED)
		return flow_shadow_rest(f, t, all);
	if (!force && rs_spool_usable(f->spool) < 0)
		return -1;
	rs_spool_end(f->spool, &end);
	rs_spool_cursor_init(&t->cursor, flow_spool_id(f, t), &end,
			     rs_spool_last_seq(f->spool));
	t->scan = 0;
	t->mode = RS_MODE_SPOOLED;
	t->backoff_ms = 0;
	t->resume_ms = 0;
	flow_mark_busy(f, t);
	log_notice("topic %s: spooling (%s); %llu records in librdkafka are "
		   "written to the spool too",
		   t->name, why, (unsigned long long)t->inflight);
	return flow_shadow_rest(f, t, all);
}

static int flow_to_spooled(struct rs_flow *f, struct rs_topic *t,
			   const char *why)
{
	return flow_spool_topic(f, t, why, 0, 0);
}

/* A record whose client is gone (rec->orphan), in librdkafka from its
 * ring: a copy goes to the spool now, so a daemon crash before Kafka has
 * it loses nothing (no process can hand that ring to the next daemon). */
static void flow_shadow_orphan(struct rs_flow *f, struct rs_record *rec)
{
	struct rs_topic *t = rec->topic;

	if (rec->list != RS_LIST_DIRECT || rec->spool_seq != 0)
		return;
	if (flow_spool_append(f, t, rec, 1))
		t->unshadowed--;
}

static int flow_over_backlog(const struct rs_flow *f, const struct rs_topic *t,
			     const char **why)
{
	const struct rs_record *first = TAILQ_FIRST(&t->direct);

	if (first == NULL)
		return 0;
	if (t->direct_bytes > t->backlog_bytes) {
		*why = "backlog_bytes exceeded";
		return 1;
	}
	if (f->now_ms - first->read_ms > (int64_t)t->backlog_ms) {
		*why = "backlog_ms exceeded";
		return 1;
	}
	return 0;
}

/* 1: handled; 0: must wait (in the hold list). */
static int flow_route(struct rs_flow *f, struct rs_topic *t,
		      struct rs_record *rec)
{
	struct rs_outcome o;
	const char *why;

	if (t->mode == RS_MODE_DIRECT && flow_over_backlog(f, t, &why))
		(void)flow_to_spooled(f, t, why);
	if (t->mode == RS_MODE_DIRECT && t->acks_next >= 0)
		return 0; /* waits for the acks switch */
	if (t->mode == RS_MODE_DIRECT && t->fence) {
		/* a failed producer still holds older records of the topic:
		 * nothing overtakes them */
		if (t->inflight > 0)
			return 0;
		t->fence = 0;
	}
	if (t->mode == RS_MODE_DIRECT) {
		switch (rs_producer_send(f->producer, rec, &o)) {
		case RS_SEND_OK:
			flow_direct_add(f, t, rec);
			if (rec->orphan)
				flow_shadow_orphan(f, rec);
			return 1;
		case RS_SEND_FAILED:
			flow_finish(f, rec, &o);
			return 1;
		case RS_SEND_AGAIN:
			if (flow_to_spooled(
				    f, t, "its producer is being replaced") < 0)
				return 0;
			break;
		default:
			/* librdkafka's queue is full: a limit of this
			 * process, not a sign the brokers are slow. The record
			 * waits in its ring (the hold list) until reports make
			 * room; backlog_ms, and a ring half full while nothing
			 * is delivered (rs_flow_relieve), tell a slow cluster
			 * from a busy one */
			return 0;
		}
	}
	if (flow_shadow_rest(f, t, 0) < 0)
		return 0;
	return flow_spool_append(f, t, rec, 0);
}

void rs_flow_dispatch(struct rs_flow *f, struct rs_record *rec)
{
	struct rs_topic *t = rec->topic;

	rec->rseq = ++f->rseq;
	rec->read_ms = f->now_ms;
	if (rec->frame.timestamp == 0)
		rec->frame.timestamp =
			rs_wall_ms(); /* also what the spool keeps */
	if (!TAILQ_EMPTY(&t->hold) || !flow_route(f, t, rec))
		flow_hold_push(f, t, rec);
}

/* --------------------------------------------------- delivery reports */

void rs_flow_delivered(struct rs_flow *f, struct rs_record *rec,
		       const struct rs_outcome *o)
{
	struct rs_topic *t = rec->topic;
	struct rs_pending *e;

	rec->in_kafka = 0;
	if (rec->list == RS_LIST_REPLAY) {
		TAILQ_REMOVE(&t->replaying, rec, tentry);
		rec->list = RS_LIST_NONE;
		t->replay_inflight--;
		t->replay_bytes -= rec->size;
	}
	if (o->kafka_error != 0 && flow_send_again(t, rec, o)) {
		if (rs_kafka_err_class(o->kafka_error) == RS_ERR_OTHER)
			log_warnx("topic %s: librdkafka reports %s, an error "
				  "ringsided does not know: the record is sent "
				  "again (at most %d times in all)",
				  t->name, rd_kafka_err2name(o->kafka_error),
				  OTHER_TRIES);
		/* it will be sent again, by this process or, from the spool,
		 * by the next one: count the copy Kafka may already have */
		if (o->persistence == RINGSIDE_POSSIBLY_PERSISTED) {
			t->possible_dups++;
			f->possible_dups++;
		}
		/* the spool takes the topic over; a record already in it
		 * (an orphan's shadow, or a replayed record of a topic that
		 * went direct before its report came) is replayed from it in
		 * any case, and its topic goes back to the spool too: a
		 * direct topic never replays, and the record would wait for
		 * ever (seen under ASan: 46,495 records stuck for minutes) */
		if ((rec->list == RS_LIST_DIRECT ||
		     t->mode == RS_MODE_DIRECT) &&
		    flow_spool_topic(f, t, rd_kafka_err2str(o->kafka_error),
				     rec->spool_seq != 0, 1) < 0 &&
		    rec->spool_seq == 0) {
			/* no spool: back in line, still holding its ring */
			flow_direct_remove(t, rec);
			flow_hold_push(f, t, rec);
			return;
		}
		if (rec->list == RS_LIST_DIRECT)
			flow_direct_remove(t, rec);
		e = flow_pq_find(&t->pending, rec->spool_seq);
		if (e != NULL) {
			e->state = RS_PENDING_FAILED;
			e->possible_dup |=
				o->persistence == RINGSIDE_POSSIBLY_PERSISTED;
			if (rs_kafka_err_class(o->kafka_error) == RS_ERR_OTHER)
				e->tries++;
		}
		t->rewind = 1;
		flow_mark_busy(f, t);
		rs_record_release(rec);
		return;
	}
	if (rec->list == RS_LIST_DIRECT)
		flow_direct_remove(t, rec);
	if (rec->spool_seq != 0 &&
	    (e = flow_pq_find(&t->pending, rec->spool_seq)))
		e->state = RS_PENDING_DONE;
	if (o->status == 0) {
		t->backoff_ms = 0;
		t->delivered_ms = f->now_ms;
		f->delivered[t->acks]++;
	}
	flow_finish(f, rec, o);
	rs_record_release(rec);
}

/* --------------------------------------------------------------- pass */

/* Frees ring space of records the spool has committed. */
static void flow_take_committed(struct rs_flow *f)
{
	uint64_t committed = rs_spool_committed(f->spool);
	struct rs_record *rec;

	while ((rec = TAILQ_FIRST(&f->wait)) != NULL &&
	       rec->spool_seq <= committed) {
		TAILQ_REMOVE(&f->wait, rec, wentry);
		rec->in_wait = 0;
		rec->topic->uncommitted--;
		if (rec->in_ring && !rec->ring_done)
			f->ops->ring_done(rec);
		f->ops->report_spooled(f->ctx, rec);
		rs_record_release(rec);
	}
}

/*
 * An operator's message.timeout.ms is applied here, not by librdkafka
 * (which would time out a partition's oldest records and go on sending
 * younger ones: a gap, and a reordering once the old ones are sent
 * again; producer.c never gives it the timeout). Once a record has waited
 * that long, every topic of its producer writes what it has in librdkafka
 * to the spool, then the producer's queue (and in-flight requests) are
 * purged, all at once, and replay later sends them in order.
 */
static int flow_near_timeout(const struct rs_flow *f, const struct rs_topic *t)
{
	const struct rs_record *d = TAILQ_FIRST(&t->direct);
	const struct rs_record *r = TAILQ_FIRST(&t->replaying);
	int64_t oldest = INT64_MAX;

	if (t->kafka_timeout_ms == 0)
		return 0;
	if (d != NULL)
		oldest = d->read_ms;
	if (r != NULL && r->read_ms < oldest)
		oldest = r->read_ms;
	/* once per timeout: a purge took everything queued then, and what
	 * stays in flight after a queue-only purge must not trigger one on
	 * every pass (it did: every 10 ms, each purging what replay had just
	 * queued) */
	return oldest != INT64_MAX &&
	       f->now_ms - oldest >= (int64_t)t->kafka_timeout_ms &&
	       f->now_ms - f->purge_ms[t->acks] >= (int64_t)t->kafka_timeout_ms;
}

/*
 * A purge of in-flight requests also takes them out of librdkafka's
 * request timeouts: on a connection that is up but never answers (a
 * network partition), socket.timeout.ms then never fires, and every replay
 * goes to the dead connection and is purged again, for ever (seen under
 * ASan, a stall of minutes). So when nothing of the class was delivered
 * since its last purge, only the queue is purged: what is in flight stays,
 * times out, librdkafka drops the connection and reconnects; records not
 * yet sent still never overtake the older ones.
 */
static void flow_purge_class(struct rs_flow *f, enum rs_acks acks)
{
	int stalled = f->purge_mark[acks] != 0 &&
		      f->delivered[acks] + 1 == f->purge_mark[acks];
	struct rs_topic *t;

	/* every topic of the class stops sending now: until the purged
	 * records' reports are back (they come later, one by one) nothing
	 * younger may go to librdkafka, or it would be delivered before them
	 * (seen: a purge between two replay passes, the older record purged,
	 * the younger one of its key delivered); replay starts again from the
	 * oldest undelivered record once nothing is in flight */
	TAILQ_FOREACH (t, &f->busy, busy_entry) {
		if (t->acks != acks)
			continue;
		/* a topic gone direct with replayed records still in
		 * flight stops too: they are among the purged */
		if (!TAILQ_EMPTY(&t->direct) ||
		    (t->mode == RS_MODE_DIRECT && t->pending.n > 0))
			(void)flow_to_spooled(f, t,
					      "message.timeout.ms reached");
		if (t->mode == RS_MODE_SPOOLED)
			t->rewind = 1;
	}
	(void)rs_spool_commit(f->spool);
	if (!stalled)
		log_notice("records have waited message.timeout.ms in the "
			   "acks=%s producer: moving all of its records into "
			   "the spool",
			   rs_acks_name(acks));
	else if (!f->stall_logged[acks])
		log_notice("acks=%s producer: nothing delivered since the last "
			   "purge; purging only what is not yet sent, so that "
			   "librdkafka's socket.timeout.ms can drop a dead "
			   "connection",
			   rs_acks_name(acks));
	f->stall_logged[acks] = stalled;
	rs_producer_purge_class(f->producer, acks, !stalled);
	f->purge_mark[acks] = f->delivered[acks] + 1;
	f->purge_ms[acks] = f->now_ms;
}

static unsigned int flow_drain_hold(struct rs_flow *f, struct rs_topic *t)
{
	struct rs_record *rec;
	unsigned int n = 0;

	/* bounded, as replay is: once librdkafka's queue was full, or the
	 * spool, every ring's records may be waiting here (64 rings, half a
	 * million), and a pass is one turn of the event loop */
	while (n < HOLD_BUDGET && (rec = TAILQ_FIRST(&t->hold)) != NULL) {
		flow_hold_remove(f, t, rec);
		if (!flow_route(f, t, rec)) {
			flow_hold_push(f, t, rec);
			break;
		}
		n++;
	}
	return n;
}

/* The pending entry for seq if the cursor meets one, moving scan past it. */
static struct rs_pending *flow_scan_to(struct rs_topic *t, uint64_t seq)
{
	struct rs_pending_q *q = &t->pending;

	while (t->scan < q->n && flow_pq_at(q, t->scan)->seq < seq)
		t->scan++;
	if (t->scan < q->n && flow_pq_at(q, t->scan)->seq == seq)
		return flow_pq_at(q, t->scan++);
	return NULL;
}

/* After a retriable failure, once nothing is in flight: start again from
 * the oldest record not yet delivered. */
static void flow_rewind_topic(struct rs_flow *f, struct rs_topic *t)
{
	struct rs_pending_q *q = &t->pending;

	for (size_t i = 0; i < q->n; i++) {
		struct rs_pending *e = flow_pq_at(q, i);

		if (e->state != RS_PENDING_FAILED)
			continue;
		rs_spool_cursor_init(&t->cursor, flow_spool_id(f, t), &e->pos,
				     e->seq - 1);
		t->scan = i;
		break;
	}
	t->rewind = 0;
	t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (t->backoff_ms > BACKOFF_MAX_MS)
		t->backoff_ms = BACKOFF_MAX_MS;
	t->resume_ms = f->now_ms + t->backoff_ms;
	log_info("topic %s: delivery failed; sending again from the oldest "
		 "undelivered record in %u ms",
		 t->name, t->backoff_ms);
}

static struct rs_record *flow_record_from_spool(struct rs_topic *t,
						const struct rs_srec *r)
{
	struct rs_record *rec = rs_record_alloc(r->size);
	const uint8_t *base =
		(const uint8_t *)r->topic - sizeof(struct rs_srec_hdr);
	ptrdiff_t hoff, koff, voff;

	if (rec == NULL)
		return NULL;
	memcpy(rec->data, base, r->size);
	hoff = r->headers - base;
	koff = r->key ? (const uint8_t *)r->key - base : 0;
	voff = r->value ? (const uint8_t *)r->value - base : 0;
	rec->topic = t;
	rec->session_id = r->session_id;
	rec->spool_seq = r->seq;
	rec->from_spool = 1;
	rec->frame.size = r->size;
	rec->frame.partition = r->partition;
	rec->frame.timestamp = r->timestamp;
	rec->frame.opaque = r->opaque;
	rec->frame.header_count = r->header_count;
	rec->frame.header_bytes = r->header_bytes;
	rec->frame.headers = rec->data + hoff;
	rec->frame.key = r->key ? rec->data + koff : NULL;
	rec->frame.key_len = r->key_len;
	rec->frame.value = r->value ? rec->data + voff : NULL;
	rec->frame.value_len = r->value_len;
	return rec;
}

static void flow_retire(struct rs_flow *f, struct rs_topic *t)
{
	struct rs_pending_q *q = &t->pending;
	uint64_t count = 0, below, last = 0;

	while (q->n > 0 && flow_pq_at(q, 0)->state == RS_PENDING_DONE) {
		last = flow_pq_at(q, 0)->seq;
		q->head = (q->head + 1) % q->cap;
		q->n--;
		count++;
		if (t->scan > 0)
			t->scan--;
	}
	/* a direct topic's records in the spool are all shadows, each with
	 * an entry: none left, none to keep (its cursor is not in use) */
	below = q->n > 0		    ? flow_pq_at(q, 0)->seq
		: t->mode == RS_MODE_DIRECT ? rs_spool_last_seq(f->spool) + 1
					    : t->cursor.last_seq + 1;
	/* the entries just retired may be ahead of the cursor: shadows
	 * delivered before replay reached them, or records delivered before
	 * a rewind took the cursor back. Every record of t between the
	 * cursor and the last of them has an entry (shadows are written
	 * before any other record of a spooled topic, and the cursor has
	 * read every other one), so all of them are done: replay skips them
	 * by the checkpoint, having no entry left to skip them by (seen
	 * against a real cluster: 106 records delivered and reported twice
	 * after a spill cut by SHADOW_BUDGET) */
	if (last >= below)
		below = last + 1;
	rs_spool_retire(f->spool, t->spool_topic, below, count);
}

/*
 * Replay has read the whole spool: the topic goes straight to Kafka
 * again, without waiting for the replayed records' reports (under a
 * steady load there always are some in flight, and the topic never came
 * back). librdkafka keeps the order of one partition's records, so ring
 * records sent from now on follow the replayed ones. A replayed record
 * that fails takes the topic back to the spool (rs_flow_delivered), as a
 * direct one does; the pending entries the replayed records still have
 * say where its replay starts again.
 */
static void flow_maybe_direct(struct rs_topic *t)
{
	if (t->write_ahead || t->mode != RS_MODE_SPOOLED ||
	    t->uncommitted > 0 || t->rewind || !TAILQ_EMPTY(&t->hold) ||
	    !TAILQ_EMPTY(&t->direct))
		return;
	t->mode = RS_MODE_DIRECT;
	t->draining = 1;
	log_notice("topic %s: replay caught up; records go straight to Kafka "
		   "again",
		   t->name);
}

static unsigned int flow_replay(struct rs_flow *f, struct rs_topic *t)
{
	unsigned int n = 0;
	int k = 1;

	if (t->mode != RS_MODE_SPOOLED || f->stopping ||
	    !TAILQ_EMPTY(&t->direct) || t->acks_next >= 0)
		return 0; /* shadows still in librdkafka come first */
	if (t->rewind) {
		if (t->replay_inflight > 0)
			return 0;
		flow_rewind_topic(f, t);
	}
	if (f->now_ms < t->resume_ms)
		return 0;
	while (n < REPLAY_BUDGET && t->replay_inflight < REPLAY_WINDOW &&
	       t->replay_bytes < REPLAY_WINDOW_BYTES &&
	       t->pending.n < PENDING_MAX) {
		struct rs_spool_pos saved_pos = t->cursor.pos, pos;
		uint64_t saved_last = t->cursor.last_seq;
		size_t saved_scan = t->scan;
		struct rs_pending *e;
		struct rs_record *rec;
		struct rs_srec r;
		struct rs_outcome o;
		int rc;

		k = rs_spool_next(f->spool, &t->cursor, &r, &pos);
		if (k == RS_SPOOL_NEXT_DAMAGED)
			continue; /* a damaged region was skipped and logged */
		if (k == RS_SPOOL_NEXT_EIO) {
			/* the disk failed a read: the same record later */
			t->resume_ms = f->now_ms + BACKOFF_MAX_MS;
			break;
		}
		if (k == 0)
			break;
		e = flow_scan_to(t, r.seq);
		if (e != NULL && e->state != RS_PENDING_FAILED)
			continue; /* delivered, or still in flight */
		if (e == NULL &&
		    r.seq < rs_spool_checkpoint(f->spool, flow_spool_id(f, t)))
			continue; /* retired before a restart */
		rec = flow_record_from_spool(t, &r);
		if (rec == NULL)
			break;
		rc = rs_producer_send(f->producer, rec, &o);
		if (rc == RS_SEND_FULL || rc == RS_SEND_AGAIN) {
			rs_record_free(rec);
			t->cursor.pos = saved_pos;
			t->cursor.last_seq = saved_last;
			t->scan = saved_scan;
			break;
		}
		if (e == NULL) {
			e = flow_pq_push(&t->pending, r.seq, &pos);
			t->scan = t->pending.n;
		}
		e->state = RS_PENDING_INFLIGHT;
		if (rc == RS_SEND_FAILED) {
			e->state = RS_PENDING_DONE;
			flow_finish(f, rec, &o);
			rs_record_release(rec);
			continue;
		}
		rec->in_kafka = 1;
		rec->read_ms = f->now_ms; /* when it went to librdkafka */
		rec->list = RS_LIST_REPLAY;
		TAILQ_INSERT_TAIL(&t->replaying, rec, tentry);
		rec->possible_dup = e->possible_dup;
		t->replay_inflight++;
		t->replay_bytes += rec->size;
		t->replayed++;
		f->replayed++;
		n++;
	}
	flow_retire(f, t);
	if (k == 0)
		flow_maybe_direct(t);
	return n;
}

/* A reload changed the topic's acks. Its records in librdkafka were sent
 * under the old acks (their reports read it) and per-key order holds only
 * within one producer, so the switch waits until none is left; records
 * meanwhile wait in the hold list, or in the spool. */
static void flow_switch_acks(struct rs_flow *f, struct rs_topic *t)
{
	enum rs_acks from = t->acks, to = (enum rs_acks)t->acks_next;
	char err[300];

	t->acks_next = -1;
	if (rs_producer_topic_acks(f->producer, t, to, err, sizeof(err)) < 0) {
		log_warnx("topic %s: cannot change acks to %s (%s); it stays "
			  "acks=%s",
			  t->name, rs_acks_name(to), err, rs_acks_name(from));
		return;
	}
	log_notice("topic %s: acks=%s now (was %s)", t->name, rs_acks_name(to),
		   rs_acks_name(from));
}

static int flow_topic_idle(const struct rs_topic *t)
{
	return t->mode == RS_MODE_DIRECT && t->acks_next < 0 &&
	       TAILQ_EMPTY(&t->direct) && TAILQ_EMPTY(&t->hold) &&
	       TAILQ_EMPTY(&t->replaying) && t->pending.n == 0;
}

unsigned int rs_flow_pass(struct rs_flow *f)
{
	struct rs_topic *t, *next;
	unsigned int work = 0;
	int purged[RS_ACKS_N] = { 0 };

	f->now_ms = rs_coarse_ms();
	f->shadow_budget = SHADOW_BUDGET; /* for this pass and the next drain */
	(void)rs_spool_commit(f->spool);
	flow_take_committed(f);
	for (t = TAILQ_FIRST(&f->busy); t != NULL; t = next) {
		const char *why;

		next = TAILQ_NEXT(t, busy_entry);
		if (!purged[t->acks] && flow_near_timeout(f, t)) {
			flow_purge_class(f, t->acks);
			purged[t->acks] = 1;
		}
		if (t->mode == RS_MODE_DIRECT && flow_over_backlog(f, t, &why))
			(void)flow_to_spooled(f, t, why);
		if (t->acks_next >= 0 && t->inflight == 0)
			flow_switch_acks(f, t);
		work += flow_drain_hold(f, t);
		work += flow_replay(f, t);
		if (t->mode == RS_MODE_SPOOLED || t->pending.n > 0)
			flow_retire(f, t);
		if (t->draining && t->mode == RS_MODE_DIRECT &&
		    t->pending.n == 0) {
			t->draining = 0;
			log_notice("topic %s: spool drained; every record it "
				   "held is delivered",
				   t->name);
		}
		if (flow_topic_idle(t)) {
			TAILQ_REMOVE(&f->busy, t, busy_entry);
			t->busy = 0;
		}
	}
	/* what this pass appended (held records, shadows) */
	(void)rs_spool_commit(f->spool);
	flow_take_committed(f);
	return work;
}

void rs_flow_tick(struct rs_flow *f)
{
	rs_spool_tick(f->spool, rs_coarse_ms());
	flow_take_committed(f); /* an interval sync, or a successful retry */
}

void rs_flow_recovered(struct rs_flow *f, struct rs_topic *t,
		       const struct rs_spool_pos *first)
{
	rs_spool_cursor_init(&t->cursor, flow_spool_id(f, t), first, 0);
	t->scan = 0;
	t->mode = RS_MODE_SPOOLED;
	/* the sessions handed back resume within a second (the library
	 * retries every 50 ms to 1 s): a record replayed before its session
	 * is back has nobody to take its final report (a CI run of
	 * send_word under ASan: 12,288 lines left "in the spool") */
	t->resume_ms = rs_coarse_ms() + RECOVER_GRACE_MS;
	flow_mark_busy(f, t);
}

void rs_flow_topic_changed(struct rs_flow *f, struct rs_topic *t,
			   int was_write_ahead)
{
	flow_mark_busy(f, t);
	if (t->write_ahead && !was_write_ahead &&
	    flow_spool_topic(f, t, "write_ahead set by a reload", 0, 1) < 0) {
		log_warnx("topic %s: write_ahead not applied: the spool "
			  "cannot take records now",
			  t->name);
		t->write_ahead = 0;
	}
	if (t->acks_next >= 0 && t->inflight == 0)
		flow_switch_acks(f, t);
}

void rs_flow_refuse(struct rs_flow *f, struct rs_record *rec, int status)
{
	rec->rseq = ++f->rseq;
	flow_fail(f, rec, status);
	rs_record_release(rec);
}

void rs_flow_orphaned(struct rs_flow *f, struct rs_record *rec)
{
	rec->orphan = 1;
	flow_shadow_orphan(f, rec);
}

void rs_flow_producer_failed(struct rs_flow *f, enum rs_acks acks)
{
	struct rs_topic *t;

	/* the failed instance's records come back as retriable reports and
	 * are sent again from the spool, oldest first; until then nothing
	 * of their topics may go to the new instance directly */
	TAILQ_FOREACH (t, &f->busy, busy_entry) {
		if (t->acks != acks || t->inflight == 0)
			continue;
		t->fence = 1;
		if (!TAILQ_EMPTY(&t->direct))
			(void)flow_to_spooled(f, t, "its producer failed");
		/* replay stops too: the cursor is past the failed instance's
		 * records, and the new one would deliver younger records of
		 * their keys before they come back (seen in CI: 2 per-key
		 * order violations when the producer died mid-replay); it
		 * starts again from the oldest failed one once every replayed
		 * record in flight has reported */
		if (t->mode == RS_MODE_SPOOLED)
			t->rewind = 1;
	}
}

void rs_flow_stop(struct rs_flow *f)
{
	f->stopping = 1;
}

/* 1 if oldest, t's oldest record in motion, has waited in librdkafka (or
 * for room in it) RELIEVE_AGE_MS or more and t has delivered nothing for
 * as long: an outage for t, not a client faster than Kafka. */
static int flow_stalled(const struct rs_flow *f, const struct rs_topic *t,
			const struct rs_record *oldest)
{
	/* records still being delivered: Kafka is only slower than the
	 * client; the ring's back-pressure is the answer, not the disk */
	if (oldest == NULL || t->mode == RS_MODE_SPOOLED ||
	    f->now_ms - oldest->read_ms < RELIEVE_AGE_MS ||
	    f->now_ms - t->delivered_ms < RELIEVE_AGE_MS)
		return 0;
	/* in librdkafka, or waiting for room in it (not for an acks switch
	 * or a failed producer's last records: those wait for reports) */
	return oldest->list == RS_LIST_DIRECT ||
	       (oldest->list == RS_LIST_HOLD && t->acks_next < 0 && !t->fence);
}

void rs_flow_relieve(struct rs_flow *f, struct rs_record *oldest)
{
	static const char why[] = "a client's ring is half full of records "
				  "waiting for Kafka";
	struct rs_topic *t = oldest->topic, *u, *next;

	if (flow_stalled(f, t, oldest))
		(void)flow_to_spooled(f, t, why);
	/*
	 * A ring holds every topic its client sends to, interleaved. Every
	 * other topic as stalled spills now too: one at a time, each when
	 * its record became the ring's oldest, a second topic waited until
	 * the first one's records were committed to the spool, and under CPU
	 * contention the rings filled meanwhile (an outage test run beside two
	 * busy loops: the second topic spilled 6 s after the first).
	 */
	for (u = TAILQ_FIRST(&f->busy); u != NULL; u = next) {
		const struct rs_record *first = TAILQ_FIRST(&u->direct);

		next = TAILQ_NEXT(u, busy_entry);
		if (first == NULL)
			first = TAILQ_FIRST(&u->hold);
		if (u != t && flow_stalled(f, u, first))
			(void)flow_to_spooled(f, u, why);
	}
}

void rs_flow_spill_inflight(struct rs_flow *f)
{
	struct rs_topic *t;

	TAILQ_FOREACH (t, &f->busy, busy_entry) {
		if (!TAILQ_EMPTY(&t->direct) &&
		    flow_spool_topic(f, t, "shutting down", 0, 1) < 0)
			log_warnx("topic %s: the spool cannot take the %llu "
				  "records still in librdkafka",
				  t->name, (unsigned long long)t->inflight);
	}
	(void)rs_spool_commit(f->spool);
	flow_take_committed(f);
}

int rs_flow_topic_idle(const struct rs_topic *t)
{
	return !t->busy && flow_topic_idle(t) && t->inflight == 0 && !t->fence;
}

int rs_flow_settled(const struct rs_flow *f)
{
	return f->held == 0 && TAILQ_EMPTY(&f->wait);
}

int rs_flow_busy(const struct rs_flow *f)
{
	return !TAILQ_EMPTY(&f->busy) || !TAILQ_EMPTY(&f->wait);
}

void rs_flow_stats(const struct rs_flow *f, struct rs_flow_stats *st)
{
	const struct rs_topic *t;

	memset(st, 0, sizeof(*st));
	st->held = f->held;
	st->spilled = f->spilled;
	st->replayed = f->replayed;
	st->possible_dups = f->possible_dups;
	TAILQ_FOREACH (t, &f->busy, busy_entry)
		st->topics_spooled += t->mode == RS_MODE_SPOOLED;
}
