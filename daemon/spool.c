/* SPDX-License-Identifier: MIT */
/*
 * spool.c: the spool's writer: topics, segment files, appends, writes,
 * syncs and rotation, and the tick that drives syncs and checkpoints.
 * Readers are in spool_read.c, retiring and checkpoints in
 * spool_retire.c, opening and recovery in spool_recover.c; the state they
 * share is in spool_impl.h.
 *
 * Storage rules the spool keeps (each learned by someone the hard way):
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
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/ringside_clock.h"
#include "log.h"
#include "spool.h"
#include "spool_impl.h"

#define CHECKPOINT_EVERY_MS 100
#define RETRY_EVERY_MS 1000
#define UNSYNCED_MAX (32U << 20) /* force a write past this much */

void *spool_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		fatal("spool: realloc %zu", n);
	return q;
}

void spool_seg_name(uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 ".seg", id);
}

int spool_sync_dir(struct rs_spool *sp)
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
	sp->topics = spool_xrealloc(sp->topics,
				    (sp->ntopics + 1) * sizeof(*sp->topics));
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

void spool_seg_note(struct rs_seg *s, uint32_t topic, uint64_t seq)
{
	if (topic >= s->ntopics) {
		uint32_t n = topic + 8;

		s->tcount = spool_xrealloc(s->tcount, n * sizeof(*s->tcount));
		s->tmax = spool_xrealloc(s->tmax, n * sizeof(*s->tmax));
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

void spool_seg_free(struct rs_seg *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->skips);
	free(s->tcount);
	free(s->tmax);
	free(s);
}

struct rs_seg *spool_seg_new(uint64_t id, int fd, int64_t created_ms)
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

void spool_segs_add(struct rs_spool *sp, struct rs_seg *s)
{
	sp->segs =
		spool_xrealloc(sp->segs, (sp->nsegs + 1) * sizeof(*sp->segs));
	sp->segs[sp->nsegs++] = s;
}

/* Readers step over [off, off + len) of s from now on. */
void spool_seg_skip_add(struct rs_seg *s, uint64_t off, uint64_t len)
{
	size_t i = s->nskips;

	s->skips =
		spool_xrealloc(s->skips, (s->nskips + 1) * sizeof(*s->skips));
	while (i > 0 && s->skips[i - 1].off > off) {
		s->skips[i] = s->skips[i - 1];
		i--;
	}
	s->skips[i].off = off;
	s->skips[i].len = len;
	s->nskips++;
}

/* ------------------------------------------------------------ writing */

/* Writes len bytes at off, retrying short writes. */
int spool_write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
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

int spool_capacity_ok(struct rs_spool *sp)
{
	return (sp->nsegs + 1) * sp->cfg.segment_bytes <= sp->cfg.max_bytes;
}

/* Makes room for one more segment by dropping the oldest ones, if the
 * operator chose that over refusing records. */
static int spool_make_room(struct rs_spool *sp)
{
	while (!spool_capacity_ok(sp)) {
		if (!sp->cfg.drop_oldest || sp->nsegs == 0 ||
		    sp->segs[0] == sp->active)
			return -1;
		spool_drop_segment(sp, 0,
				   "spool full, spool_full = drop_oldest");
	}
	return 0;
}

/*
 * Creates the next segment file, preallocated and durable. A rewrite
 * after a failed write may go one segment past spool_max_bytes: the
 * records it saves are already counted in the segment that failed, which
 * cannot retire before they are delivered.
 */
static struct rs_seg *spool_create_segment(struct rs_spool *sp, int rewrite,
					   int *full)
{
	struct rs_seg_hdr h;
	char name[32];
	int fd, err;

	*full = 0;
	if (rewrite ? (sp->nsegs * sp->cfg.segment_bytes > sp->cfg.max_bytes)
		    : spool_make_room(sp) < 0) {
		*full = 1;
		return NULL;
	}
	spool_seg_name(sp->next_id, name, sizeof(name));
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
	if (spool_sync_dir(sp) < 0)
		goto fail;
	sp->next_id++;
	return spool_seg_new(sp->next_id - 1, fd, h.created_ms);
fail:
	close(fd);
	(void)unlinkat(sp->dirfd, name, 0);
	return NULL;
}

/* A segment could not be created (full: for want of space), or a write
 * failed (broken). Retried every RETRY_EVERY_MS, and at once when space
 * is freed. */
static void spool_set_failed(struct rs_spool *sp, int full, int broken)
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
static void spool_note_buffered(struct rs_spool *sp, struct rs_seg *s)
{
	for (size_t off = 0; off < sp->len;) {
		struct rs_srec r;
		const char *why;

		if (rs_srec_decode(sp->buf + off, sp->len - off,
				   sp->cfg.max_record, &r, &why) != RS_SREC_OK)
			break; /* cannot happen: we encoded them */
		spool_seg_note(s, rs_spool_topic(sp, r.topic, r.topic_len),
			       r.seq);
		off += r.size;
	}
}

/* Moves the unsynced bytes into a fresh segment after a failed write or
 * sync: nothing since the last good sync may be trusted to be on disk. */
static int spool_rewrite_unsynced(struct rs_spool *sp)
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
	s = spool_create_segment(sp, 1, &full);
	if (s == NULL) {
		spool_set_failed(sp, full, 1);
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
		spool_seg_name(s->id, name, sizeof(name));
		spool_seg_free(s);
		if (unlinkat(sp->dirfd, name, 0) == 0)
			(void)spool_sync_dir(sp);
		spool_set_failed(sp, space, 1);
		return RS_SPOOL_EBROKEN;
	}
	spool_segs_add(sp, s);
	/* the rewritten records' sequences repeat the old segment's tail;
	 * cursors and recovery skip a sequence they have already seen */
	spool_note_buffered(sp, s);
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

static int spool_do_sync(struct rs_spool *sp)
{
	if (sp->active == NULL || sp->synced_seq == sp->written_seq)
		return 0;
	if (fdatasync(sp->active->fd) < 0) {
		log_warn("spool: fdatasync of segment %" PRIu64
			 " failed; its unsynced records are rewritten",
			 sp->active->id);
		return spool_rewrite_unsynced(sp);
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

static int spool_do_write(struct rs_spool *sp)
{
	if (sp->active == NULL || sp->len == sp->wlen)
		return sp->broken ? RS_SPOOL_EBROKEN : 0;
	if (spool_write_all(sp->active->fd, sp->buf + sp->wlen,
			    sp->len - sp->wlen, sp->buf_off + sp->wlen) < 0) {
		log_warn("spool: write to segment %" PRIu64 " failed",
			 sp->active->id);
		return spool_rewrite_unsynced(sp);
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
	if (spool_do_write(sp) < 0)
		return RS_SPOOL_EBROKEN;
	if (sp->cfg.fsync == RS_FSYNC_ALWAYS && spool_do_sync(sp) < 0)
		return RS_SPOOL_EBROKEN;
	return 0;
}

uint64_t rs_spool_committed(const struct rs_spool *sp)
{
	return sp->cfg.fsync == RS_FSYNC_ALWAYS ? sp->synced_seq
						: sp->written_seq;
}

/* Finishes the active segment and starts the next one. */
static int spool_rotate(struct rs_spool *sp)
{
	struct rs_seg *s;
	int full;

	if (sp->broken)
		return RS_SPOOL_EBROKEN;
	if (sp->active != NULL) {
		if (spool_do_write(sp) < 0)
			return RS_SPOOL_EBROKEN;
		if (sp->cfg.fsync != RS_FSYNC_NEVER && spool_do_sync(sp) < 0)
			return RS_SPOOL_EBROKEN;
	}
	if (sp->len > 0) {
		/* bytes no file holds yet must never be discarded */
		log_warnx("spool: %zu buffered bytes at a rotation; rewriting",
			  sp->len);
		return spool_rewrite_unsynced(sp);
	}
	s = spool_create_segment(sp, 0, &full);
	if (s == NULL) {
		/* nothing is buffered: a retry later loses nothing */
		spool_set_failed(sp, full, !full);
		return full ? RS_SPOOL_EFULL : RS_SPOOL_EBROKEN;
	}
	spool_segs_add(sp, s);
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
		err = spool_rotate(sp);
		if (err < 0)
			return err;
	}
	if (sp->len + size > sp->cap) {
		sp->cap = sp->cap ? sp->cap : 1U << 20;
		while (sp->cap < sp->len + size)
			sp->cap *= 2;
		sp->buf = spool_xrealloc(sp->buf, sp->cap);
	}
	*seq = sp->next_seq++;
	pos->seg = sp->active->id;
	pos->off = sp->buf_off + sp->len;
	rs_srec_encode(in, *seq, sp->buf + sp->len);
	if (sp->buf_first_seq == 0)
		sp->buf_first_seq = *seq;
	sp->len += size;
	sp->appended_seq = *seq;
	spool_seg_note(sp->active, topic, *seq);
	sp->topics[topic].pending++;
	sp->stat_appended++;
	/* bound what is kept in memory between syncs */
	if (sp->len - sp->wlen > UNSYNCED_MAX)
		(void)rs_spool_commit(sp);
	if (sp->len > 2 * UNSYNCED_MAX && !sp->broken)
		(void)spool_do_sync(sp);
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

void rs_spool_tick(struct rs_spool *sp, int64_t now_ms)
{
	if (sp->broken && now_ms >= sp->next_retry_ms) {
		if (spool_rewrite_unsynced(sp) == 0)
			log_notice("spool: writing again");
	}
	if (!sp->broken && sp->cfg.fsync == RS_FSYNC_INTERVAL &&
	    now_ms - sp->last_sync_ms >= sp->cfg.fsync_interval_ms) {
		if (spool_do_write(sp) == 0)
			(void)spool_do_sync(sp);
	}
	if (sp->full && now_ms >= sp->next_retry_ms) {
		sp->full = !spool_capacity_ok(sp);
		sp->next_retry_ms = now_ms + RETRY_EVERY_MS;
	}
	/* a full spool frees delivered segments at once, not each second */
	if (sp->checkpoint_dirty &&
	    (now_ms - sp->last_checkpoint_ms >= CHECKPOINT_EVERY_MS ||
	     (sp->full && !sp->checkpoint_failing)) &&
	    spool_write_checkpoint(sp) == 0)
		spool_delete_retired(sp);
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
	st->dropped_ms = sp->dropped_ms;
	st->full = sp->full;
	st->broken = sp->broken;
}

void rs_spool_close(struct rs_spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->lockfd >= 0) {
		if (!sp->broken && spool_do_write(sp) == 0 &&
		    sp->cfg.fsync != RS_FSYNC_NEVER)
			(void)spool_do_sync(sp);
		if (sp->broken && sp->len > 0)
			log_warnx("spool: %zu bytes could not be made durable "
				  "before exit",
				  sp->len);
		if (sp->checkpoint_dirty && spool_write_checkpoint(sp) == 0)
			spool_delete_retired(sp);
	}
	for (size_t i = 0; i < sp->nsegs; i++)
		spool_seg_free(sp->segs[i]);
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
