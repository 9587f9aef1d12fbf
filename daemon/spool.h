/* SPDX-License-Identifier: MIT */
/*
 * spool.h: the disk spool: an append-only sequence of segment files shared
 * by every topic, per-topic read cursors, and a durable per-topic
 * checkpoint below which every record is delivered (or failed for good and
 * reported). It knows bytes and sequence numbers, not Kafka: flow.c decides
 * what goes in and when it comes out.
 *
 * Records get a spool-wide sequence number when appended; a topic's
 * records are in sequence order in the files, and a cursor returns them in
 * that order, skipping any sequence it has already returned (so a segment
 * rewritten after a failed fsync never yields a record twice).
 *
 * One module in four files, by part: spool.c (the writer), spool_read.c
 * (cursors), spool_retire.c (checkpoints, deleting segments) and
 * spool_recover.c (opening and recovery); spool_impl.h is their shared
 * state, private to them.
 */
#ifndef RS_SPOOL_H
#define RS_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

enum rs_fsync_mode {
	RS_FSYNC_ALWAYS,   /* fdatasync before a record counts as spooled */
	RS_FSYNC_INTERVAL, /* fdatasync every fsync_interval_ms */
	RS_FSYNC_NEVER,	   /* leave it to the kernel */
};

struct rs_spool_config {
	const char *dir;
	enum rs_fsync_mode fsync;
	uint32_t fsync_interval_ms;
	uint64_t max_bytes;	/* segments' preallocated sizes, summed */
	uint64_t segment_bytes; /* one segment's size */
	int drop_oldest;	/* when full: drop the oldest segment */
	uint32_t max_record;	/* largest encoded record accepted */
};

struct rs_spool_pos {
	uint64_t seg;
	uint64_t off;
};

/* Reads one topic's records in order. Owned by the caller; the spool only
 * fills it. */
struct rs_spool_cursor {
	uint32_t topic;
	struct rs_spool_pos pos; /* where to look next */
	uint64_t last_seq;	 /* the last sequence returned */
	uint8_t *buf;		 /* read-ahead, owned */
	size_t cap;
	size_t len;
	struct rs_spool_pos buf_pos;
};

struct rs_spool_stats {
	uint64_t segments;
	uint64_t bytes;	   /* data in segment files */
	uint64_t records;  /* not yet retired */
	int64_t oldest_ms; /* creation of the oldest segment, 0 if none */
	uint64_t appended;
	uint64_t retired;
	uint64_t fsyncs;
	uint64_t dropped;   /* by drop_oldest */
	int64_t dropped_ms; /* rs_now_ms() of the last drop, 0: none */
	int full;
	int broken;
};

struct rs_spool;

/* Called at start-up for each topic with records not yet retired. */
typedef void (*rs_spool_found_fn)(void *arg, uint32_t topic, const char *name,
				  uint64_t records,
				  const struct rs_spool_pos *first);

/* Records other users could write, or swap, are not records to send to
 * Kafka: the directory (st, from stat) must be this process's and closed
 * to others. 0, or -1 with the reason in err. rs_spool_open() checks it;
 * so does ringsided --check. */
struct stat;
int rs_spool_dir_ok(const char *dir, const struct stat *st, char *err,
		    size_t errlen);

/*
 * Opens (creating it if needed), locks and recovers the spool directory:
 * checks every record's CRC, steps over damaged regions to the next valid
 * record (readers skip them; a copy of the damaged bytes is kept beside
 * the segment), reads a segment whose header is damaged by its records,
 * and deletes segments whose records are all retired. One pass per
 * segment: bounded by the size of the spool, and always finishes. Fails
 * if another process holds the directory.
 */
int rs_spool_open(const struct rs_spool_config *cfg, rs_spool_found_fn found,
		  void *arg, struct rs_spool **spp, char *err, size_t errlen);

/* Writes and syncs what is buffered, records the checkpoint, closes. */
void rs_spool_close(struct rs_spool *sp);

uint32_t rs_spool_topic(struct rs_spool *sp, const char *name, size_t len);
const char *rs_spool_topic_name(const struct rs_spool *sp, uint32_t topic);

enum {
	RS_SPOOL_EFULL = -1,   /* max_bytes reached, or no disk space */
	RS_SPOOL_EBROKEN = -2, /* writes or syncs are failing */
	RS_SPOOL_ETOOBIG = -3, /* larger than max_record */
};

/* 0 if an append would be accepted now, else RS_SPOOL_E*. */
int rs_spool_usable(struct rs_spool *sp);

/* Reload: takes cfg's fsync policy, max_bytes and drop_oldest (the
 * directory, segment and record sizes stay). */
void rs_spool_reconfigure(struct rs_spool *sp,
			  const struct rs_spool_config *cfg);

/* Buffers one record; it reaches the file at the next commit. */
int rs_spool_append(struct rs_spool *sp, uint32_t topic,
		    const struct rs_srec_in *in, uint64_t *seq,
		    struct rs_spool_pos *pos);

/* Writes what is buffered (and syncs under RS_FSYNC_ALWAYS). Returns 0 or
 * RS_SPOOL_EBROKEN; on failure nothing new counts as committed and the
 * buffered bytes are kept to be written again. */
int rs_spool_commit(struct rs_spool *sp);

/* Every record with a sequence up to this one is committed: written, and
 * under RS_FSYNC_ALWAYS synced. */
uint64_t rs_spool_committed(const struct rs_spool *sp);

/* Where the next record would be appended. */
void rs_spool_end(struct rs_spool *sp, struct rs_spool_pos *pos);

void rs_spool_cursor_init(struct rs_spool_cursor *c, uint32_t topic,
			  const struct rs_spool_pos *pos, uint64_t after_seq);
void rs_spool_cursor_free(struct rs_spool_cursor *c);

enum {
	RS_SPOOL_NEXT_DAMAGED = -1, /* a damaged region was skipped: again */
	RS_SPOOL_NEXT_EIO = -2,	    /* a read failed: try again later */
};

/* The next committed record of the cursor's topic: 1 with *rec (valid
 * until the next call) and *pos, 0 if there is none yet, or
 * RS_SPOOL_NEXT_*. */
int rs_spool_next(struct rs_spool *sp, struct rs_spool_cursor *c,
		  struct rs_srec *rec, struct rs_spool_pos *pos);

/* Every record of topic below seq is delivered or failed for good; count
 * of them were retired since the last call. */
void rs_spool_retire(struct rs_spool *sp, uint32_t topic, uint64_t below_seq,
		     uint64_t count);

/* Periodic work: interval syncs, durable checkpoints, deleting retired
 * segments, retrying after errors. */
void rs_spool_tick(struct rs_spool *sp, int64_t now_ms);

void rs_spool_stats(const struct rs_spool *sp, struct rs_spool_stats *st);

/* Records of topic not yet retired. */
uint64_t rs_spool_pending(const struct rs_spool *sp, uint32_t topic);

/* Every record of topic below this sequence is retired. */
uint64_t rs_spool_checkpoint(const struct rs_spool *sp, uint32_t topic);

/* The last sequence handed out (0 if none yet). */
uint64_t rs_spool_last_seq(const struct rs_spool *sp);

#endif
