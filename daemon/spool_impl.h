/* SPDX-License-Identifier: MIT */
/*
 * spool_impl.h: the state spool.c, spool_read.c, spool_retire.c and
 * spool_recover.c share, and the helpers each of them uses. Private to
 * those four files: everyone else sees struct rs_spool only through
 * spool.h.
 */
#ifndef RS_SPOOL_IMPL_H
#define RS_SPOOL_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "spool.h"

#define CHECKPOINT_NAME RS_CHECKPOINT_NAME
#define CHECKPOINT_TMP RS_CHECKPOINT_TMP

/* A region of a segment that holds no valid record: readers step over
 * it. Found by recovery (or by a reader, if the disk changed since). */
struct rs_skip {
	uint64_t off;
	uint64_t len;
};

struct rs_seg {
	uint64_t id;
	int fd;	       /* owned */
	uint64_t size; /* bytes in the file that reads may use */
	int64_t created_ms;
	uint64_t records;
	uint32_t ntopics;      /* length of tcount and tmax */
	uint64_t *tcount;      /* records per topic index, owned */
	uint64_t *tmax;	       /* highest sequence per topic index, owned */
	struct rs_skip *skips; /* sorted by off, owned */
	size_t nskips;
	int keep; /* a read failed at recovery: never deleted by the spool */
};

struct rs_spool_topic {
	char *name;	     /* owned */
	uint64_t checkpoint; /* every record below it is retired */
	uint64_t durable;    /* checkpoint as last written to disk */
	uint64_t pending;    /* records not retired */
};

/* Owns its segments, topics, buffer and directory fd. */
struct rs_spool {
	struct rs_spool_config cfg;
	char *dir; /* owned copy of cfg.dir */
	int dirfd;
	int lockfd;	      /* owned; its flock keeps other daemons out */
	struct rs_seg **segs; /* by id; the last one may be active */
	size_t nsegs;
	struct rs_seg *active; /* NULL until the first append */
	uint64_t next_id;
	uint64_t next_seq;
	struct rs_spool_topic *topics;
	uint32_t ntopics;

	/* Bytes of the active segment from buf_off on: [0, wlen) written
	 * but not synced, [wlen, len) not written yet. */
	uint8_t *buf;
	size_t len;
	size_t wlen;
	size_t cap;
	uint64_t buf_off;
	uint64_t buf_first_seq; /* first sequence in buf, 0 if empty */

	uint64_t appended_seq; /* last sequence buffered */
	uint64_t written_seq;  /* last sequence written to a file */
	uint64_t synced_seq;   /* last sequence synced */
	int64_t last_sync_ms;
	int64_t next_retry_ms;
	/* the buffer holds records that are in no trustworthy file: nothing
	 * is appended until rewrite_unsynced() has written them again */
	int broken;
	int full; /* no room for another segment */
	int checkpoint_dirty;
	int checkpoint_failing; /* logged once until it works again */
	int have_reserve;
	int64_t last_checkpoint_ms;

	uint64_t stat_appended;
	uint64_t stat_retired;
	uint64_t stat_fsyncs;
	uint64_t stat_dropped;
	int64_t dropped_ms; /* when a segment was last dropped, 0: never */
};

/* realloc, or fatal() */
void *spool_xrealloc(void *p, size_t n);
/* the file name of segment id: 16 hex digits and ".seg" */
void spool_seg_name(uint64_t id, char *buf, size_t len);
/* fsyncs the spool directory; logs and returns -1 if that fails */
int spool_sync_dir(struct rs_spool *sp);
/* counts a record of topic, sequence seq, in s */
void spool_seg_note(struct rs_seg *s, uint32_t topic, uint64_t seq);
void spool_seg_free(struct rs_seg *s);
struct rs_seg *spool_seg_new(uint64_t id, int fd, int64_t created_ms);
/* appends s to sp's segments (they stay in id order) */
void spool_segs_add(struct rs_spool *sp, struct rs_seg *s);
/* readers step over [off, off + len) of s from now on */
void spool_seg_skip_add(struct rs_seg *s, uint64_t off, uint64_t len);
/* writes len bytes at off, retrying short writes */
int spool_write_all(int fd, const uint8_t *p, size_t len, uint64_t off);
/* 1 if one more segment fits in spool_max_bytes */
int spool_capacity_ok(struct rs_spool *sp);

/* spool_retire.c */
void spool_drop_segment(struct rs_spool *sp, size_t i, const char *why);
int spool_write_checkpoint(struct rs_spool *sp);
int spool_read_checkpoint(struct rs_spool *sp);
void spool_delete_retired(struct rs_spool *sp);
void spool_make_reserve(struct rs_spool *sp);

#endif
