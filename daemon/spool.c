/* SPDX-License-Identifier: MIT */
/*
 * spool.c: segment files, the writer, cursors, recovery and checkpoints.
 *
 * Storage rules this file keeps (each learned by someone the hard way):
 * - every record carries its own CRC, so a torn tail costs only its tail;
 * - segments are preallocated (fallocate, KEEP_SIZE), so a full disk shows
 *   up when a segment is created, never in the middle of a record;
 * - the directory is fsynced after a segment is created, renamed or
 *   deleted, and the checkpoint is replaced by write, fsync, rename, fsync;
 * - after a failed write or fsync nothing is assumed to be on disk: the
 *   bytes kept in memory since the last good sync are written again into a
 *   new segment, and the spool refuses new records until that succeeds
 *   ("broken": whatever stops the rewrite, a full disk included, the
 *   records stay in memory and the rewrite is retried; they are never
 *   dropped, and nothing new is written over them);
 * - a segment is deleted only after a durable checkpoint shows every one of
 *   its records retired, so a crash between the two steps leaves a segment
 *   that the next start deletes again, never a loop;
 * - recovery never gives up on more than the damage: segscan.c steps over
 *   a damaged region to the next record that checks out, readers skip the
 *   region in memory, and the file itself is left as it is (a copy of the
 *   damaged bytes is kept beside it, and every repair is logged);
 * - one daemon per directory: a lock file, held while the spool is open.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "client/ringside_proto.h"
#include "client/ringside_clock.h"
#include "crc32c.h"
#include "log.h"
#include "segscan.h"
#include "spool.h"

#define CHECKPOINT_NAME RS_CHECKPOINT_NAME
#define CHECKPOINT_TMP RS_CHECKPOINT_TMP
#define LOCK_NAME "lock"
/*
 * Space set aside for the checkpoint. On a full filesystem the checkpoint
 * cannot be rewritten, and without a new checkpoint no delivered segment
 * may be deleted: deleting this file breaks that deadlock.
 */
#define RESERVE_NAME "reserve"
#define RESERVE_BYTES (256 * 1024)
#define CHECKPOINT_EVERY_MS 100
#define RETRY_EVERY_MS 1000
#define UNSYNCED_MAX (32U << 20) /* force a write past this much */
#define READ_CHUNK (256U << 10)

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
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		fatal("spool: realloc %zu", n);
	return q;
}

static void seg_name(uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 ".seg", id);
}

static int sync_dir(struct rs_spool *sp)
{
	if (fsync(sp->dirfd) < 0) {
		log_warn("spool: fsync of %s", sp->dir);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- topics */

uint32_t rs_spool_topic(struct rs_spool *sp, const char *name, size_t len)
{
	for (uint32_t i = 0; i < sp->ntopics; i++)
		if (strlen(sp->topics[i].name) == len &&
		    memcmp(sp->topics[i].name, name, len) == 0)
			return i;
	sp->topics =
		xrealloc(sp->topics, (sp->ntopics + 1) * sizeof(*sp->topics));
	memset(&sp->topics[sp->ntopics], 0, sizeof(*sp->topics));
	sp->topics[sp->ntopics].name = strndup(name, len);
	if (sp->topics[sp->ntopics].name == NULL)
		fatal("strndup");
	return sp->ntopics++;
}

const char *rs_spool_topic_name(const struct rs_spool *sp, uint32_t topic)
{
	return topic < sp->ntopics ? sp->topics[topic].name : NULL;
}

uint64_t rs_spool_pending(const struct rs_spool *sp, uint32_t topic)
{
	return topic < sp->ntopics ? sp->topics[topic].pending : 0;
}

uint64_t rs_spool_checkpoint(const struct rs_spool *sp, uint32_t topic)
{
	return topic < sp->ntopics ? sp->topics[topic].checkpoint : 0;
}

uint64_t rs_spool_last_seq(const struct rs_spool *sp)
{
	return sp->next_seq - 1;
}

static void seg_note(struct rs_seg *s, uint32_t topic, uint64_t seq)
{
	if (topic >= s->ntopics) {
		uint32_t n = topic + 8;

		s->tcount = xrealloc(s->tcount, n * sizeof(*s->tcount));
		s->tmax = xrealloc(s->tmax, n * sizeof(*s->tmax));
		memset(s->tcount + s->ntopics, 0,
		       (n - s->ntopics) * sizeof(*s->tcount));
		memset(s->tmax + s->ntopics, 0,
		       (n - s->ntopics) * sizeof(*s->tmax));
		s->ntopics = n;
	}
	s->tcount[topic]++;
	if (seq > s->tmax[topic])
		s->tmax[topic] = seq;
	s->records++;
}

static void seg_free(struct rs_seg *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->skips);
	free(s->tcount);
	free(s->tmax);
	free(s);
}

static struct rs_seg *seg_new(uint64_t id, int fd, int64_t created_ms)
{
	struct rs_seg *s = calloc(1, sizeof(*s));

	if (s == NULL)
		fatal("calloc");
	s->id = id;
	s->fd = fd;
	s->created_ms = created_ms;
	s->size = RS_SEG_HDR_SIZE;
	return s;
}

static void segs_add(struct rs_spool *sp, struct rs_seg *s)
{
	sp->segs = xrealloc(sp->segs, (sp->nsegs + 1) * sizeof(*sp->segs));
	sp->segs[sp->nsegs++] = s;
}

static struct rs_seg *seg_find(struct rs_spool *sp, uint64_t id)
{
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i]->id == id)
			return sp->segs[i];
	return NULL;
}

/* Readers step over [off, off + len) of s from now on. */
static void seg_skip_add(struct rs_seg *s, uint64_t off, uint64_t len)
{
	size_t i = s->nskips;

	s->skips = xrealloc(s->skips, (s->nskips + 1) * sizeof(*s->skips));
	while (i > 0 && s->skips[i - 1].off > off) {
		s->skips[i] = s->skips[i - 1];
		i--;
	}
	s->skips[i].off = off;
	s->skips[i].len = len;
	s->nskips++;
}

