/* SPDX-License-Identifier: MIT */
/*
 * segment.h: the spool's on-disk format. A segment file is a 64-byte header
 * then records, each with its own length and CRC-32C, so a torn tail costs
 * only the records it tore.
 *
 *   header: magic "RSSPOOL\0", u32 version, u32 header size (64),
 *           u64 segment id, i64 created (ms since the epoch),
 *           28 reserved bytes, u32 CRC-32C of the 60 bytes before it
 *   record: struct rs_srec_hdr (64 bytes), topic name, encoded headers (the
 *           ring's wire format), key, value, zero padding to 8 bytes
 *
 * All integers little-endian (the host's; ringside runs on one host).
 */
#ifndef RS_SEGMENT_H
#define RS_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#define RS_SEG_MAGIC "RSSPOOL"
#define RS_SEG_VERSION 1U
#define RS_SEG_HDR_SIZE 64U

struct rs_seg_hdr {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint64_t segment_id;
	int64_t created_ms;
	uint8_t reserved[28];
	uint32_t crc;
};

_Static_assert(sizeof(struct rs_seg_hdr) == RS_SEG_HDR_SIZE, "seg header");

struct rs_srec_hdr {
	uint32_t size; /* whole record, multiple of 8 */
	uint32_t crc;  /* CRC-32C of bytes [8, size) */
	uint64_t seq;  /* spool-wide, strictly increasing as appended */
	uint64_t session_id;
	uint64_t opaque;
	int64_t timestamp;
	int32_t partition; /* -1 unless RS_SREC_F_PARTITION */
	uint16_t topic_len;
	uint16_t header_count;
	uint32_t key_len;   /* RINGSIDE_NULL_LEN: no key */
	uint32_t value_len; /* RINGSIDE_NULL_LEN: null value */
	uint32_t header_bytes;
	uint32_t flags;
};

_Static_assert(sizeof(struct rs_srec_hdr) == 64, "spool record header");

#define RS_SREC_F_PARTITION 0x1U
/* A hole: recovery wrote it over a damaged record so that the records
 * after it stay where they are; readers step over it. */
#define RS_SREC_F_HOLE 0x2U
#define RS_SREC_F_ALL (RS_SREC_F_PARTITION | RS_SREC_F_HOLE)

/* A record as decoded; pointers into the buffer it was decoded from. */
struct rs_srec {
	uint32_t size;
	uint64_t seq;
	uint64_t session_id;
	uint64_t opaque;
	int64_t timestamp;
	int32_t partition;
	uint32_t flags;
	const char *topic; /* not NUL terminated */
	uint16_t topic_len;
	uint16_t header_count;
	const uint8_t *headers;
	uint32_t header_bytes;
	const void *key; /* NULL: no key */
	uint32_t key_len;
	const void *value; /* NULL: null value */
	uint32_t value_len;
};

/* What goes into a record. */
struct rs_srec_in {
	const char *topic;
	uint16_t topic_len;
	uint64_t session_id;
	uint64_t opaque;
	int64_t timestamp;
	int32_t partition; /* -1: let the partitioner decide */
	const uint8_t *headers;
	uint32_t header_bytes;
	uint16_t header_count;
	const void *key;
	uint32_t key_len; /* RINGSIDE_NULL_LEN: no key */
	const void *value;
	uint32_t value_len; /* RINGSIDE_NULL_LEN: null value */
};

/* Bytes the record will take. */
uint32_t rs_srec_size(const struct rs_srec_in *in);

/* Encodes into dst (rs_srec_size() bytes) with the given sequence. */
void rs_srec_encode(const struct rs_srec_in *in, uint64_t seq, void *dst);

enum rs_srec_result {
	RS_SREC_HOLE = 2,   /* a hole of out->size bytes: step over it */
	RS_SREC_OK = 1,	    /* a valid record of *size bytes */
	RS_SREC_END = 0,    /* no more data (or zeros: never written) */
	RS_SREC_SHORT = -1, /* the record runs past the data: torn */
	RS_SREC_BAD = -2,   /* invalid: *why says which rule */
};

/*
 * Decodes the record at the start of buf (len bytes available). Checks the
 * length, the CRC and every field before filling out; max_size bounds what
 * a record may claim.
 */
int rs_srec_decode(const void *buf, size_t len, uint32_t max_size,
		   struct rs_srec *out, const char **why);

/*
 * 1 if the 64 bytes at hdr could start a record (or a hole) of at most
 * room bytes: every header field agrees with the others. Cheap, no CRC:
 * recovery calls it at every 8-byte offset of a damaged region to find
 * the next record, then decodes the candidate in full.
 */
int rs_srec_plausible(const void *hdr, uint64_t room);

/* Encodes a hole of size bytes (a multiple of 8, at least a header). */
void rs_srec_hole(void *dst, uint32_t size);

void rs_seg_hdr_init(struct rs_seg_hdr *h, uint64_t id, int64_t created_ms);
/* 0 if valid, -1 with *why otherwise. */
int rs_seg_hdr_check(const struct rs_seg_hdr *h, const char **why);

#endif
