/* SPDX-License-Identifier: MIT */
/*
 * segment.c: encodes and decodes spool records and segment headers. Pure
 * functions on memory: spool files are untrusted input at start-up (a torn
 * write, a flipped bit, a file that is not ours), so decoding checks every
 * length against the bytes actually there before it believes it. The
 * spool's fuzz target calls rs_srec_decode() directly.
 */
#include <string.h>

#include "client/ringside_proto.h"
#include "crc32c.h"
#include "frame.h"
#include "segment.h"

static uint64_t segment_opt_len(uint32_t len)
{
	return len == RINGSIDE_NULL_LEN ? 0 : len;
}

uint32_t rs_srec_size(const struct rs_srec_in *in)
{
	return (uint32_t)ringside_align8(
		sizeof(struct rs_srec_hdr) + in->topic_len + in->header_bytes +
		segment_opt_len(in->key_len) + segment_opt_len(in->value_len));
}

void rs_srec_encode(const struct rs_srec_in *in, uint64_t seq, void *dst)
{
	struct rs_srec_hdr h = {
		.size = rs_srec_size(in),
		.seq = seq,
		.session_id = in->session_id,
		.opaque = in->opaque,
		.timestamp = in->timestamp,
		.partition = in->partition,
		.topic_len = in->topic_len,
		.header_count = in->header_count,
		.key_len = in->key_len,
		.value_len = in->value_len,
		.header_bytes = in->header_bytes,
		.flags = in->partition >= 0 ? RS_SREC_F_PARTITION : 0,
	};
	uint8_t *p = (uint8_t *)dst + sizeof(h);
	uint8_t *end = (uint8_t *)dst + h.size;

	memcpy(p, in->topic, in->topic_len);
	p += in->topic_len;
	if (in->header_bytes > 0)
		memcpy(p, in->headers, in->header_bytes);
	p += in->header_bytes;
	if (segment_opt_len(in->key_len) > 0)
		memcpy(p, in->key, in->key_len);
	p += segment_opt_len(in->key_len);
	if (segment_opt_len(in->value_len) > 0)
		memcpy(p, in->value, in->value_len);
	p += segment_opt_len(in->value_len);
	memset(p, 0, (size_t)(end - p));
	memcpy(dst, &h, sizeof(h));
	h.crc = rs_crc32c(0, (const uint8_t *)dst + 8, h.size - 8);
	memcpy((uint8_t *)dst + 4, &h.crc, sizeof(h.crc));
}

static int segment_bad(const char **why, const char *reason)
{
	*why = reason;
	return RS_SREC_BAD;
}

static int segment_is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

int rs_srec_decode(const void *buf, size_t len, uint32_t max_size,
		   struct rs_srec *out, const char **why)
{
	const uint8_t *p = buf;
	struct rs_srec_hdr h;
	uint64_t need;

	if (len == 0)
		return RS_SREC_END;
	if (len < sizeof(h)) {
		if (segment_is_zero(p, len))
			return RS_SREC_END;
		*why = "record header cut short";
		return RS_SREC_SHORT;
	}
	memcpy(&h, p, sizeof(h));
	if (h.size == 0 && segment_is_zero(p, sizeof(h)))
		return RS_SREC_END; /* space allocated, never written */
	if (h.size < sizeof(h) || h.size % 8 != 0 || h.size > max_size)
		return segment_bad(why, "record size invalid");
	if (h.size > len) {
		*why = "record runs past the end of the file";
		return RS_SREC_SHORT;
	}
	if (rs_crc32c(0, p + 8, h.size - 8) != h.crc)
		return segment_bad(why, "record CRC mismatch");
	if (h.flags & ~RS_SREC_F_ALL)
		return segment_bad(why, "unknown record flags");
	if (h.flags & RS_SREC_F_HOLE) {
		if (h.flags != RS_SREC_F_HOLE || h.seq != 0)
			return segment_bad(why, "hole with record fields");
		out->size = h.size;
		return RS_SREC_HOLE;
	}
	if ((h.flags & RS_SREC_F_PARTITION) ? h.partition < 0
					    : h.partition != -1)
		return segment_bad(why, "record partition invalid");
	if (h.timestamp < 0 || h.seq == 0)
		return segment_bad(why, "record timestamp or sequence invalid");
	need = sizeof(h) + (uint64_t)h.topic_len + h.header_bytes +
	       segment_opt_len(h.key_len) + segment_opt_len(h.value_len);
	if (ringside_align8(need) != h.size)
		return segment_bad(why,
				   "record lengths do not add up to its size");
	if (!ringside_topic_name_valid((const char *)p + sizeof(h),
				       h.topic_len))
		return segment_bad(why, "record topic name invalid");
	out->size = h.size;
	out->seq = h.seq;
	out->session_id = h.session_id;
	out->opaque = h.opaque;
	out->timestamp = h.timestamp;
	out->partition = h.partition;
	out->flags = h.flags;
	out->topic = (const char *)p + sizeof(h);
	out->topic_len = h.topic_len;
	out->header_count = h.header_count;
	out->headers = p + sizeof(h) + h.topic_len;
	out->header_bytes = h.header_bytes;
	out->key = h.key_len == RINGSIDE_NULL_LEN
			   ? NULL
			   : out->headers + h.header_bytes;
	out->key_len = (uint32_t)segment_opt_len(h.key_len);
	out->value = h.value_len == RINGSIDE_NULL_LEN
			     ? NULL
			     : out->headers + h.header_bytes + out->key_len;
	out->value_len = (uint32_t)segment_opt_len(h.value_len);
	if (rs_headers_check(out->headers, h.header_bytes, h.header_count,
			     why) < 0)
		return RS_SREC_BAD;
	return RS_SREC_OK;
}

