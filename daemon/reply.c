/* SPDX-License-Identifier: MIT */
/*
 * reply.c: writes reports into a session's reply ring. The client's head is
 * the only value read from shared memory here, read once per check and
 * validated against what the daemon knows.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "reply.h"

void rs_reply_init(struct rs_reply *r, const struct rs_shm *shm,
		   uint32_t backlog_cap, int wake_fd)
{
	memset(r, 0, sizeof(*r));
	r->hdr = shm->hdr;
	r->slots = shm->reply;
	r->mask = shm->reply_slots - 1;
	r->backlog_cap = backlog_cap;
	r->wake_fd = wake_fd;
}

int rs_reply_resume(struct rs_reply *r)
{
	uint64_t tail = rs_load_acquire(&r->hdr->reply_tail);
	uint64_t head = rs_load_acquire(&r->hdr->reply_head);

	if (head > tail || tail - head > (uint64_t)r->mask + 1)
		return -1;
	r->tail = r->published = tail;
	r->head = head;
	return 0;
}

void rs_reply_free(struct rs_reply *r)
{
	free(r->backlog);
	r->backlog = NULL;
	r->backlog_len = 0;
}

static int reply_refresh_head(struct rs_reply *r, const char **why)
{
	/* pairs with the client's release store of reply_head in poll.c */
	uint64_t head = rs_load_acquire(&r->hdr->reply_head);

	if (head < r->head || head > r->published) {
		*why = "reply head out of range";
		return -1;
	}
	r->head = head;
	return 0;
}

static uint64_t reply_room(const struct rs_reply *r)
{
	return (uint64_t)r->mask + 1 - (r->tail - r->head);
}

static int reply_backlog_add(struct rs_reply *r,
			     const struct ringside_reply_slot *s)
{
	if (r->backlog_len == r->backlog_cap)
		return -1;
	if (r->backlog_len == r->backlog_alloc) {
		uint32_t n = r->backlog_alloc ? r->backlog_alloc * 2 : 256;
		struct ringside_reply_slot *b;

		if (n > r->backlog_cap)
			n = r->backlog_cap;
		b = malloc((size_t)n * sizeof(*b));
		if (b == NULL)
			return -1;
		/* unwrap the circular buffer into the new one */
		for (uint32_t i = 0; i < r->backlog_len; i++)
			b[i] = r->backlog[(r->backlog_first + i) %
					  r->backlog_alloc];
		free(r->backlog);
		r->backlog = b;
		r->backlog_alloc = n;
		r->backlog_first = 0;
	}
	r->backlog[(r->backlog_first + r->backlog_len) % r->backlog_alloc] = *s;
	r->backlog_len++;
	rs_store_relaxed(&r->hdr->reports_backlog, r->backlog_len);
	return 0;
}

void rs_reply_drop(struct rs_reply *r)
{
	r->dropped++;
	rs_store_relaxed(&r->hdr->reports_dropped, r->dropped);
}

static void reply_write_slot(struct rs_reply *r,
			     const struct ringside_reply_slot *s)
{
	r->slots[r->tail & r->mask] = *s;
	r->tail++;
}

int rs_reply_push(struct rs_reply *r, const struct ringside_reply_slot *s,
		  const char **why)
{
	if (r->backlog_len == 0) {
		if (reply_room(r) == 0 && reply_refresh_head(r, why) < 0)
			return -1;
		if (reply_room(r) > 0) {
			reply_write_slot(r, s);
			return 0;
		}
	}
	if (reply_backlog_add(r, s) < 0)
		rs_reply_drop(r);
	return 0;
}

int rs_reply_flush(struct rs_reply *r, const char **why)
{
	if (r->backlog_len > 0) {
		if (reply_refresh_head(r, why) < 0)
			return -1;
		while (r->backlog_len > 0 && reply_room(r) > 0) {
			reply_write_slot(r, &r->backlog[r->backlog_first]);
			r->backlog_first =
				(r->backlog_first + 1) % r->backlog_alloc;
			r->backlog_len--;
		}
		rs_store_relaxed(&r->hdr->reports_backlog, r->backlog_len);
	}
	if (r->tail == r->published)
		return 0;
	/* pairs with the acquire load of reply_tail in poll.c; seq_cst for
	 * the Dekker pair with the client's flag store and tail load */
	rs_store_seq_cst(&r->hdr->reply_tail, r->tail);
	r->published = r->tail;
	/*
	 * The eventfd is written before the flag is cleared: a client that
	 * sees the flag clear reads the eventfd (poll.c) and must find the
	 * count there to consume. The other order let a client read an
	 * empty eventfd between the two steps; the write that followed left
	 * ringside_fd() readable with nothing to read, and an idle event
	 * loop woke for ever. Two writes before one clear are harmless: one
	 * read consumes both.
	 */
	if (rs_load_seq_cst(&r->hdr->reply_flags) & RINGSIDE_RF_WANT_WAKEUP) {
		(void)eventfd_write(r->wake_fd, 1);
		rs_fetch_and_seq_cst(&r->hdr->reply_flags,
				     ~RINGSIDE_RF_WANT_WAKEUP);
	}
	return 0;
}
