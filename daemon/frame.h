/* SPDX-License-Identifier: MIT */
/*
 * frame.h: a record frame, decoded from the daemon's private copy. Every
 * pointer points into that copy; every length has been checked against it.
 */
#ifndef RS_FRAME_H
#define RS_FRAME_H

#include <stdint.h>

struct rs_frame {
	uint32_t size;
	uint32_t topic;
	int32_t partition; /* -1: the partitioner decides */
	int64_t timestamp;
	uint64_t opaque;
	uint16_t header_count;
	uint32_t header_bytes;
	const uint8_t *headers;
	const void *key; /* NULL: no key */
	uint32_t key_len;
	const void *value; /* NULL: null value */
	uint32_t value_len;
};

struct rs_frame_header {
	const char *name; /* not NUL terminated */
	uint16_t name_len;
	const void *value; /* NULL: null value */
	uint32_t value_len;
};

/*
 * Decodes a RECORD frame of size bytes from private memory. Returns 0, or -1
 * with *why naming the first rule the frame breaks.
 */
int rs_frame_parse(const void *buf, uint32_t size, struct rs_frame *f,
		   const char **why);

/* The same for the 48-byte header alone of a frame of size bytes (a
 * record too large to take, whose opaque and topic its report needs):
 * every header rule is checked; key, value and headers are left empty. */
int rs_frame_parse_header(const void *buf, uint32_t size, struct rs_frame *f,
			  const char **why);

/* Checks count encoded headers filling exactly bytes bytes: the wire
 * format shared by ring frames and spool records. */
int rs_headers_check(const uint8_t *p, uint32_t bytes, uint32_t count,
		     const char **why);

/* Iterates a parsed frame's headers: *pos starts at 0. Returns 1 with *h
 * filled, or 0 at the end. Only valid on a frame rs_frame_parse accepted. */
int rs_frame_header_next(const struct rs_frame *f, uint32_t *pos,
			 struct rs_frame_header *h);

#endif