/* The length of the skipped region starting at off, or 0. */
static uint64_t seg_skip_at(const struct rs_seg *s, uint64_t off)
{
	size_t lo = 0, hi = s->nskips;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->skips[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nskips && s->skips[lo].off == off ? s->skips[lo].len : 0;
}

/* ------------------------------------------------------------ writing */

/* Writes len bytes at off, retrying short writes. */
static int spool_write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int capacity_ok(struct rs_spool *sp)
{
	return (sp->nsegs + 1) * sp->cfg.segment_bytes <= sp->cfg.max_bytes;
}

static void drop_segment(struct rs_spool *sp, size_t i, const char *why);

/* Makes room for one more segment by dropping the oldest ones, if the
 * operator chose that over refusing records. */
static int make_room(struct rs_spool *sp)
{
	while (!capacity_ok(sp)) {
		if (!sp->cfg.drop_oldest || sp->nsegs == 0 ||
		    sp->segs[0] == sp->active)
			return -1;
		drop_segment(sp, 0, "spool full, spool_full = drop_oldest");
	}
	return 0;
}

/*
 * Creates the next segment file, preallocated and durable. A rewrite
 * after a failed write may go one segment past spool_max_bytes: the
 * records it saves are already counted in the segment that failed, which
 * cannot retire before they are delivered.
 */
static struct rs_seg *create_segment(struct rs_spool *sp, int rewrite,
				     int *full)
{
	struct rs_seg_hdr h;
	char name[32];
	int fd, err;

	*full = 0;
	if (rewrite ? (sp->nsegs * sp->cfg.segment_bytes > sp->cfg.max_bytes)
		    : make_room(sp) < 0) {
		*full = 1;
		return NULL;
	}
	seg_name(sp->next_id, name, sizeof(name));
	fd = openat(sp->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
	if (fd < 0) {
		*full = errno == ENOSPC || errno == EDQUOT;
		log_warn("spool: cannot create %s/%s", sp->dir, name);
		return NULL;
	}
	err = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0,
			(off_t)sp->cfg.segment_bytes);
	if (err < 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
		*full = errno == ENOSPC || errno == EDQUOT;
		log_warn("spool: cannot allocate %" PRIu64 " bytes for %s",
			 sp->cfg.segment_bytes, name);
		goto fail;
	}
	rs_seg_hdr_init(&h, sp->next_id, rs_wall_ms());
	if (spool_write_all(fd, (const uint8_t *)&h, sizeof(h), 0) < 0 ||
	    fdatasync(fd) < 0) {
		*full = errno == ENOSPC || errno == EDQUOT;
		log_warn("spool: cannot write the header of %s", name);
		goto fail;
	}
	if (sync_dir(sp) < 0)
		goto fail;
	sp->next_id++;
	return seg_new(sp->next_id - 1, fd, h.created_ms);
fail:
	close(fd);
	(void)unlinkat(sp->dirfd, name, 0);
	return NULL;
}

/* A segment could not be created (full: for want of space), or a write
 * failed (broken). Retried every RETRY_EVERY_MS, and at once when space
 * is freed. */
static void set_failed(struct rs_spool *sp, int full, int broken)
{
	if (full && !sp->full)
		log_warnx("spool: full (%zu segments of %" PRIu64
			  " bytes, spool_max_bytes %" PRIu64
			  "): refusing records until space is freed",
			  sp->nsegs, sp->cfg.segment_bytes, sp->cfg.max_bytes);
	if (full)
		sp->full = 1;
	if (broken)
		sp->broken = 1;
	sp->next_retry_ms = rs_now_ms() + RETRY_EVERY_MS;
}

/* Indexes the records held in the buffer under segment s, so cursors look
 * for their topics there. */
static void note_buffered(struct rs_spool *sp, struct rs_seg *s)
{
	for (size_t off = 0; off < sp->len;) {
		struct rs_srec r;
		const char *why;

		if (rs_srec_decode(sp->buf + off, sp->len - off,
				   sp->cfg.max_record, &r, &why) != RS_SREC_OK)
			break; /* cannot happen: we encoded them */
		seg_note(s, rs_spool_topic(sp, r.topic, r.topic_len), r.seq);
		off += r.size;
	}
}

/* Moves the unsynced bytes into a fresh segment after a failed write or
 * sync: nothing since the last good sync may be trusted to be on disk. */
static int rewrite_unsynced(struct rs_spool *sp)
{
	struct rs_seg *s;
	int full;

	if (sp->active != NULL) {
		/* reads may use only what was written before */
		sp->active->size = sp->buf_off + sp->wlen;
		sp->active = NULL;
	}
	/* until the rewrite succeeds the buffer is the records' only copy:
	 * broken, whatever stops it (a full disk too), so nothing new is
	 * appended and no rotation throws the buffer away */
	s = create_segment(sp, 1, &full);
	if (s == NULL) {
		set_failed(sp, full, 1);
		return RS_SPOOL_EBROKEN;
	}
	if (spool_write_all(s->fd, sp->buf, sp->len, RS_SEG_HDR_SIZE) < 0 ||
	    (sp->cfg.fsync != RS_FSYNC_NEVER && fdatasync(s->fd) < 0)) {
		int space = errno == ENOSPC || errno == EDQUOT;
		char name[32];

		log_warn("spool: rewriting into segment %" PRIu64
			 " failed too; refusing records, retrying in %d ms",
			 s->id, RETRY_EVERY_MS);
		/* nothing of it may be read: it goes, and the next try makes
		 * another (a failing disk must not pile up segments) */
		seg_name(s->id, name, sizeof(name));
		seg_free(s);
		if (unlinkat(sp->dirfd, name, 0) == 0)
			(void)sync_dir(sp);
		set_failed(sp, space, 1);
		return RS_SPOOL_EBROKEN;
	}
	segs_add(sp, s);
	/* the rewritten records' sequences repeat the old segment's tail;
	 * cursors and recovery skip a sequence they have already seen */
	note_buffered(sp, s);
	s->size = RS_SEG_HDR_SIZE + sp->len;
	sp->active = s;
	sp->written_seq = sp->appended_seq;
	if (sp->cfg.fsync != RS_FSYNC_NEVER)
		sp->synced_seq = sp->appended_seq;
	sp->len = sp->wlen = 0;
	sp->buf_off = s->size;
	sp->buf_first_seq = 0;
	sp->broken = 0;
	log_notice("spool: %" PRIu64 " bytes rewritten into segment %" PRIu64,
		   s->size - RS_SEG_HDR_SIZE, s->id);
	return 0;
}

static int do_sync(struct rs_spool *sp)
{
	if (sp->active == NULL || sp->synced_seq == sp->written_seq)
		return 0;
	if (fdatasync(sp->active->fd) < 0) {
		log_warn("spool: fdatasync of segment %" PRIu64
			 " failed; its unsynced records are rewritten",
			 sp->active->id);
		return rewrite_unsynced(sp);
	}
	sp->stat_fsyncs++;
	sp->synced_seq = sp->written_seq;
	sp->last_sync_ms = rs_now_ms();
	/* synced: the copy kept for a rewrite is no longer needed */
	memmove(sp->buf, sp->buf + sp->wlen, sp->len - sp->wlen);
	sp->buf_off += sp->wlen;
	sp->len -= sp->wlen;
	sp->wlen = 0;
	if (sp->len == 0)
		sp->buf_first_seq = 0;
	return 0;
}

static int do_write(struct rs_spool *sp)
{
	if (sp->active == NULL || sp->len == sp->wlen)
		return sp->broken ? RS_SPOOL_EBROKEN : 0;
	if (spool_write_all(sp->active->fd, sp->buf + sp->wlen,
			    sp->len - sp->wlen, sp->buf_off + sp->wlen) < 0) {
		log_warn("spool: write to segment %" PRIu64 " failed",
			 sp->active->id);
		return rewrite_unsynced(sp);
	}
	/* starts the disk on these bytes now, without waiting: the sync
	 * that vouches for them (a tick of the event loop, in interval mode)
	 * then waits for less */
	if (sp->cfg.fsync == RS_FSYNC_INTERVAL)
		(void)sync_file_range(
			sp->active->fd, (off_t)(sp->buf_off + sp->wlen),
			(off_t)(sp->len - sp->wlen), SYNC_FILE_RANGE_WRITE);
	sp->wlen = sp->len;
	sp->active->size = sp->buf_off + sp->len;
	sp->written_seq = sp->appended_seq;
	if (sp->cfg.fsync == RS_FSYNC_NEVER) {
		/* no sync will ever vouch for these bytes: keep no copy */
		sp->buf_off += sp->len;
		sp->len = sp->wlen = 0;
		sp->buf_first_seq = 0;
	}
	return 0;
}

int rs_spool_commit(struct rs_spool *sp)
{
	if (sp->broken)
		return RS_SPOOL_EBROKEN;
	if (do_write(sp) < 0)
		return RS_SPOOL_EBROKEN;
	if (sp->cfg.fsync == RS_FSYNC_ALWAYS && do_sync(sp) < 0)
		return RS_SPOOL_EBROKEN;
	return 0;
}

uint64_t rs_spool_committed(const struct rs_spool *sp)
{
	return sp->cfg.fsync == RS_FSYNC_ALWAYS ? sp->synced_seq
						: sp->written_seq;
}

/* Finishes the active segment and starts the next one. */
static int rotate(struct rs_spool *sp)
{
	struct rs_seg *s;
	int full;

	if (sp->broken)
		return RS_SPOOL_EBROKEN;
	if (sp->active != NULL) {
		if (do_write(sp) < 0)
			return RS_SPOOL_EBROKEN;
		if (sp->cfg.fsync != RS_FSYNC_NEVER && do_sync(sp) < 0)
			return RS_SPOOL_EBROKEN;
	}
	if (sp->len > 0) {
		/* bytes no file holds yet must never be discarded */
		log_warnx("spool: %zu buffered bytes at a rotation; rewriting",
			  sp->len);
		return rewrite_unsynced(sp);
	}
	s = create_segment(sp, 0, &full);
	if (s == NULL) {
		/* nothing is buffered: a retry later loses nothing */
		set_failed(sp, full, !full);
		return full ? RS_SPOOL_EFULL : RS_SPOOL_EBROKEN;
	}
	segs_add(sp, s);
	sp->active = s;
	sp->buf_off = RS_SEG_HDR_SIZE;
	sp->len = sp->wlen = 0;
	sp->buf_first_seq = 0;
	sp->full = 0;
	return 0;
}

int rs_spool_usable(struct rs_spool *sp)
{
	if (sp->broken)
		return RS_SPOOL_EBROKEN;
	if (sp->full)
		return RS_SPOOL_EFULL;
	return 0;
}

int rs_spool_append(struct rs_spool *sp, uint32_t topic,
		    const struct rs_srec_in *in, uint64_t *seq,
		    struct rs_spool_pos *pos)
{
	uint32_t size = rs_srec_size(in);
	int err;

	if (sp->broken)
		return RS_SPOOL_EBROKEN;
	if (size > sp->cfg.max_record ||
	    size > sp->cfg.segment_bytes - RS_SEG_HDR_SIZE)
		return RS_SPOOL_ETOOBIG;
	if (sp->active == NULL ||
	    sp->buf_off + sp->len + size > sp->cfg.segment_bytes) {
		if (sp->full && rs_now_ms() < sp->next_retry_ms)
			return RS_SPOOL_EFULL;
		err = rotate(sp);
		if (err < 0)
			return err;
	}
	if (sp->len + size > sp->cap) {
		sp->cap = sp->cap ? sp->cap : 1U << 20;
		while (sp->cap < sp->len + size)
			sp->cap *= 2;
		sp->buf = xrealloc(sp->buf, sp->cap);
	}
	*seq = sp->next_seq++;
	pos->seg = sp->active->id;
	pos->off = sp->buf_off + sp->len;
	rs_srec_encode(in, *seq, sp->buf + sp->len);
	if (sp->buf_first_seq == 0)
		sp->buf_first_seq = *seq;
	sp->len += size;
	sp->appended_seq = *seq;
	seg_note(sp->active, topic, *seq);
	sp->topics[topic].pending++;
	sp->stat_appended++;
	/* bound what is kept in memory between syncs */
	if (sp->len - sp->wlen > UNSYNCED_MAX)
		(void)rs_spool_commit(sp);
	if (sp->len > 2 * UNSYNCED_MAX && !sp->broken)
		(void)do_sync(sp);
	return 0;
}

void rs_spool_end(struct rs_spool *sp, struct rs_spool_pos *pos)
{
	if (sp->active != NULL) {
		pos->seg = sp->active->id;
		pos->off = sp->buf_off + sp->len;
	} else {
		pos->seg = sp->next_id;
		pos->off = RS_SEG_HDR_SIZE;
	}
}

/* ------------------------------------------------------------ reading */

void rs_spool_cursor_init(struct rs_spool_cursor *c, uint32_t topic,
			  const struct rs_spool_pos *pos, uint64_t after_seq)
{
	uint8_t *buf = c->buf;
	size_t cap = c->cap;

	memset(c, 0, sizeof(*c));
	c->buf = buf; /* keep the buffer across re-inits */
	c->cap = cap;
	c->topic = topic;
	c->pos = *pos;
	c->last_seq = after_seq;
}

void rs_spool_cursor_free(struct rs_spool_cursor *c)
{
	free(c->buf);
	c->buf = NULL;
	c->cap = c->len = 0;
}

/* The first segment after id that holds records of topic. */
static struct rs_seg *next_seg(struct rs_spool *sp, uint64_t id, uint32_t topic)
{
	for (size_t i = 0; i < sp->nsegs; i++) {
		struct rs_seg *s = sp->segs[i];

		if (s->id > id && topic < s->ntopics && s->tcount[topic] > 0)
			return s;
	}
	return NULL;
}

/* Makes [pos.off, pos.off + want) of s readable from c->buf, as far as the
 * segment's readable size allows. Returns the bytes available there, or
 * -1 if a read failed. */
static ssize_t fill(struct rs_spool_cursor *c, struct rs_seg *s, size_t want)
{
	uint64_t limit = s->size;
	size_t n, got = 0;

	if (c->buf_pos.seg == s->id && c->pos.off >= c->buf_pos.off &&
	    c->pos.off + want <= c->buf_pos.off + c->len)
		return (ssize_t)(c->buf_pos.off + c->len - c->pos.off);
	if (want < READ_CHUNK)
		want = READ_CHUNK;
	if (c->cap < want) {
		c->buf = xrealloc(c->buf, want);
		c->cap = want;
	}
	n = c->pos.off + want > limit ? (size_t)(limit - c->pos.off) : want;
	while (got < n) {
		ssize_t r = pread(s->fd, c->buf + got, n - got,
				  (off_t)(c->pos.off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	c->buf_pos.seg = s->id;
	c->buf_pos.off = c->pos.off;
	c->len = got;
	return got < n ? -1 : (ssize_t)got;
}

/* The record at the cursor: RS_SREC_*, or -3 if a read failed. A record
 * may be as large as its segment holds: one written under a larger
 * max_record_bytes than today's is still read. */
static int cursor_record(struct rs_spool_cursor *c, struct rs_seg *s,
			 struct rs_srec *rec, const char **why)
{
	uint64_t room = s->size - c->pos.off;
	uint32_t max = room > UINT32_MAX ? UINT32_MAX : (uint32_t)room;
	ssize_t avail = fill(c, s, sizeof(struct rs_srec_hdr));
	uint32_t need;
	int k;

	if (avail < 0)
		return -3;
	k = rs_srec_decode(c->buf + (c->pos.off - c->buf_pos.off),
			   (size_t)avail, max, rec, why);
	if (k != RS_SREC_SHORT || (uint64_t)avail >= room ||
	    avail < (ssize_t)sizeof(struct rs_srec_hdr))
		return k;
	/* a record longer than what is buffered */
	memcpy(&need, c->buf + (c->pos.off - c->buf_pos.off), sizeof(need));
	avail = fill(c, s, need);
	if (avail < 0)
		return -3;
	return rs_srec_decode(c->buf + (c->pos.off - c->buf_pos.off),
			      (size_t)avail, max, rec, why);
}

static int topic_is(const struct rs_spool *sp, uint32_t topic,
		    const struct rs_srec *r)
{
	const char *name = sp->topics[topic].name;

	return strlen(name) == r->topic_len &&
	       memcmp(name, r->topic, r->topic_len) == 0;
}

/* Damage a reader met that recovery did not see (the disk changed since,
 * or a segment of this run lost pages after a failed sync): the region up
 * to the next valid record is skipped from now on. */
static int cursor_damage(struct rs_spool_cursor *c, struct rs_seg *s,
			 const char *why)
{
	int64_t next = rs_seg_resync(s->fd, c->pos.off + 8, s->size);

	if (next < 0)
		return RS_SPOOL_NEXT_EIO;
	log_warnx("spool: segment %" PRIu64 ": %" PRIu64 " bytes at offset "
		  "%" PRIu64 " hold no valid record (%s); the records after "
		  "them are read on",
		  s->id, (uint64_t)next - c->pos.off, c->pos.off, why);
	seg_skip_add(s, c->pos.off, (uint64_t)next - c->pos.off);
	c->pos.off = (uint64_t)next;
	return RS_SPOOL_NEXT_DAMAGED;
}

int rs_spool_next(struct rs_spool *sp, struct rs_spool_cursor *c,
		  struct rs_srec *rec, struct rs_spool_pos *pos)
{
	for (;;) {
		struct rs_seg *s = seg_find(sp, c->pos.seg);
		const char *why = NULL;
		uint64_t skip;
		int k;

		if (s == NULL || c->pos.off >= s->size) {
			struct rs_seg *n;

			if (s != NULL && s == sp->active)
				return 0; /* caught up with the writer */
			n = next_seg(sp, c->pos.seg, c->topic);
			if (n == NULL)
				return 0;
			c->pos.seg = n->id;
			c->pos.off = RS_SEG_HDR_SIZE;
			continue;
		}
		if (c->pos.off < RS_SEG_HDR_SIZE)
			c->pos.off = RS_SEG_HDR_SIZE;
		skip = seg_skip_at(s, c->pos.off);
		if (skip > 0) {
			c->pos.off += skip;
			continue;
		}
		k = cursor_record(c, s, rec, &why);
		if (k == -3) {
			log_warn("spool: cannot read segment %" PRIu64
				 " at %" PRIu64 "; trying again later",
				 s->id, c->pos.off);
			return RS_SPOOL_NEXT_EIO;
		}
		if (k == RS_SREC_HOLE) {
			c->pos.off += rec->size;
			continue;
		}
		if (k != RS_SREC_OK)
			return cursor_damage(c, s,
					     why != NULL
						     ? why
						     : "zeros where records "
						       "were written");
		pos->seg = s->id;
		pos->off = c->pos.off;
		c->pos.off += rec->size;
		if (rec->seq <= c->last_seq || !topic_is(sp, c->topic, rec))
			continue;
		c->last_seq = rec->seq;
		return 1;
	}
}

/* ------------------------------------------------ retiring, checkpoints */

void rs_spool_retire(struct rs_spool *sp, uint32_t topic, uint64_t below_seq,
		     uint64_t count)
{
	struct rs_spool_topic *t = &sp->topics[topic];

	if (below_seq > t->checkpoint) {
		t->checkpoint = below_seq;
		sp->checkpoint_dirty = 1;
	}
	if (count > t->pending)
		count = t->pending;
	t->pending -= count;
	sp->stat_retired += count;
}

static void make_reserve(struct rs_spool *sp)
{
	int fd = openat(sp->dirfd, RESERVE_NAME, O_WRONLY | O_CREAT | O_CLOEXEC,
			0600);

	if (fd < 0)
		return;
	if (fallocate(fd, 0, 0, RESERVE_BYTES) < 0) {
		static const uint8_t zero[4096];
		int ok = errno == EOPNOTSUPP;

		for (off_t off = 0; ok && off < RESERVE_BYTES;
		     off += (off_t)sizeof(zero))
			ok = spool_write_all(fd, zero, sizeof(zero), off) == 0;
		if (!ok) {
			close(fd);
			(void)unlinkat(sp->dirfd, RESERVE_NAME, 0);
			return;
		}
	}
	close(fd);
	sp->have_reserve = 1;
}

/* 1 if some segment holds records of topic: only those topics need a
 * line in the checkpoint, so it stays as small as what is on disk. */
static int topic_on_disk(const struct rs_spool *sp, uint32_t topic)
{
	for (size_t i = 0; i < sp->nsegs; i++)
		if (topic < sp->segs[i]->ntopics &&
		    sp->segs[i]->tcount[topic] > 0)
			return 1;
	return 0;
}

static int write_checkpoint(struct rs_spool *sp)
{
	struct rs_checkpoint_entry *v =
		xrealloc(NULL, sp->ntopics * sizeof(*v));
	size_t n = 0;
	int rc;

	for (uint32_t i = 0; i < sp->ntopics; i++) {
		if (sp->topics[i].checkpoint == 0 || !topic_on_disk(sp, i))
			continue;
		v[n].name = sp->topics[i].name;
		v[n++].seq = sp->topics[i].checkpoint;
	}
	rc = rs_checkpoint_write_tmp(sp->dirfd, sp->next_seq, v, n);
	if (rc < 0 && (errno == ENOSPC || errno == EDQUOT) &&
	    sp->have_reserve) {
		log_warnx("spool: the filesystem is full; using the space "
			  "reserved for the checkpoint");
		(void)unlinkat(sp->dirfd, RESERVE_NAME, 0);
		sp->have_reserve = 0;
		rc = rs_checkpoint_write_tmp(sp->dirfd, sp->next_seq, v, n);
	}
	free(v);
	if (rc < 0) {
		if (!sp->checkpoint_failing)
			log_warn("spool: cannot write %s/%s; retrying", sp->dir,
				 CHECKPOINT_TMP);
		sp->checkpoint_failing = 1;
		sp->last_checkpoint_ms = rs_now_ms(); /* the next try, later */
		return -1;
	}
	if (renameat(sp->dirfd, CHECKPOINT_TMP, sp->dirfd, CHECKPOINT_NAME) <
		    0 ||
	    sync_dir(sp) < 0) {
		if (!sp->checkpoint_failing)
			log_warn("spool: cannot replace %s/%s; retrying",
				 sp->dir, CHECKPOINT_NAME);
		sp->checkpoint_failing = 1;
		sp->last_checkpoint_ms = rs_now_ms();
		return -1;
	}
	if (sp->checkpoint_failing)
		log_notice("spool: checkpoint written again");
	sp->checkpoint_failing = 0;
	for (uint32_t i = 0; i < sp->ntopics; i++)
		sp->topics[i].durable = sp->topics[i].checkpoint;
	sp->checkpoint_dirty = 0;
	sp->last_checkpoint_ms = rs_now_ms();
	return 0;
}

static void on_checkpoint_topic(void *arg, const char *name, uint64_t seq)
{
	struct rs_spool *sp = arg;
	uint32_t t = rs_spool_topic(sp, name, strlen(name));

	sp->topics[t].checkpoint = seq;
	sp->topics[t].durable = seq;
}

static int read_checkpoint(struct rs_spool *sp)
{
	uint64_t next = 0;
	int rc = rs_checkpoint_read(sp->dirfd, &next, on_checkpoint_topic, sp);

	if (rc == 0 && next > sp->next_seq)
		sp->next_seq = next;
	return rc < 0 ? -1 : 0;
}

static int seg_retired(const struct rs_spool *sp, const struct rs_seg *s)
{
	if (s->keep)
		return 0;
	for (uint32_t t = 0; t < s->ntopics; t++)
		if (s->tcount[t] > 0 && sp->topics[t].durable <= s->tmax[t])
			return 0;
	return 1;
}

static void remove_seg_at(struct rs_spool *sp, size_t i)
{
	seg_free(sp->segs[i]);
	memmove(&sp->segs[i], &sp->segs[i + 1],
		(sp->nsegs - i - 1) * sizeof(*sp->segs));
	sp->nsegs--;
}

/* Counts what drop_oldest throws away, per topic, and moves each topic's
 * checkpoint past it so no cursor waits for it. */
static void drop_segment(struct rs_spool *sp, size_t i, const char *why)
{
	struct rs_seg *s = sp->segs[i];
	char name[32];
	uint64_t lost = 0;

	for (uint32_t t = 0; t < s->ntopics; t++) {
		if (s->tcount[t] == 0 || sp->topics[t].checkpoint > s->tmax[t])
			continue;
		/* at most this many were not retired yet */
		lost += s->tcount[t];
		rs_spool_retire(sp, t, s->tmax[t] + 1, s->tcount[t]);
	}
	seg_name(s->id, name, sizeof(name));
	log_warnx("spool: dropping segment %s (%s): up to %" PRIu64
		  " undelivered records lost",
		  name, why, lost);
	sp->stat_dropped += lost;
	(void)write_checkpoint(sp);
	if (unlinkat(sp->dirfd, name, 0) < 0)
		log_warn("spool: unlink %s", name);
	(void)sync_dir(sp);
	remove_seg_at(sp, i);
}

/* Deletes segments whose every record a durable checkpoint has retired. */
static void delete_retired(struct rs_spool *sp)
{
	int removed = 0;

	for (size_t i = 0; i < sp->nsegs;) {
		struct rs_seg *s = sp->segs[i];
		char name[32];

		if (s == sp->active || !seg_retired(sp, s)) {
			i++;
			continue;
		}
		seg_name(s->id, name, sizeof(name));
		if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT) {
			log_warn("spool: unlink %s", name);
			i++;
			continue;
		}
		log_debug("spool: segment %s retired", name);
		remove_seg_at(sp, i);
		removed = 1;
	}
	if (removed) {
		(void)sync_dir(sp);
		if (!sp->have_reserve)
			make_reserve(sp);
		if (sp->full && capacity_ok(sp)) {
			sp->full = 0;
			log_notice("spool: space freed; accepting records");
		}
		/* records waiting in memory for a rewrite go first */
		if (sp->broken)
			sp->next_retry_ms = 0;
	}
}

void rs_spool_tick(struct rs_spool *sp, int64_t now_ms)
{
	if (sp->broken && now_ms >= sp->next_retry_ms) {
		if (rewrite_unsynced(sp) == 0)
			log_notice("spool: writing again");
	}
	if (!sp->broken && sp->cfg.fsync == RS_FSYNC_INTERVAL &&
	    now_ms - sp->last_sync_ms >= sp->cfg.fsync_interval_ms) {
		if (do_write(sp) == 0)
			(void)do_sync(sp);
	}
	if (sp->full && now_ms >= sp->next_retry_ms) {
		sp->full = !capacity_ok(sp);
		sp->next_retry_ms = now_ms + RETRY_EVERY_MS;
	}
	/* a full spool frees delivered segments at once, not each second */
	if (sp->checkpoint_dirty &&
	    (now_ms - sp->last_checkpoint_ms >= CHECKPOINT_EVERY_MS ||
	     (sp->full && !sp->checkpoint_failing)) &&
	    write_checkpoint(sp) == 0)
		delete_retired(sp);
}

void rs_spool_stats(const struct rs_spool *sp, struct rs_spool_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->segments = sp->nsegs;
	for (size_t i = 0; i < sp->nsegs; i++)
		st->bytes += sp->segs[i]->size;
	if (sp->active != NULL)
		st->bytes += sp->len - sp->wlen;
	for (uint32_t i = 0; i < sp->ntopics; i++)
		st->records += sp->topics[i].pending;
	st->oldest_ms = sp->nsegs > 0 ? sp->segs[0]->created_ms : 0;
	st->appended = sp->stat_appended;
	st->retired = sp->stat_retired;
	st->fsyncs = sp->stat_fsyncs;
	st->dropped = sp->stat_dropped;
	st->full = sp->full;
	st->broken = sp->broken;
}

/* ----------------------------------------------------------- recovery */

struct recovery {
	uint64_t max_seq;
	uint64_t records;
	uint64_t dups;
	unsigned int torn;	    /* tails that hold no record */
	unsigned int damaged;	    /* regions stepped over */
	uint64_t damaged_bytes;	    /* their bytes */
	unsigned int bad_header;    /* segments read despite their header */
	unsigned int unreadable;    /* segments a read failed in */
	struct rs_spool_pos *first; /* per topic: first unretired */
	uint32_t nfirst;
};

static void note_first(struct recovery *rc, uint32_t topic,
		       const struct rs_spool_pos *pos)
{
	if (topic >= rc->nfirst) {
		uint32_t n = topic + 8;

		rc->first = xrealloc(rc->first, n * sizeof(*rc->first));
		for (uint32_t i = rc->nfirst; i < n; i++)
			rc->first[i] = (struct rs_spool_pos){ 0, 0 };
		rc->nfirst = n;
	}
	if (rc->first[topic].seg == 0)
		rc->first[topic] = *pos;
}

/* Keeps a copy of bytes [from, end) of a file beside it, once: the file
 * itself is not changed, but an operator may want to see what was there
 * after the segment is retired. */
static void keep_aside(struct rs_spool *sp, int fd, const char *name,
		       uint64_t from, uint64_t end, const char *suffix)
{
	char aside[96];
	uint8_t buf[65536];
	int out;

	snprintf(aside, sizeof(aside), "%s.%s-%" PRIu64, name, suffix, from);
	out = openat(sp->dirfd, aside, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		     0600);
	if (out < 0) {
		if (errno != EEXIST)
			log_warn("spool: cannot keep %s", aside);
		return;
	}
	for (uint64_t off = from; off < end;) {
		size_t want = end - off < sizeof(buf) ? (size_t)(end - off)
						      : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n <= 0 ||
		    spool_write_all(out, buf, (size_t)n, off - from) < 0)
			break;
		off += (uint64_t)n;
	}
	(void)fdatasync(out);
	close(out);
	(void)sync_dir(sp);
}

struct scan_ctx {
	struct rs_spool *sp;
	struct recovery *rc;
	struct rs_seg *s;
	const char *name;
};

static void on_scan_record(void *arg, uint64_t off, const struct rs_srec *r)
{
	struct scan_ctx *x = arg;
	struct rs_spool *sp = x->sp;
	uint32_t t;
	struct rs_spool_pos pos = { .seg = x->s->id, .off = off };

	if (r->seq <= x->rc->max_seq) {
		x->rc->dups++; /* rewritten after a failed sync */
		return;
	}
	t = rs_spool_topic(sp, r->topic, r->topic_len);
	x->rc->max_seq = r->seq;
	seg_note(x->s, t, r->seq);
	x->rc->records++;
	if (r->seq >= sp->topics[t].checkpoint) {
		sp->topics[t].pending++;
		note_first(x->rc, t, &pos);
	}
}

static void on_scan_damage(void *arg, uint64_t off, uint64_t len,
			   const char *why)
{
	struct scan_ctx *x = arg;

	seg_skip_add(x->s, off, len);
	keep_aside(x->sp, x->s->fd, x->name, off, off + len, "damaged");
	x->rc->damaged++;
	x->rc->damaged_bytes += len;
	log_warnx("spool: %s: %" PRIu64 " bytes at offset %" PRIu64
		  " hold no valid record (%s): the records they overlap are "
		  "lost, the records after them are kept (the bytes are in "
		  "%s.damaged-%" PRIu64 ")",
		  x->name, len, off, why, x->name, off);
}

/* Finds the records of one segment file. Damage costs only what it
 * overlaps; the file is read, never changed, except that space after the
 * last record that holds only zeros is given back. Returns the number of
 * records found. */
static uint64_t scan_segment(struct rs_spool *sp, struct recovery *rc,
			     struct rs_seg *s, int last, const char *name)
{
	static const struct rs_scan_ops ops = { on_scan_record,
						on_scan_damage };
	struct scan_ctx x = { sp, rc, s, name };
	struct rs_scan_result res;

	rs_seg_scan(s->fd, RS_SEG_HDR_SIZE, &ops, &x, &res);
	s->size = res.end;
	switch (res.tail) {
	case RS_SCAN_CLEAN:
		break;
	case RS_SCAN_ZEROS:
		/* allocated and never written: nothing to keep */
		if (ftruncate(s->fd, (off_t)res.end) < 0)
			log_warn("spool: truncate %s", name);
		break;
	case RS_SCAN_TORN:
		keep_aside(sp, s->fd, name, res.end, res.file_end, "torn");
		log_warnx(
			"spool: %s: %s at offset %" PRIu64 " (%s): %" PRIu64
			" bytes hold no whole record (kept in %s.torn-%" PRIu64
			"); the records before them are kept",
			name, last ? "torn tail" : "damaged tail", res.end,
			res.why, res.file_end - res.end, name, res.end);
		rc->torn++;
		break;
	case RS_SCAN_EIO:
		log_warnx("spool: %s: a read failed at offset %" PRIu64
			  ": its records from there on are read at the next "
			  "start, and it is not deleted until then",
			  name, res.end);
		s->keep = 1;
		rc->unreadable++;
		break;
	}
	return res.records;
}

static int parse_seg_name(const char *name, uint64_t *id)
{
	char *end;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
		return -1;
	errno = 0;
	*id = strtoull(name, &end, 16);
	return errno == 0 && end == name + 16 ? 0 : -1;
}

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int list_segments(struct rs_spool *sp, uint64_t **idsp, size_t *np)
{
	int fd = dup(sp->dirfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	uint64_t *ids = NULL, id;
	size_t n = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (parse_seg_name(de->d_name, &id) < 0)
			continue;
		ids = xrealloc(ids, (n + 1) * sizeof(*ids));
		ids[n++] = id;
	}
	closedir(d);
	if (n > 1)
		qsort(ids, n, sizeof(*ids), cmp_id);
	*idsp = ids;
	*np = n;
	return 0;
}

static void set_aside(struct rs_spool *sp, const char *name, const char *why)
{
	char aside[96];

	snprintf(aside, sizeof(aside), "%s.corrupt", name);
	if (renameat(sp->dirfd, name, sp->dirfd, aside) < 0)
		log_warn("spool: cannot move %s aside", name);
	else
		log_warnx("spool: %s: %s; moved to %s", name, why, aside);
	(void)sync_dir(sp);
}

static int all_zero(int fd, uint64_t from, uint64_t end)
{
	uint8_t buf[65536];

	while (from < end) {
		size_t want = end - from < sizeof(buf) ? (size_t)(end - from)
						       : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)from);

		if (n <= 0)
			return 0;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != 0)
				return 0;
		from += (uint64_t)n;
	}
	return 1;
}

