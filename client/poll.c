/* SPDX-License-Identifier: MIT */
/*
 * poll.c: reads reports from the reply ring. One thread at a time (a
 * try-lock; a second caller gets 0 at once). No system call while reports
 * flow: the reply eventfd is read only after the daemon has written it, and
 * the liveness check on the socket runs at most every 100 ms when idle.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define LIVENESS_INTERVAL_MS 100

static int64_t poll_coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const ringside_topic_t *poll_topic_by_id(struct ringside *rs,
						uint32_t id)
{
	/* pairs with the release store in ringside_topic() */
	uint32_t n = rs_load_acquire(&rs->ntopics);

	return id < n ? rs->topics[id] : NULL;
}

static void poll_to_report(struct ringside *rs,
			   const struct ringside_reply_slot *s,
			   ringside_report_t *r)
{
	r->opaque = s->opaque;
	r->status = s->status;
	r->kafka_error = s->kafka_error;
	r->persistence = s->persistence <= RINGSIDE_PERSISTED
				 ? (ringside_persistence_t)s->persistence
				 : RINGSIDE_NOT_PERSISTED;
	r->stage = s->stage <= RINGSIDE_STAGE_SPOOLED
			   ? (ringside_stage_t)s->stage
			   : RINGSIDE_STAGE_FAILED;
	r->topic = poll_topic_by_id(rs, s->topic);
	r->partition = s->partition;
	r->offset = s->offset;
	r->timestamp = s->timestamp;
}

/* Delivers what the reply ring holds. */
static int poll_deliver(struct ringside *rs, ringside_report_cb cb, void *ctx)
{
	/* pairs with the daemon's release store of reply_tail in reply.c */
	uint64_t tail = rs_load_acquire(&rs->shm->reply_tail);
	uint64_t head = rs->reply_head;
	int n = 0;

	if (tail < head || tail - head > rs->reply_mask + 1ULL)
		return RINGSIDE_EPROTO;
	while (head < tail) {
		struct ringside_reply_slot slot;
		ringside_report_t r;

		memcpy(&slot, &rs->reply[head & rs->reply_mask], sizeof(slot));
		head++;
		/* free the slot before the callback: it may be slow */
		rs_store_release(&rs->shm->reply_head, head);
		rs->reply_head = head;
		poll_to_report(rs, &slot, &r);
		cb(&r, ctx);
		n++;
	}
	return n;
}

/* Nothing waited: ask to be woken, and now and then check the daemon is
 * still there. Returns 1 if reports arrived meanwhile. */
static int poll_idle(struct ringside *rs)
{
	int64_t now;

	if (!rs->reply_armed) {
		rs_fetch_or_seq_cst(&rs->shm->reply_flags,
				    RINGSIDE_RF_WANT_WAKEUP);
		rs->reply_armed = 1;
		/* Dekker with the daemon: its tail store, then its load of
		 * our flag */
		if (rs_load_seq_cst(&rs->shm->reply_tail) != rs->reply_head)
			return 1;
	}
	if (rs_load_relaxed(&rs->disconnected))
		return rs->no_reconnect ? RINGSIDE_ENOTCONN : 0;
	now = poll_coarse_ms();
	if (now < rs->next_liveness_ms)
		return 0;
	rs->next_liveness_ms = now + LIVENESS_INTERVAL_MS;
	if (rs_conn_alive(rs->sock))
		return 0;
	if (rs->no_reconnect)
		rs_store_release(&rs->disconnected, 1);
	else
		rs_reconnect_lost(rs);
	/* the daemon may have written reports just before it went */
	if (rs_load_acquire(&rs->shm->reply_tail) != rs->reply_head)
		return 1;
	return rs->no_reconnect ? RINGSIDE_ENOTCONN : 0;
}

int ringside_poll(ringside_t *rs, ringside_report_cb cb, void *ctx)
{
	int n;

	if (rs == NULL || cb == NULL)
		return RINGSIDE_EINVAL;
	if (rs->shm == NULL)
		return RINGSIDE_ENOTCONN;
	if (rs_exchange_acquire(&rs->poll_busy, 1))
		return 0;
	if (rs->conn_state != RS_CONN_UP && !rs->no_reconnect)
		(void)rs_reconnect_step(rs);
	if (rs->reply_armed && !(rs_load_acquire(&rs->shm->reply_flags) &
				 RINGSIDE_RF_WANT_WAKEUP)) {
		eventfd_t v;

		/* the daemon took the flag: it wrote, or will write, the
		 * eventfd once; consume it so the fd stops being readable */
		(void)eventfd_read(rs->reply_fd, &v);
		rs->reply_armed = 0;
	}
	n = poll_deliver(rs, cb, ctx);
	if (n == 0) {
		n = poll_idle(rs);
		if (n == 1)
			n = poll_deliver(rs, cb, ctx);
	}
	rs_store_release(&rs->poll_busy, 0);
	return n;
}
