/* SPDX-License-Identifier: MIT */
/*
 * spool_read.c: per-topic cursors over the segment files. A cursor reads
 * its topic's records in sequence order, steps over regions recovery (or
 * an earlier read) found damaged, and stops where the writer is.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "segscan.h"
#include "spool.h"
#include "spool_impl.h"

#define READ_CHUNK (256U << 10)

/* The segment of id, or NULL if it is gone. */
static struct rs_seg *spool_seg_find(struct rs_spool *sp, uint64_t id)
{
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i]->id == id)
			return sp->segs[i];
	return NULL;
}

/* The length of the skipped region starting at off, or 0. */
static uint64_t spool_seg_skip_at(const struct rs_seg *s, uint64_t off)
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
static struct rs_seg *spool_next_seg(struct rs_spool *sp, uint64_t id,
				     uint32_t topic)
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
static ssize_t spool_fill(struct rs_spool_cursor *c, struct rs_seg *s,
			  size_t want)
{
	uint64_t limit = s->size;
	size_t n, got = 0;

	if (c->buf_pos.seg == s->id && c->pos.off >= c->buf_pos.off &&
	    c->pos.off + want <= c->buf_pos.off + c->len)
		return (ssize_t)(c->buf_pos.off + c->len - c->pos.off);
	if (want < READ_CHUNK)
		want = READ_CHUNK;
	if (c->cap < want) {
		c->buf = spool_xrealloc(c->buf, want);
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
static int spool_cursor_record(struct rs_spool_cursor *c, struct rs_seg *s,
			       struct rs_srec *rec, const char **why)
{
	uint64_t room = s->size - c->pos.off;
	uint32_t max = room > UINT32_MAX ? UINT32_MAX : (uint32_t)room;
	ssize_t avail = spool_fill(c, s, sizeof(struct rs_srec_hdr));
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
	avail = spool_fill(c, s, need);
	if (avail < 0)
		return -3;
	return rs_srec_decode(c->buf + (c->pos.off - c->buf_pos.off),
			      (size_t)avail, max, rec, why);
}

static int spool_topic_is(const struct rs_spool *sp, uint32_t topic,
			  const struct rs_srec *r)
{
	const char *name = sp->topics[topic].name;

	return strlen(name) == r->topic_len &&
	       memcmp(name, r->topic, r->topic_len) == 0;
}

/* Damage a reader met that recovery did not see (the disk changed since,
 * or a segment of this run lost pages after a failed sync): the region up
 * to the next valid record is skipped from now on. */
static int spool_cursor_damage(struct rs_spool_cursor *c, struct rs_seg *s,
			       const char *why)
{
	int64_t next = rs_seg_resync(s->fd, c->pos.off + 8, s->size);

	if (next < 0)
		return RS_SPOOL_NEXT_EIO;
	log_warnx("spool: segment %" PRIu64 ": %" PRIu64 " bytes at offset "
		  "%" PRIu64 " hold no valid record (%s); the records after "
		  "them are read on",
		  s->id, (uint64_t)next - c->pos.off, c->pos.off, why);
	spool_seg_skip_add(s, c->pos.off, (uint64_t)next - c->pos.off);
	c->pos.off = (uint64_t)next;
	return RS_SPOOL_NEXT_DAMAGED;
}

int rs_spool_next(struct rs_spool *sp, struct rs_spool_cursor *c,
		  struct rs_srec *rec, struct rs_spool_pos *pos)
{
	for (;;) {
		struct rs_seg *s = spool_seg_find(sp, c->pos.seg);
		const char *why = NULL;
		uint64_t skip;
		int k;

		if (s == NULL || c->pos.off >= s->size) {
			struct rs_seg *n;

			if (s != NULL && s == sp->active)
				return 0; /* caught up with the writer */
			n = spool_next_seg(sp, c->pos.seg, c->topic);
			if (n == NULL)
				return 0;
			c->pos.seg = n->id;
			c->pos.off = RS_SEG_HDR_SIZE;
			continue;
		}
		if (c->pos.off < RS_SEG_HDR_SIZE)
			c->pos.off = RS_SEG_HDR_SIZE;
		skip = spool_seg_skip_at(s, c->pos.off);
		if (skip > 0) {
			c->pos.off += skip;
			continue;
		}
		k = spool_cursor_record(c, s, rec, &why);
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
			return spool_cursor_damage(
				c, s,
				why != NULL ? why
					    : "zeros where records "
					      "were written");
		pos->seg = s->id;
		pos->off = c->pos.off;
		c->pos.off += rec->size;
		if (rec->seq <= c->last_seq ||
		    !spool_topic_is(sp, c->topic, rec))
			continue;
		c->last_seq = rec->seq;
		return 1;
	}
}
