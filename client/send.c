/* SPDX-License-Identifier: MIT */
/*
 * send.c: the hot path. Reserves space in the shared ring with a CAS on
 * tail, writes the frame, and publishes it by setting its commit bit. Never
 * blocks, never sleeps, takes no lock; the only system call is the doorbell,
 * made only when the daemon has said it is asleep, and then by one thread.
 */
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>

#include "internal.h"

/* Bytes a record needs in the ring, or a negative code. */
static int64_t send_frame_bytes(const ringside_record_t *rec, uint32_t *hbytes)
{
	uint64_t h = 0, n;

	if (rec->header_count > RINGSIDE_HEADERS_MAX ||
	    (rec->header_count > 0 && rec->headers == NULL))
		return RINGSIDE_EINVAL;
	for (size_t i = 0; i < rec->header_count; i++) {
		const ringside_header_t *hd = &rec->headers[i];
		size_t nlen;

		if (hd->name == NULL)
			return RINGSIDE_EINVAL;
		nlen = strnlen(hd->name, RINGSIDE_HEADER_NAME_MAX + 1);
		if (nlen == 0 || nlen > RINGSIDE_HEADER_NAME_MAX ||
		    !ringside_utf8_valid(hd->name, nlen))
			return RINGSIDE_EINVAL;
		if (hd->value == NULL && hd->value_len != 0)
			return RINGSIDE_EINVAL;
		if (hd->value_len >= RINGSIDE_NULL_LEN)
			return RINGSIDE_ETOOBIG;
		h += sizeof(struct ringside_wire_header) + nlen + hd->value_len;
	}
	if ((rec->key == NULL && rec->key_len != 0) ||
	    (rec->value == NULL && rec->value_len != 0))
		return RINGSIDE_EINVAL;
	if (rec->key_len >= RINGSIDE_NULL_LEN ||
	    rec->value_len >= RINGSIDE_NULL_LEN || h >= RINGSIDE_NULL_LEN)
		return RINGSIDE_ETOOBIG;
	n = sizeof(struct ringside_frame) + h + rec->key_len + rec->value_len;
	if (n > RINGSIDE_RING_MAX)
		return RINGSIDE_ETOOBIG;
	*hbytes = (uint32_t)h;
	return ringside_align8(n);
}

static void send_commit(struct ringside *rs, uint64_t off, int memorder)
{
	__atomic_fetch_or(&rs->bitmap[ringside_bit_word(off)],
			  ringside_bit_mask(off), memorder);
}

static void send_write_frame(uint8_t *dst, uint32_t size, uint32_t hbytes,
			     const ringside_topic_t *topic,
			     const ringside_record_t *rec)
{
	struct ringside_frame f = {
		.size = size,
		.type = RINGSIDE_FRAME_RECORD,
		.header_count = (uint16_t)rec->header_count,
		.topic = topic->id,
		.partition = (rec->flags & RINGSIDE_REC_PARTITION)
				     ? rec->partition
				     : -1,
		.key_len = rec->key != NULL ? (uint32_t)rec->key_len
					    : RINGSIDE_NULL_LEN,
		.value_len = rec->value != NULL ? (uint32_t)rec->value_len
						: RINGSIDE_NULL_LEN,
		.header_bytes = hbytes,
		.flags = (rec->flags & RINGSIDE_REC_PARTITION)
				 ? RINGSIDE_FRAME_F_PARTITION
				 : 0,
		.timestamp = rec->timestamp,
		.opaque = rec->opaque,
	};
	uint8_t *p = dst + sizeof(f);

	memcpy(dst, &f, sizeof(f));
	for (size_t i = 0; i < rec->header_count; i++) {
		const ringside_header_t *hd = &rec->headers[i];
		struct ringside_wire_header wh = {
			.name_len = (uint16_t)strlen(hd->name),
			.value_len = hd->value != NULL ? (uint32_t)hd->value_len
						       : RINGSIDE_NULL_LEN,
		};

		memcpy(p, &wh, sizeof(wh));
		p += sizeof(wh);
		memcpy(p, hd->name, wh.name_len);
		p += wh.name_len;
		if (hd->value_len > 0)
			memcpy(p, hd->value, hd->value_len);
		p += hd->value_len;
	}
	if (rec->key_len > 0)
		memcpy(p, rec->key, rec->key_len);
	p += rec->key_len;
	if (rec->value_len > 0)
		memcpy(p, rec->value, rec->value_len);
}

/* Whether the ring has room up to end for a writer that read *tail: 0,
 * RINGSIDE_EFULL, RINGSIDE_EPROTO, or 1 when *tail was stale (it is read
 * again: lay the frames out anew). */