/* A segment whose header is damaged: its records carry their own CRCs,
 * so they are read all the same (the file name gives the id). Returns 1
 * if it held any, else the file is not a segment and is set aside. */
static int recover_bad_header(struct rs_spool *sp, struct recovery *rc,
			      struct rs_seg *s, int last, const char *name,
			      const char *why)
{
	struct stat st;
	int64_t first;

	/* not one record anywhere: not a segment (nothing copied aside) */
	if (fstat(s->fd, &st) < 0)
		return 0;
	first = rs_seg_resync(s->fd, RS_SEG_HDR_SIZE, (uint64_t)st.st_size);
	if (first >= 0 && (uint64_t)first >= (uint64_t)st.st_size)
		return 0;
	/* a read error keeps it whatever was found (scan_segment says) */
	if (scan_segment(sp, rc, s, last, name) == 0 && !s->keep)
		return 0;
	s->created_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
			st.st_mtim.tv_nsec / 1000000;
	rc->bad_header++;
	log_warnx("spool: %s: %s; its %" PRIu64 " records are read all the "
		  "same (each has its own CRC)",
		  name, why, s->records);
	return 1;
}

static int recover(struct rs_spool *sp, struct recovery *rc)
{
	uint64_t *ids;
	size_t n;

	if (list_segments(sp, &ids, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct rs_seg_hdr h;
		struct rs_seg *s;
		const char *why;
		char name[32];
		ssize_t got;
		int fd;

		seg_name(ids[i], name, sizeof(name));
		/* its id is taken even if it cannot be read now: a new
		 * segment must never be created under its name */
		if (ids[i] >= sp->next_id)
			sp->next_id = ids[i] + 1;
		fd = openat(sp->dirfd, name, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			log_warn("spool: cannot open %s; its records are read "
				 "at the next start",
				 name);
			continue;
		}
		got = pread(fd, &h, sizeof(h), 0);
		if (got != (ssize_t)sizeof(h)) {
			/* created, then a crash before the header was
			 * durable: empty unless something else wrote it */
			struct stat st;
			int empty = got >= 0 && fstat(fd, &st) == 0 &&
				    all_zero(fd, 0, (uint64_t)st.st_size);

			close(fd);
			if (empty && unlinkat(sp->dirfd, name, 0) == 0)
				log_notice("spool: removed empty %s", name);
			else
				set_aside(sp, name,
					  "shorter than a segment header");
			continue;
		}
		why = NULL;
		if (rs_seg_hdr_check(&h, &why) == 0 && h.segment_id != ids[i])
			why = "header names another segment";
		s = seg_new(ids[i], fd, h.created_ms);
		if (why == NULL) {
			scan_segment(sp, rc, s, i + 1 == n, name);
		} else if (!recover_bad_header(sp, rc, s, i + 1 == n, name,
					       why)) {
			seg_free(s);
			set_aside(sp, name, why);
			continue;
		}
		segs_add(sp, s);
	}
	free(ids);
	if (rc->max_seq >= sp->next_seq)
		sp->next_seq = rc->max_seq + 1;
	return 0;
}

/* Records other users could write, or swap, are not records to send to
 * Kafka: the directory must be this process's and closed to others. */
static int check_owner(struct rs_spool *sp, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(sp->dirfd, &st) < 0) {
		snprintf(err, errlen, "spool_dir %s: %s", sp->dir,
			 strerror(errno));
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "spool_dir %s belongs to uid %u, not to ringsided's "
			 "uid %u",
			 sp->dir, (unsigned int)st.st_uid,
			 (unsigned int)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen,
			 "spool_dir %s is writable by its group or others "
			 "(mode %04o); chmod go-w it",
			 sp->dir, (unsigned int)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/*
 * One daemon per spool: a second one would delete the first one's live
 * segment as retired, or replay records the first is delivering. The lock
 * is the flock of a file in the directory, held until rs_spool_close()
 * (or the process's death: the kernel drops it, so a crash never leaves
 * the directory locked). The file holds the holder's pid for the message.
 */
static int lock_dir(struct rs_spool *sp, char *err, size_t errlen)
{
	char pid[32] = "";
	ssize_t n;
	int fd;

	fd = openat(sp->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "spool_dir %s: cannot open %s: %s",
			 sp->dir, LOCK_NAME, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (e == EWOULDBLOCK)
			snprintf(err, errlen,
				 "spool_dir %s is in use by another ringsided "
				 "(pid %s): each daemon needs a spool_dir of "
				 "its own",
				 sp->dir, pid[0] ? pid : "unknown");
		else
			snprintf(err, errlen,
				 "spool_dir %s: cannot lock %s: %s", sp->dir,
				 LOCK_NAME, strerror(e));
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("spool: cannot write %s/%s", sp->dir, LOCK_NAME);
	sp->lockfd = fd;
	return 0;
}

int rs_spool_open(const struct rs_spool_config *cfg, rs_spool_found_fn found,
		  void *arg, struct rs_spool **spp, char *err, size_t errlen)
{
	struct rs_spool *sp = calloc(1, sizeof(*sp));
	struct recovery rc = { 0 };
	struct rs_spool_stats st;
	int64_t t0 = rs_now_ms();

	if (sp == NULL)
		fatal("calloc");
	sp->cfg = *cfg;
	sp->dir = strdup(cfg->dir);
	if (sp->dir == NULL)
		fatal("strdup");
	sp->cfg.dir = sp->dir;
	sp->dirfd = -1;
	sp->lockfd = -1;
	sp->next_id = 1;
	sp->next_seq = 1;
	if (mkdir(sp->dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "spool_dir %s: %s", sp->dir,
			 strerror(errno));
		goto fail;
	}
	sp->dirfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		snprintf(err, errlen, "spool_dir %s: %s", sp->dir,
			 strerror(errno));
		goto fail;
	}
	if (check_owner(sp, err, errlen) < 0 || lock_dir(sp, err, errlen) < 0)
		goto fail;
	if (read_checkpoint(sp) < 0)
		log_warnx("spool: %s/%s is unreadable or corrupt: replaying "
			  "every record in the spool (duplicates possible)",
			  sp->dir, CHECKPOINT_NAME);
	if (recover(sp, &rc) < 0) {
		snprintf(err, errlen, "spool_dir %s: cannot list: %s", sp->dir,
			 strerror(errno));
		goto fail;
	}
	for (uint32_t t = 0; t < sp->ntopics; t++)
		sp->topics[t].durable = sp->topics[t].checkpoint;
	delete_retired(sp);
	make_reserve(sp);
	rs_spool_stats(sp, &st);
	log_notice("spool %s: %" PRIu64 " segments, %" PRIu64 " bytes, %" PRIu64
		   " records to deliver; recovered in %lld ms (torn tails %u, "
		   "damaged regions %u of %" PRIu64 " bytes, damaged segment "
		   "headers %u, unreadable segments %u, duplicates skipped "
		   "%" PRIu64 ")",
		   sp->dir, st.segments, st.bytes, st.records,
		   (long long)(rs_now_ms() - t0), rc.torn, rc.damaged,
		   rc.damaged_bytes, rc.bad_header, rc.unreadable, rc.dups);
	for (uint32_t t = 0; t < sp->ntopics; t++)
		if (t < rc.nfirst && sp->topics[t].pending > 0)
			found(arg, t, sp->topics[t].name, sp->topics[t].pending,
			      &rc.first[t]);
	free(rc.first);
	sp->last_sync_ms = sp->last_checkpoint_ms = t0;
	*spp = sp;
	return 0;
fail:
	free(rc.first);
	rs_spool_close(sp);
	return -1;
}

void rs_spool_close(struct rs_spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->lockfd >= 0) {
		if (!sp->broken && do_write(sp) == 0 &&
		    sp->cfg.fsync != RS_FSYNC_NEVER)
			(void)do_sync(sp);
		if (sp->broken && sp->len > 0)
			log_warnx("spool: %zu bytes could not be made durable "
				  "before exit",
				  sp->len);
		if (sp->checkpoint_dirty && write_checkpoint(sp) == 0)
			delete_retired(sp);
	}
	for (size_t i = 0; i < sp->nsegs; i++)
		seg_free(sp->segs[i]);
	free(sp->segs);
	for (uint32_t i = 0; i < sp->ntopics; i++)
		free(sp->topics[i].name);
	free(sp->topics);
	free(sp->buf);
	if (sp->lockfd >= 0)
		close(sp->lockfd); /* last: the lock goes with it */
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->dir);
	free(sp);
}

void rs_spool_reconfigure(struct rs_spool *sp,
			  const struct rs_spool_config *cfg)
{
	sp->cfg.fsync = cfg->fsync;
	sp->cfg.fsync_interval_ms = cfg->fsync_interval_ms;
	sp->cfg.max_bytes = cfg->max_bytes;
	sp->cfg.drop_oldest = cfg->drop_oldest;
}
