/* SPDX-License-Identifier: MIT */
/*
 * spool_retire.c: retiring delivered records. Each topic's checkpoint
 * (every record below it is finished) is written durably, and a segment
 * is deleted only once a durable checkpoint retires all of its records;
 * spool_full = drop_oldest drops whole segments here too. The space
 * reserved for the checkpoint on a full disk is kept here.
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

/*
 * Space set aside for the checkpoint. On a full filesystem the checkpoint
 * cannot be rewritten, and without a new checkpoint no delivered segment
 * may be deleted: deleting this file breaks that deadlock.
 */
#define RESERVE_NAME "reserve"
#define RESERVE_BYTES (256 * 1024)

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

void spool_make_reserve(struct rs_spool *sp)
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
static int spool_topic_on_disk(const struct rs_spool *sp, uint32_t topic)
{
	for (size_t i = 0; i < sp->nsegs; i++)
		if (topic < sp->segs[i]->ntopics &&
		    sp->segs[i]->tcount[topic] > 0)
			return 1;
	return 0;
}

int spool_write_checkpoint(struct rs_spool *sp)
{
	struct rs_checkpoint_entry *v =
		spool_xrealloc(NULL, sp->ntopics * sizeof(*v));
	size_t n = 0;
	int rc;

	for (uint32_t i = 0; i < sp->ntopics; i++) {
		if (sp->topics[i].checkpoint == 0 ||
		    !spool_topic_on_disk(sp, i))
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
	    spool_sync_dir(sp) < 0) {
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

static void spool_on_checkpoint_topic(void *arg, const char *name, uint64_t seq)
{
	struct rs_spool *sp = arg;
	uint32_t t = rs_spool_topic(sp, name, strlen(name));

	sp->topics[t].checkpoint = seq;
	sp->topics[t].durable = seq;
}

int spool_read_checkpoint(struct rs_spool *sp)
{
	uint64_t next = 0;
	int rc = rs_checkpoint_read(sp->dirfd, &next, spool_on_checkpoint_topic,
				    sp);

	if (rc == 0 && next > sp->next_seq)
		sp->next_seq = next;
	return rc < 0 ? -1 : 0;
}

static int spool_seg_retired(const struct rs_spool *sp, const struct rs_seg *s)
{
	if (s->keep)
		return 0;
	for (uint32_t t = 0; t < s->ntopics; t++)
		if (s->tcount[t] > 0 && sp->topics[t].durable <= s->tmax[t])
			return 0;
	return 1;
}

static void spool_remove_seg_at(struct rs_spool *sp, size_t i)
{
	spool_seg_free(sp->segs[i]);
	memmove(&sp->segs[i], &sp->segs[i + 1],
		(sp->nsegs - i - 1) * sizeof(*sp->segs));
	sp->nsegs--;
}

/* Counts what drop_oldest throws away, per topic, and moves each topic's
 * checkpoint past it so no cursor waits for it. */
void spool_drop_segment(struct rs_spool *sp, size_t i, const char *why)
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
	spool_seg_name(s->id, name, sizeof(name));
	log_warnx("spool: dropping segment %s (%s): up to %" PRIu64
		  " undelivered records lost",
		  name, why, lost);
	sp->stat_dropped += lost;
	sp->dropped_ms = rs_now_ms();
	(void)spool_write_checkpoint(sp);
	if (unlinkat(sp->dirfd, name, 0) < 0)
		log_warn("spool: unlink %s", name);
	(void)spool_sync_dir(sp);
	spool_remove_seg_at(sp, i);
}

/* Deletes segments whose every record a durable checkpoint has retired. */
void spool_delete_retired(struct rs_spool *sp)
{
	int removed = 0;

	for (size_t i = 0; i < sp->nsegs;) {
		struct rs_seg *s = sp->segs[i];
		char name[32];

		if (s == sp->active || !spool_seg_retired(sp, s)) {
			i++;
			continue;
		}
		spool_seg_name(s->id, name, sizeof(name));
		if (unlinkat(sp->dirfd, name, 0) < 0 && errno != ENOENT) {
			log_warn("spool: unlink %s", name);
			i++;
			continue;
		}
		log_debug("spool: segment %s retired", name);
		spool_remove_seg_at(sp, i);
		removed = 1;
	}
	if (removed) {
		(void)spool_sync_dir(sp);
		if (!sp->have_reserve)
			spool_make_reserve(sp);
		if (sp->full && spool_capacity_ok(sp)) {
			sp->full = 0;
			log_notice("spool: space freed; accepting records");
		}
		/* records waiting in memory for a rewrite go first */
		if (sp->broken)
			sp->next_retry_ms = 0;
	}
}