static int send_room_to(struct ringside *rs, uint64_t *tail, uint64_t end)
{
	/* pairs with the release store below */
	uint64_t rel = rs_load_acquire(&rs->cached_release);

	if (end - rel <= rs->ring_size)
		return 0;
	/* pairs with the release store of release in the daemon's ring.c,
	 * after it cleared the commit bits */
	rel = rs_load_acquire(&rs->shm->release);
	if (rel > *tail) {
		/* our tail is older than the daemon's release */
		uint64_t now = rs_load_relaxed(&rs->shm->tail);

		if (now == *tail)
			return RINGSIDE_EPROTO;
		*tail = now;
		return 1;
	}
	if (end - rel > rs->ring_size)
		return RINGSIDE_EFULL;
	rs_store_release(&rs->cached_release, rel);
	return 0;
}

/* The padding a frame of size bytes at ring position pos needs first: the
 * rest of the ring when it would wrap, else 0. */
static uint32_t send_pad_at(const struct ringside *rs, uint64_t pos,
			    uint32_t size)
{
	uint64_t off = pos & rs->ring_mask;

	return off + size > rs->ring_size ? (uint32_t)(rs->ring_size - off) : 0;
}

/* Claims [tail, end) for pad + size bytes, or fails with RINGSIDE_EFULL. */
static int send_reserve(struct ringside *rs, uint32_t size, uint64_t *startp,
			uint32_t *padp)
{
	uint64_t tail = rs_load_relaxed(&rs->shm->tail);

	for (;;) {
		uint32_t pad = send_pad_at(rs, tail, size);
		uint64_t end = tail + pad + size;
		int k = send_room_to(rs, &tail, end);

		if (k == 1)
			continue;
		if (k < 0)
			return k;
		if (rs_cas_weak_relaxed(&rs->shm->tail, &tail, end)) {
			*startp = tail;
			*padp = pad;
			return 0;
		}
	}
}

static void send_ring_doorbell(struct ringside *rs)
{
	/* Dekker with the daemon's arm in ring.c: our seq_cst commit then
	 * this load; its seq_cst flag store then its load of our bit. */
	if (!(rs_load_seq_cst(&rs->shm->flags) & RINGSIDE_F_NEED_WAKEUP))
		return;
	if (rs_fetch_and_seq_cst(&rs->shm->flags, ~RINGSIDE_F_NEED_WAKEUP) &
	    RINGSIDE_F_NEED_WAKEUP)
		(void)eventfd_write(rs->doorbell_fd, 1);
}

/* The flags and reserved words of a record: 1 if they are wrong. */
static int send_record_bad(const ringside_record_t *rec)
{
	return (rec->flags & ~RINGSIDE_REC_PARTITION) ||
	       ((rec->flags & RINGSIDE_REC_PARTITION) && rec->partition < 0) ||
	       rec->timestamp < 0 || (rec->resv[0] | rec->resv[1]) != 0;
}

/* A record's frame bytes, or the code it fails with (after send_record_bad()).
 */
static int64_t send_record_frame_bytes(struct ringside *rs,
				       const ringside_record_t *rec,
				       uint32_t *hbytes)
{
	int64_t size;

	*hbytes = 0;
	size = send_frame_bytes(rec, hbytes);
	/* a reconnect may lower it meanwhile (reconnect.c's on_welcome) */
	if (size > 0 && size > rs_load_relaxed(&rs->max_frame))
		return RINGSIDE_ETOOBIG;
	return size;
}

int ringside_sendv(ringside_t *rs, const ringside_topic_t *topic,
		   const ringside_record_t *rec)
{
	uint64_t start, off;
	uint32_t hbytes = 0, pad;
	int64_t size;
	int err;

	if (rs == NULL || topic == NULL || rec == NULL || send_record_bad(rec))
		return RINGSIDE_EINVAL;
	/* while the daemon is away, records still go into the ring: the next
	 * daemon reads them (unless the application opted out) */
	if (rs->shm == NULL ||
	    (rs->no_reconnect && rs_load_relaxed(&rs->disconnected)))
		return RINGSIDE_ENOTCONN;
	size = send_record_frame_bytes(rs, rec, &hbytes);
	if (size < 0)
		return (int)size;
	err = send_reserve(rs, (uint32_t)size, &start, &pad);
	if (err < 0) {
		if (err == RINGSIDE_EFULL)
			rs_add_relaxed(&rs->shm->sends_refused, 1);
		return err;
	}
	off = start & rs->ring_mask;
	if (pad > 0) {
		struct ringside_frame p = { .size = pad,
					    .type = RINGSIDE_FRAME_PAD };

		memcpy(rs->ring + off, &p, 8);
		send_commit(rs, off, __ATOMIC_RELEASE);
		off = 0;
	}
	send_write_frame(rs->ring + off, (uint32_t)size, hbytes, topic, rec);
	send_commit(rs, off, __ATOMIC_SEQ_CST);
	send_ring_doorbell(rs);
	return 0;
}

#define RUN_MAX 64 /* records per reservation in a batch */

/* Claims ring space for the longest prefix of the k frames of size[] that
 * fits, from one tail: returns how many, the first at *startp; 0 and *err
 * when not even the first fits; *err is why the rest did not (0: all
 * fitted). */
