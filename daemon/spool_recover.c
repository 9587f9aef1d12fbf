/* SPDX-License-Identifier: MIT */
/*
 * spool_recover.c: opening a spool: the directory's owner and lock, the
 * checkpoint, and recovery, which reads every segment file back into
 * memory (records per topic, damaged regions to step over) without giving
 * up on more than the damage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/ringside_clock.h"
#include "log.h"
#include "segscan.h"
#include "spool.h"
#include "spool_impl.h"

#define LOCK_NAME "lock"

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

static void spool_note_first(struct recovery *rc, uint32_t topic,
			     const struct rs_spool_pos *pos)
{
	if (topic >= rc->nfirst) {
		uint32_t n = topic + 8;

		rc->first = spool_xrealloc(rc->first, n * sizeof(*rc->first));
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
static void spool_keep_aside(struct rs_spool *sp, int fd, const char *name,
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
	(void)spool_sync_dir(sp);
}

struct scan_ctx {
	struct rs_spool *sp;
	struct recovery *rc;
	struct rs_seg *s;
	const char *name;
};

static void spool_on_scan_record(void *arg, uint64_t off,
				 const struct rs_srec *r)
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
	spool_seg_note(x->s, t, r->seq);
	x->rc->records++;
	if (r->seq >= sp->topics[t].checkpoint) {
		sp->topics[t].pending++;
		spool_note_first(x->rc, t, &pos);
	}
}

static void spool_on_scan_damage(void *arg, uint64_t off, uint64_t len,
				 const char *why)
{
	struct scan_ctx *x = arg;

	spool_seg_skip_add(x->s, off, len);
	spool_keep_aside(x->sp, x->s->fd, x->name, off, off + len, "damaged");
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
static uint64_t spool_scan_segment(struct rs_spool *sp, struct recovery *rc,
				   struct rs_seg *s, int last, const char *name)
{
	static const struct rs_scan_ops ops = { spool_on_scan_record,
						spool_on_scan_damage };
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
		spool_keep_aside(sp, s->fd, name, res.end, res.file_end,
				 "torn");
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

static int spool_parse_seg_name(const char *name, uint64_t *id)
{
	char *end;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
		return -1;
	errno = 0;
	*id = strtoull(name, &end, 16);
	return errno == 0 && end == name + 16 ? 0 : -1;
}

static int spool_cmp_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int spool_list_segments(struct rs_spool *sp, uint64_t **idsp, size_t *np)
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
		if (spool_parse_seg_name(de->d_name, &id) < 0)
			continue;
		ids = spool_xrealloc(ids, (n + 1) * sizeof(*ids));
		ids[n++] = id;
	}
	closedir(d);
	if (n > 1)
		qsort(ids, n, sizeof(*ids), spool_cmp_id);
	*idsp = ids;
	*np = n;
	return 0;
}

static void spool_set_aside(struct rs_spool *sp, const char *name,
			    const char *why)
{
	char aside[96];

	snprintf(aside, sizeof(aside), "%s.corrupt", name);
	if (renameat(sp->dirfd, name, sp->dirfd, aside) < 0)
		log_warn("spool: cannot move %s aside", name);
	else
		log_warnx("spool: %s: %s; moved to %s", name, why, aside);
	(void)spool_sync_dir(sp);
}

static int spool_all_zero(int fd, uint64_t from, uint64_t end)
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
static int spool_recover_bad_header(struct rs_spool *sp, struct recovery *rc,
				    struct rs_seg *s, int last,
				    const char *name, const char *why)
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
	if (spool_scan_segment(sp, rc, s, last, name) == 0 && !s->keep)
		return 0;
	s->created_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
			st.st_mtim.tv_nsec / 1000000;
	rc->bad_header++;
	log_warnx("spool: %s: %s; its %" PRIu64 " records are read all the "
		  "same (each has its own CRC)",
		  name, why, s->records);
	return 1;
}

static int spool_recover_segments(struct rs_spool *sp, struct recovery *rc)
{
	uint64_t *ids;
	size_t n;

	if (spool_list_segments(sp, &ids, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct rs_seg_hdr h;
		struct rs_seg *s;
		const char *why;
		char name[32];
		ssize_t got;
		int fd;

		spool_seg_name(ids[i], name, sizeof(name));
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
				    spool_all_zero(fd, 0, (uint64_t)st.st_size);

			close(fd);
			if (empty && unlinkat(sp->dirfd, name, 0) == 0)
				log_notice("spool: removed empty %s", name);
			else
				spool_set_aside(
					sp, name,
					"shorter than a segment header");
			continue;
		}
		why = NULL;
		if (rs_seg_hdr_check(&h, &why) == 0 && h.segment_id != ids[i])
			why = "header names another segment";
		s = spool_seg_new(ids[i], fd, h.created_ms);
		if (why == NULL) {
			spool_scan_segment(sp, rc, s, i + 1 == n, name);
		} else if (!spool_recover_bad_header(sp, rc, s, i + 1 == n,
						     name, why)) {
			spool_seg_free(s);
			spool_set_aside(sp, name, why);
			continue;
		}
		spool_segs_add(sp, s);
	}
	free(ids);
	if (rc->max_seq >= sp->next_seq)
		sp->next_seq = rc->max_seq + 1;
	return 0;
}

int rs_spool_dir_ok(const char *dir, const struct stat *st, char *err,
		    size_t errlen)
{
	if (st->st_uid != geteuid()) {
		snprintf(err, errlen,
			 "spool_dir %s belongs to uid %u, not to ringsided's "
			 "uid %u",
			 dir, (unsigned int)st->st_uid,
			 (unsigned int)geteuid());
		return -1;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen,
			 "spool_dir %s is writable by its group or others "
			 "(mode %04o); chmod go-w it",
			 dir, (unsigned int)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

static int spool_check_owner(struct rs_spool *sp, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(sp->dirfd, &st) < 0) {
		snprintf(err, errlen, "spool_dir %s: %s", sp->dir,
			 strerror(errno));
		return -1;
	}
	return rs_spool_dir_ok(sp->dir, &st, err, errlen);
}

/*
 * One daemon per spool: a second one would delete the first one's live
 * segment as retired, or replay records the first is delivering. The lock
 * is the flock of a file in the directory, held until rs_spool_close()
 * (or the process's death: the kernel drops it, so a crash never leaves
 * the directory locked). The file holds the holder's pid for the message.
 */
static int spool_lock_dir(struct rs_spool *sp, char *err, size_t errlen)
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
	if (spool_check_owner(sp, err, errlen) < 0 ||
	    spool_lock_dir(sp, err, errlen) < 0)
		goto fail;
	if (spool_read_checkpoint(sp) < 0)
		log_warnx("spool: %s/%s is unreadable or corrupt: replaying "
			  "every record in the spool (duplicates possible)",
			  sp->dir, CHECKPOINT_NAME);
	if (spool_recover_segments(sp, &rc) < 0) {
		snprintf(err, errlen, "spool_dir %s: cannot list: %s", sp->dir,
			 strerror(errno));
		goto fail;
	}
	for (uint32_t t = 0; t < sp->ntopics; t++)
		sp->topics[t].durable = sp->topics[t].checkpoint;
	spool_delete_retired(sp);
	spool_make_reserve(sp);
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
