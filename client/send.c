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
static int64_t frame_bytes(const ringside_record_t *rec, uint32_t *hbytes)
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

static void commit(struct ringside *rs, uint64_t off, int memorder)
{
	__atomic_fetch_or(&rs->bitmap[ringside_bit_word(off)],
			  ringside_bit_mask(off), memorder);
}

static void write_frame(uint8_t *dst, uint32_t size, uint32_t hbytes,
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

/* Claims [tail, end) for pad + size bytes, or fails with RINGSIDE_EFULL. */
static int reserve(struct ringside *rs, uint32_t size, uint64_t *startp,
		   uint32_t *padp)
{
	uint64_t tail = rs_load_relaxed(&rs->shm->tail);

	for (;;) {
		uint64_t off = tail & rs->ring_mask;
		uint32_t pad = off + size > rs->ring_size
				       ? (uint32_t)(rs->ring_size - off)
				       : 0;
		uint64_t end = tail + pad + size;
		/* pairs with the release store below */
		uint64_t rel = rs_load_acquire(&rs->cached_release);

		if (end - rel > rs->ring_size) {
			/* pairs with the release store of release in the
			 * daemon's ring.c, after it cleared the commit bits */
			rel = rs_load_acquire(&rs->shm->release);
			if (rel > tail) {
				/* our tail is older than the daemon's release
				 */
				uint64_t now = rs_load_relaxed(&rs->shm->tail);

				if (now == tail)
					return RINGSIDE_EPROTO;
				tail = now;
				continue;
			}
			if (end - rel > rs->ring_size)
				return RINGSIDE_EFULL;
			rs_store_release(&rs->cached_release, rel);
		}
		if (rs_cas_weak_relaxed(&rs->shm->tail, &tail, end)) {
			*startp = tail;
			*padp = pad;
			return 0;
		}
	}
}

static void ring_doorbell(struct ringside *rs)
{
	/* Dekker with the daemon's arm in ring.c: our seq_cst commit then
	 * this load; its seq_cst flag store then its load of our bit. */
	if (!(rs_load_seq_cst(&rs->shm->flags) & RINGSIDE_F_NEED_WAKEUP))
		return;
	if (rs_fetch_and_seq_cst(&rs->shm->flags, ~RINGSIDE_F_NEED_WAKEUP) &
	    RINGSIDE_F_NEED_WAKEUP)
		(void)eventfd_write(rs->doorbell_fd, 1);
}

int ringside_sendv(ringside_t *rs, const ringside_topic_t *topic,
		   const ringside_record_t *rec)
{
	uint64_t start, off;
	uint32_t hbytes = 0, pad;
	int64_t size;
	int err;

	if (rs == NULL || topic == NULL || rec == NULL ||
	    (rec->flags & ~RINGSIDE_REC_PARTITION) ||
	    ((rec->flags & RINGSIDE_REC_PARTITION) && rec->partition < 0) ||
	    rec->timestamp < 0 || (rec->resv[0] | rec->resv[1]) != 0)
		return RINGSIDE_EINVAL;
	/* while the daemon is away, records still go into the ring: the next
	 * daemon reads them (unless the application opted out) */
	if (rs->shm == NULL ||
	    (rs->no_reconnect && rs_load_relaxed(&rs->disconnected)))
		return RINGSIDE_ENOTCONN;
	size = frame_bytes(rec, &hbytes);
	if (size < 0)
		return (int)size;
	/* a reconnect may lower it meanwhile (reconnect.c's on_welcome) */
	if (size > rs_load_relaxed(&rs->max_frame))
		return RINGSIDE_ETOOBIG;
	err = reserve(rs, (uint32_t)size, &start, &pad);
	if (err < 0)
		return err;
	off = start & rs->ring_mask;
	if (pad > 0) {
		struct ringside_frame p = { .size = pad,
					    .type = RINGSIDE_FRAME_PAD };

		memcpy(rs->ring + off, &p, 8);
		commit(rs, off, __ATOMIC_RELEASE);
		off = 0;
	}
	write_frame(rs->ring + off, (uint32_t)size, hbytes, topic, rec);
	commit(rs, off, __ATOMIC_SEQ_CST);
	ring_doorbell(rs);
	return 0;
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
