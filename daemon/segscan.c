/* SPDX-License-Identifier: MIT */
/*
 * segscan.c: the scan of one segment file described in segscan.h. The
 * file is hostile input: a length is believed only once the CRC over the
 * bytes it claims agrees, and every loop moves its offset forward, so a
 * scan of any file ends after at most one pass (plus the candidates the
 * resynchronisation tries, each bounded by the file).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "segscan.h"

#define WINDOW (1U << 20) /* bytes read at a time */

struct reader {
	int fd;
	uint64_t end;
	uint8_t *buf; /* owned */
	size_t cap;
	uint64_t boff; /* file offset of buf[0] */
	size_t blen;
	int error;
};

static void segscan_reader_free(struct reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* [off, off + want) of the file, as much of it as exists; NULL if a read
 * failed. *avail says how many bytes the pointer covers. */
static const uint8_t *segscan_reader_at(struct reader *r, uint64_t off,
					size_t want, size_t *avail)
{
	static const uint8_t none[8];
	size_t n, got = 0;

	if (off >= r->end) {
		*avail = 0;
		return none;
	}
	if (want > r->end - off)
		want = (size_t)(r->end - off);
	if (r->buf != NULL && off >= r->boff &&
	    off + want <= r->boff + r->blen) {
		*avail = (size_t)(r->boff + r->blen - off);
		return r->buf + (off - r->boff);
	}
	n = want > WINDOW ? want : WINDOW;
	if (n > r->end - off)
		n = (size_t)(r->end - off);
	if (n > r->cap) {
		uint8_t *b = realloc(r->buf, n);

		if (b == NULL)
			fatal("segscan: realloc %zu", n);
		r->buf = b;
		r->cap = n;
	}
	while (got < n) {
		ssize_t k =
			pread(r->fd, r->buf + got, n - got, (off_t)(off + got));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	r->boff = off;
	r->blen = got;
	if (got < want) {
		r->error = 1;
		return NULL;
	}
	*avail = got;
	return r->buf;
}

static uint32_t segscan_room32(uint64_t room)
{
	return room > UINT32_MAX ? UINT32_MAX : (uint32_t)room;
}

/* The record at off: RS_SREC_*, or -3 on a read error. */
static int segscan_reader_record(struct reader *r, uint64_t off,
				 struct rs_srec *out, const char **why)
{
	size_t avail;
	const uint8_t *p =
		segscan_reader_at(r, off, sizeof(struct rs_srec_hdr), &avail);
	uint32_t size;
	int k;

	if (p == NULL)
		return -3;
	*why = NULL;
	k = rs_srec_decode(p, avail, segscan_room32(r->end - off), out, why);
	if (k != RS_SREC_SHORT || avail < sizeof(struct rs_srec_hdr))
		return k;
	/* a record longer than the window: read all of it */
	memcpy(&size, p, sizeof(size));
	p = segscan_reader_at(r, off, size, &avail);
	if (p == NULL)
		return -3;
	return rs_srec_decode(p, avail, segscan_room32(r->end - off), out, why);
}

/* 1 if [off, end) is all zeros, 0 if not, -1 on a read error. */
static int segscan_reader_zeros(struct reader *r, uint64_t off)
{
	while (off < r->end) {
		size_t avail;
		const uint8_t *p = segscan_reader_at(r, off, WINDOW, &avail);

		if (p == NULL)
			return -1;
		for (size_t i = 0; i < avail; i++)
			if (p[i] != 0)
				return 0;
		off += avail;
	}
	return 1;
}

static int64_t segscan_reader_resync(struct reader *r, uint64_t from)
{
	uint64_t q = (from + 7) & ~(uint64_t)7;

	for (; q + sizeof(struct rs_srec_hdr) <= r->end; q += 8) {
		size_t avail;
		const uint8_t *p = segscan_reader_at(
			r, q, sizeof(struct rs_srec_hdr), &avail);
		struct rs_srec rec;
		const char *why;
		int k;

		if (p == NULL)
			return -1;
		if (!rs_srec_plausible(p, r->end - q))
			continue;
		k = segscan_reader_record(r, q, &rec, &why);
		if (k == -3)
			return -1;
		if (k == RS_SREC_OK || k == RS_SREC_HOLE)
			return (int64_t)q;
	}
	return (int64_t)r->end;
}

int64_t rs_seg_resync(int fd, uint64_t from, uint64_t end)
{
	struct reader r = { .fd = fd, .end = end };
	int64_t q = segscan_reader_resync(&r, from);

	segscan_reader_free(&r);
	return q;
}

int rs_seg_read_record(int fd, uint64_t off, uint64_t end, uint8_t **buf,
		       size_t *cap, struct rs_srec *out, const char **why)
{
	struct reader r = {
		.fd = fd,
		.end = end,
		.buf = *buf,
		.cap = *cap,
		.boff = 0,
	};
	int k = segscan_reader_record(&r, off, out, why);

	/* out points into r.buf: hand the buffer back, still alive */
	*buf = r.buf;
	*cap = r.cap;
	return k;
}

void rs_seg_scan(int fd, uint64_t from, const struct rs_scan_ops *ops,
		 void *arg, struct rs_scan_result *res)
{
	struct stat st;
	struct reader r = { .fd = fd };
	uint64_t off = from;

	memset(res, 0, sizeof(*res));
	if (fstat(fd, &st) < 0) {
		res->tail = RS_SCAN_EIO;
		res->end = from;
		return;
	}
	r.end = res->file_end = (uint64_t)st.st_size;
	while (off < r.end) {
		struct rs_srec rec;
		const char *why = NULL;
		int64_t next;
		int k = segscan_reader_record(&r, off, &rec, &why);

		if (k == RS_SREC_OK) {
			ops->record(arg, off, &rec);
			res->records++;
			off += rec.size;
			continue;
		}
		if (k == RS_SREC_HOLE) {
			res->holes++;
			off += rec.size;
			continue;
		}
		if (k == -3)
			break;
		if (k == RS_SREC_END) {
			int z = segscan_reader_zeros(&r, off);

			if (z < 0)
				break;
			if (z == 1) {
				res->tail = RS_SCAN_ZEROS;
				break;
			}
			why = "zeros followed by data";
		}
		next = segscan_reader_resync(&r, off + 8);
		if (next < 0)
			break;
		if ((uint64_t)next >= r.end) {
			res->tail = RS_SCAN_TORN;
			res->why = why != NULL ? why : "unreadable record";
			break;
		}
		ops->damage(arg, off, (uint64_t)next - off,
			    why != NULL ? why : "unreadable record");
		res->damaged++;
		res->damaged_bytes += (uint64_t)next - off;
		off = (uint64_t)next;
	}
	if (r.error)
		res->tail = RS_SCAN_EIO;
	res->end = off;
	segscan_reader_free(&r);
}
