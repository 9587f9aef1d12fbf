/* SPDX-License-Identifier: MIT */
/*
 * frame.c: decodes one record frame from the daemon's private copy of it.
 * Pure: no shared memory, no allocation. The fuzz target for ring frames
 * calls this directly.
 */
#include <string.h>

#include "client/ringside_proto.h"
#include "frame.h"

static int frame_fail(const char **why, const char *reason)
{
	*why = reason;
	return -1;
}

static uint64_t frame_opt_len(uint32_t len)
{
	return len == RINGSIDE_NULL_LEN ? 0 : len;
}

int rs_headers_check(const uint8_t *p, uint32_t bytes, uint32_t count,
		     const char **why)
{
	uint64_t pos = 0;

	if (count > RINGSIDE_HEADERS_MAX)
		return frame_fail(why, "too many headers");
	for (uint32_t i = 0; i < count; i++) {
		struct ringside_wire_header wh;

		if (bytes - pos < sizeof(wh))
			return frame_fail(why, "header runs past header_bytes");
		memcpy(&wh, p + pos, sizeof(wh));
		pos += sizeof(wh);
		if (wh.name_len == 0 || wh.name_len > RINGSIDE_HEADER_NAME_MAX)
			return frame_fail(why,
					  "header name length out of range");
		if (wh.reserved != 0)
			return frame_fail(why,
					  "header reserved field not zero");
		if (frame_opt_len(wh.value_len) + wh.name_len > bytes - pos)
			return frame_fail(why, "header runs past header_bytes");
		if (memchr(p + pos, '\0', wh.name_len) != NULL)
			return frame_fail(why, "header name contains NUL");
		if (!ringside_utf8_valid((const char *)p + pos, wh.name_len))
			return frame_fail(why, "header name is not UTF-8");
		pos += wh.name_len + frame_opt_len(wh.value_len);
	}
	if (pos != bytes)
		return frame_fail(why,
				  "header_bytes does not match the headers");
	return 0;
}

int rs_frame_parse_header(const void *buf, uint32_t size, struct rs_frame *f,
			  const char **why)
{
	struct ringside_frame h;
	uint64_t need;

	if (size < sizeof(h) || size % 8 != 0)
		return frame_fail(why, "frame size invalid");
	memcpy(&h, buf, sizeof(h));
	if (h.size != size)
		return frame_fail(why, "frame size changed while being read");
	if (h.type != RINGSIDE_FRAME_RECORD)
		return frame_fail(why, "unknown frame type");
	if (h.flags & ~RINGSIDE_FRAME_F_ALL)
		return frame_fail(why, "unknown frame flags");
	if (h.header_count > RINGSIDE_HEADERS_MAX)
		return frame_fail(why, "too many headers");
	if ((h.flags & RINGSIDE_FRAME_F_PARTITION) ? h.partition < 0
						   : h.partition != -1)
		return frame_fail(why, "partition invalid");
	if (h.timestamp < 0)
		return frame_fail(why, "negative timestamp");
	need = sizeof(h) + (uint64_t)h.header_bytes + frame_opt_len(h.key_len) +
	       frame_opt_len(h.value_len);
	if (ringside_align8(need) != size)
		return frame_fail(why,
				  "frame lengths do not add up to its size");
	memset(f, 0, sizeof(*f));
	f->size = size;
	f->topic = h.topic;
	f->partition = h.partition;
	f->timestamp = h.timestamp;
	f->opaque = h.opaque;
	return 0;
}

int rs_frame_parse(const void *buf, uint32_t size, struct rs_frame *f,
		   const char **why)
{
	struct ringside_frame h;
	const uint8_t *p = buf;
	uint64_t need;

	if (size < sizeof(h) || size % 8 != 0)
		return frame_fail(why, "frame size invalid");
	memcpy(&h, buf, sizeof(h));
	if (h.size != size)
		return frame_fail(why, "frame size changed while being read");
	if (h.type != RINGSIDE_FRAME_RECORD)
		return frame_fail(why, "unknown frame type");
	if (h.flags & ~RINGSIDE_FRAME_F_ALL)
		return frame_fail(why, "unknown frame flags");
	if (h.header_count > RINGSIDE_HEADERS_MAX)
		return frame_fail(why, "too many headers");
	if ((h.flags & RINGSIDE_FRAME_F_PARTITION) ? h.partition < 0
						   : h.partition != -1)
		return frame_fail(why, "partition invalid");
	if (h.timestamp < 0)
		return frame_fail(why, "negative timestamp");
	need = sizeof(h) + (uint64_t)h.header_bytes + frame_opt_len(h.key_len) +
	       frame_opt_len(h.value_len);
	if (ringside_align8(need) != size)
		return frame_fail(why,
				  "frame lengths do not add up to its size");
	f->size = size;
	f->topic = h.topic;
	f->partition = h.partition;
	f->timestamp = h.timestamp;
	f->opaque = h.opaque;
	f->header_count = h.header_count;
	f->header_bytes = h.header_bytes;
	f->headers = p + sizeof(h);
	f->key = h.key_len == RINGSIDE_NULL_LEN
			 ? NULL
			 : p + sizeof(h) + h.header_bytes;
	f->key_len = (uint32_t)frame_opt_len(h.key_len);
	f->value = h.value_len == RINGSIDE_NULL_LEN
			   ? NULL
			   : p + sizeof(h) + h.header_bytes + f->key_len;
	f->value_len = (uint32_t)frame_opt_len(h.value_len);
	return rs_headers_check(f->headers, f->header_bytes, f->header_count,
				why);
}

int rs_frame_header_next(const struct rs_frame *f, uint32_t *pos,
			 struct rs_frame_header *h)
{
	struct ringside_wire_header wh;

	if (*pos >= f->header_bytes)
		return 0;
	memcpy(&wh, f->headers + *pos, sizeof(wh));
	*pos += sizeof(wh);
	h->name = (const char *)f->headers + *pos;
	h->name_len = wh.name_len;
	*pos += wh.name_len;
	if (wh.value_len == RINGSIDE_NULL_LEN) {
		h->value = NULL;
		h->value_len = 0;
	} else {
		h->value = f->headers + *pos;
		h->value_len = wh.value_len;
		*pos += wh.value_len;
	}
	return 1;
}