static size_t send_reserve_run(struct ringside *rs, const uint32_t *size,
			       size_t k, uint64_t *startp, int *err)
{
	uint64_t tail = rs_load_relaxed(&rs->shm->tail);

	for (;;) {
		uint64_t pos = tail;
		size_t n = 0;
		int why = 0;

		while (n < k) {
			uint64_t end =
				pos + send_pad_at(rs, pos, size[n]) + size[n];

			why = send_room_to(rs, &tail, end);
			if (why != 0)
				break;
			pos = end;
			n++;
		}
		if (why == 1)
			continue; /* tail was stale: lay out again */
		if (n == 0) {
			*err = why;
			return 0;
		}
		if (rs_cas_weak_relaxed(&rs->shm->tail, &tail, pos)) {
			*startp = tail;
			*err = why;
			return n;
		}
	}
}

/* Commit bits, gathered a bitmap word at a time: one atomic OR for every
 * frame that starts in the same 512 bytes. */
struct commit_acc {
	uint64_t word;
	uint64_t mask; /* 0: nothing gathered */
};

static void send_commit_add(struct ringside *rs, struct commit_acc *c,
			    uint64_t off)
{
	uint64_t w = ringside_bit_word(off);

	if (c->mask != 0 && w != c->word) {
		__atomic_fetch_or(&rs->bitmap[c->word], c->mask,
				  __ATOMIC_RELEASE);
		c->mask = 0;
	}
	c->word = w;
	c->mask |= ringside_bit_mask(off);
}

/* Writes the n frames reserved from pos on and publishes them; the last
 * OR is seq_cst, for the doorbell (see send_ring_doorbell()). */
static void send_publish_run(struct ringside *rs, const ringside_topic_t *topic,
			     const ringside_record_t *recs,
			     const uint32_t *size, const uint32_t *hbytes,
			     size_t n, uint64_t pos)
{
	struct commit_acc c = { 0, 0 };

	for (size_t i = 0; i < n; i++) {
		uint32_t pad = send_pad_at(rs, pos, size[i]);
		uint64_t off = pos & rs->ring_mask;

		if (pad > 0) {
			struct ringside_frame p = {
				.size = pad,
				.type = RINGSIDE_FRAME_PAD,
			};

			memcpy(rs->ring + off, &p, 8);
			send_commit_add(rs, &c, off);
			pos += pad;
			off = 0;
		}
		send_write_frame(rs->ring + off, size[i], hbytes[i], topic,
				 &recs[i]);
		send_commit_add(rs, &c, off);
		pos += size[i];
	}
	__atomic_fetch_or(&rs->bitmap[c.word], c.mask, __ATOMIC_SEQ_CST);
}

int ringside_send_batch(ringside_t *rs, const ringside_topic_t *topic,
			const ringside_record_t *records, size_t n,
			size_t *sent)
{
	size_t done = 0;
	int err = 0;

	if (sent != NULL)
		*sent = 0;
	if (rs == NULL || topic == NULL || (records == NULL && n > 0))
		return RINGSIDE_EINVAL;
	if (rs->shm == NULL ||
	    (rs->no_reconnect && rs_load_relaxed(&rs->disconnected)))
		return RINGSIDE_ENOTCONN;
	while (done < n && err == 0) {
		/* zeroed: the analyzer cannot see that only [0, k) is read */
		uint32_t size[RUN_MAX] = { 0 }, hbytes[RUN_MAX] = { 0 };
		uint64_t start;
		size_t k = 0, got;
		int bad = 0;

		/* the run: up to the first bad record */
		for (; k < RUN_MAX && done + k < n; k++) {
			const ringside_record_t *rec = &records[done + k];
			int64_t sz = send_record_bad(rec)
					     ? RINGSIDE_EINVAL
					     : send_record_frame_bytes(
						       rs, rec, &hbytes[k]);

			if (sz < 0) {
				bad = (int)sz;
				break;
			}
			size[k] = (uint32_t)sz;
		}
		got = k > 0 ? send_reserve_run(rs, size, k, &start, &err) : 0;
		if (got > 0) {
			send_publish_run(rs, topic, records + done, size,
					 hbytes, got, start);
			done += got;
		}
		/* a record that did not fit stops the batch before a bad one
		 * after it: err is about the first record not accepted */
		if (err == 0 && got == k)
			err = bad;
	}
	if (done > 0)
		send_ring_doorbell(rs);
	if (err == RINGSIDE_EFULL)
		rs_add_relaxed(&rs->shm->sends_refused, n - done);
	if (sent != NULL)
		*sent = done;
	return err;
}

int ringside_send(ringside_t *rs, const ringside_topic_t *topic,
		  const void *key, size_t key_len, const void *value,
		  size_t value_len, uint64_t opaque)
{
	ringside_record_t rec = {
		.key = key,
		.key_len = key_len,
		.value = value,
		.value_len = value_len,
		.opaque = opaque,
	};

	return ringside_sendv(rs, topic, &rec);
}
