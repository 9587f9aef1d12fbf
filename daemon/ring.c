/* SPDX-License-Identifier: MIT */
/*
 * ring.c: reads client rings. Every value read from shared memory is read
 * once and bounds-checked here; nothing outside this file touches ring
 * memory. The client can change any byte at any moment: callers get either
 * a frame size that fits the ring, or a violation.
 */
#include <string.h>

#include "ring.h"

void rs_ring_init(struct rs_ring *r, const struct rs_shm *shm)
{
	memset(r, 0, sizeof(*r));
	r->hdr = shm->hdr;
	r->bitmap = shm->bitmap;
	r->ring = shm->ring;
	r->size = shm->ring_size;
	r->mask = shm->ring_size - 1;
	r->max_frame = shm->max_frame;
	r->oversize_frame = shm->max_frame;
}

void rs_ring_allow_oversize(struct rs_ring *r)
{
	r->oversize_frame = r->size / 2;
}

static int ring_violation(const char **why, const char *reason)
{
	*why = reason;
	return RS_RING_VIOLATION;
}

static int ring_refresh_tail(struct rs_ring *r, const char **why)
{
	/* pairs with the clients' CAS on tail in send.c; the frame's own
	 * contents are ordered by the commit bit, not by tail */
	uint64_t tail = rs_load_acquire(&r->hdr->tail);

	if (tail < r->tail)
		return ring_violation(why, "tail moved backwards");
	if (tail - r->release > r->size)
		return ring_violation(why, "tail overran the released space");
	if (tail % 8 != 0)
		return ring_violation(why, "tail not 8-byte aligned");
	r->tail = tail;
	return 0;
}

static int ring_committed(const struct rs_ring *r, uint64_t off, int memorder)
{
	return (__atomic_load_n(&r->bitmap[ringside_bit_word(off)], memorder) &
		ringside_bit_mask(off)) != 0;
}

int rs_ring_peek(struct rs_ring *r, uint32_t *sizep, const char **why)
{
	uint64_t off = r->head & r->mask;
	uint64_t word;
	uint32_t size;
	uint16_t type;

	if (r->head == r->tail && ring_refresh_tail(r, why) < 0)
		return RS_RING_VIOLATION;
	if (r->head == r->tail)
		return RS_RING_EMPTY;
	/* pairs with the release fetch_or that commits the frame in send.c */
	if (!ring_committed(r, off, __ATOMIC_ACQUIRE))
		return RS_RING_EMPTY;
	/* size and type in one read: the client cannot make them disagree */
	word = rs_load_relaxed((const uint64_t *)(r->ring + off));
	size = (uint32_t)word;
	type = (uint16_t)(word >> 32);
	if (size < 8 || size % 8 != 0)
		return ring_violation(
			why, "frame size not a positive multiple of 8");
	if (size > r->size - off)
		return ring_violation(why,
				      "frame straddles the end of the ring");
	if (size > r->tail - r->head)
		return ring_violation(why, "frame runs past tail");
	if (type == RINGSIDE_FRAME_PAD) {
		if (size != r->size - off)
			return ring_violation(why,
					      "padding does not reach the end");
		*sizep = size;
		return RS_RING_PAD;
	}
	if (type != RINGSIDE_FRAME_RECORD)
		return ring_violation(why, "unknown frame type");
	if (size < sizeof(struct ringside_frame))
		return ring_violation(why,
				      "record frame shorter than its header");
	*sizep = size;
	if (size > r->max_frame) {
		if (size > r->oversize_frame)
			return ring_violation(
				why, "record frame larger than max_frame");
		return RS_RING_OVERSIZE;
	}
	return RS_RING_RECORD;
}

void rs_ring_copy(const struct rs_ring *r, void *dst, uint32_t size)
{
	memcpy(dst, r->ring + (r->head & r->mask), size);
}

void rs_ring_advance(struct rs_ring *r, uint32_t size)
{
	r->head += size;
	rs_store_relaxed(&r->hdr->head, r->head);
}

