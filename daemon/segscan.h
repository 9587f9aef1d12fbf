/* SPDX-License-Identifier: MIT */
/*
 * segscan.h: finds every valid record in one spool segment file, however
 * the file is damaged. Each record carries its own length and CRC, so a
 * damaged region (a page of zeros a power cut left, flipped bits, a torn
 * write) costs only the records it overlaps: the scan steps over it to the
 * next offset where a whole record checks out, and goes on from there.
 *
 * Reads only: the file is never changed here. Bounded: one pass over the
 * file, every step moving forward, memory at most one record plus a
 * window. A record may be as large as the file holds, whatever the
 * configuration says today (a record accepted under an older, larger
 * max_record_bytes is still a record).
 */
#ifndef RS_SEGSCAN_H
#define RS_SEGSCAN_H

#include <stdint.h>

#include "segment.h"

enum rs_scan_tail {
	RS_SCAN_CLEAN, /* the records reach the end of the file */
	RS_SCAN_ZEROS, /* then only zeros: space never written */
	RS_SCAN_TORN,  /* then bytes that hold no record: a torn write */
	RS_SCAN_EIO,   /* a read failed there: the rest is unknown */
};

struct rs_scan_ops {
	/* A valid record at off (r points into scratch memory). */
	void (*record)(void *arg, uint64_t off, const struct rs_srec *r);
	/* [off, off + len) holds no valid record, and a record follows. */
	void (*damage)(void *arg, uint64_t off, uint64_t len, const char *why);
};

struct rs_scan_result {
	uint64_t end;	   /* just past the last record or hole */
	uint64_t file_end; /* the file's size when the scan began */
	enum rs_scan_tail tail;
	const char *why; /* what was wrong at end, for a torn tail */
	uint64_t records;
	uint64_t holes;
	uint64_t damaged;	/* damaged regions stepped over */
	uint64_t damaged_bytes; /* their bytes */
};

/* Scans fd from offset from (the first record, after the header) to its
 * end. Always finishes; the result says how far the records went. */
void rs_seg_scan(int fd, uint64_t from, const struct rs_scan_ops *ops,
		 void *arg, struct rs_scan_result *res);

/*
 * The first offset at or after from (8-byte aligned), below end, where a
 * whole valid record or hole starts; end if there is none. -1 if a read
 * failed. Used by the scan, and by readers that find damage at run time.
 */
int64_t rs_seg_resync(int fd, uint64_t from, uint64_t end);

/* Reads one record at off into *buf (grown as needed, owned by the
 * caller): RS_SREC_* from rs_srec_decode, or -3 if the read failed. */
int rs_seg_read_record(int fd, uint64_t off, uint64_t end, uint8_t **buf,
		       size_t *cap, struct rs_srec *r, const char **why);

#endif