int rs_srec_plausible(const void *hdr, uint64_t room)
{
	struct rs_srec_hdr h;
	uint64_t need;

	memcpy(&h, hdr, sizeof(h));
	if (h.size < sizeof(h) || h.size % 8 != 0 || h.size > room ||
	    (h.flags & ~RS_SREC_F_ALL) != 0)
		return 0;
	if (h.flags & RS_SREC_F_HOLE)
		return h.flags == RS_SREC_F_HOLE && h.seq == 0 &&
		       h.topic_len == 0 && h.header_count == 0;
	if (h.seq == 0 || h.timestamp < 0 || h.topic_len == 0 ||
	    h.topic_len > RINGSIDE_TOPIC_NAME_MAX ||
	    h.header_count > RINGSIDE_HEADERS_MAX ||
	    ((h.flags & RS_SREC_F_PARTITION) ? h.partition < 0
					     : h.partition != -1))
		return 0;
	need = sizeof(h) + (uint64_t)h.topic_len + h.header_bytes +
	       segment_opt_len(h.key_len) + segment_opt_len(h.value_len);
	return ringside_align8(need) == h.size;
}

void rs_srec_hole(void *dst, uint32_t size)
{
	struct rs_srec_hdr h = {
		.size = size,
		.partition = -1,
		.key_len = RINGSIDE_NULL_LEN,
		.value_len = RINGSIDE_NULL_LEN,
		.flags = RS_SREC_F_HOLE,
	};

	memset(dst, 0, size);
	memcpy(dst, &h, sizeof(h));
	h.crc = rs_crc32c(0, (const uint8_t *)dst + 8, size - 8);
	memcpy((uint8_t *)dst + 4, &h.crc, sizeof(h.crc));
}

void rs_seg_hdr_init(struct rs_seg_hdr *h, uint64_t id, int64_t created_ms)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, RS_SEG_MAGIC, sizeof(RS_SEG_MAGIC));
	h->version = RS_SEG_VERSION;
	h->header_size = RS_SEG_HDR_SIZE;
	h->segment_id = id;
	h->created_ms = created_ms;
	h->crc = rs_crc32c(0, h, offsetof(struct rs_seg_hdr, crc));
}

int rs_seg_hdr_check(const struct rs_seg_hdr *h, const char **why)
{
	if (memcmp(h->magic, RS_SEG_MAGIC, sizeof(RS_SEG_MAGIC)) != 0) {
		*why = "not a ringside spool segment (bad magic)";
		return -1;
	}
	if (h->crc != rs_crc32c(0, h, offsetof(struct rs_seg_hdr, crc))) {
		*why = "segment header CRC mismatch";
		return -1;
	}
	if (h->version != RS_SEG_VERSION || h->header_size != RS_SEG_HDR_SIZE) {
		*why = "unsupported segment version";
		return -1;
	}
	return 0;
}