static void ring_clear_bits(struct rs_ring *r, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t off = from & r->mask;
		uint64_t bit = (off >> 3) & 63U;
		uint64_t slots = 64U - bit;
		uint64_t *word = &r->bitmap[ringside_bit_word(off)];

		if (slots > (to - from) >> 3)
			slots = (to - from) >> 3;
		if (slots == 64)
			rs_store_relaxed(word, 0);
		else
			rs_fetch_and_relaxed(
				word, ~((((uint64_t)1 << slots) - 1) << bit));
		from += slots << 3;
	}
}

void rs_ring_release(struct rs_ring *r, uint64_t pos)
{
	if (pos <= r->release)
		return;
	/* a daemon killed from here on leaves release_to for the next one
	 * (rs_ring_resume): the bits may be half cleared */
	rs_store_release(&r->hdr->release_to, pos);
	ring_clear_bits(r, r->release, pos);
	r->release = pos;
	/* pairs with the acquire load of release in send.c's reserve(): the
	 * cleared bits are visible before the space is */
	rs_store_release(&r->hdr->release, pos);
}

int rs_ring_resume(struct rs_ring *r, const char **why)
{
	uint64_t release = rs_load_acquire(&r->hdr->release);
	uint64_t to = rs_load_acquire(&r->hdr->release_to);
	uint64_t tail = rs_load_acquire(&r->hdr->tail);

	if (release % 8 != 0 || tail < release || tail - release > r->size ||
	    tail % 8 != 0)
		return ring_violation(why,
				      "resumed ring: cursors out of range");
	r->release = r->head = r->tail = release;
	if (to > release) {
		/* the last daemon died moving release: finish the move */
		if (to > tail || to % 8 != 0)
			return ring_violation(why,
					      "resumed ring: release_to out of "
					      "range");
		rs_ring_release(r, to);
		r->head = r->tail = to;
	}
	rs_store_relaxed(&r->hdr->head, r->head);
	return 0;
}

int rs_ring_arm(struct rs_ring *r)
{
	uint64_t tail;

	/* Dekker with send.c's ring_doorbell(): this seq_cst flag store, then
	 * the seq_cst load of the commit bit at head */
	rs_fetch_or_seq_cst(&r->hdr->flags, RINGSIDE_F_NEED_WAKEUP);
	r->armed = 1;
	tail = rs_load_seq_cst(&r->hdr->tail);
	if (tail == r->head)
		return 0;
	return ring_committed(r, r->head & r->mask, __ATOMIC_SEQ_CST);
}

void rs_ring_disarm(struct rs_ring *r)
{
	if (!r->armed)
		return;
	rs_fetch_and_seq_cst(&r->hdr->flags, ~RINGSIDE_F_NEED_WAKEUP);
	r->armed = 0;
}

uint64_t rs_ring_skip_gap(struct rs_ring *r)
{
	const char *why;
	uint64_t pos = r->head, start = r->head;

	if (ring_refresh_tail(r, &why) < 0)
		return 0;
	while (pos < r->tail) {
		uint64_t off = pos & r->mask;
		uint64_t bit = (off >> 3) & 63U;
		uint64_t w =
			rs_load_acquire(&r->bitmap[ringside_bit_word(off)]) >>
			bit;

		if (w != 0) {
			pos += (uint64_t)__builtin_ctzll(w) << 3;
			break;
		}
		pos += (64U - bit) << 3;
	}
	if (pos > r->tail)
		pos = r->tail;
	r->head = pos;
	rs_store_relaxed(&r->hdr->head, r->head);
	return pos - start;
}

int rs_ring_unread(const struct rs_ring *r)
{
	return r->head < r->tail;
}

uint64_t rs_ring_snapshot_tail(struct rs_ring *r)
{
	const char *why;

	if (ring_refresh_tail(r, &why) < 0)
		return r->head;
	return r->tail;
}
