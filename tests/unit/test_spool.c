/* SPDX-License-Identifier: MIT */
/*
 * test_spool.c: the spool's on-disk format and its recovery. Records are
 * encoded and decoded exactly; every damage a record can take is refused
 * with a reason. Spools written by the real code are then damaged the way
 * crashes and disks damage them (a torn tail, a flipped bit in an older
 * segment, a segment rewritten after a failed sync, a garbled checkpoint,
 * a file that is not a segment) and reopened: what can be read is
 * replayed, in order and once; what cannot is kept aside, never deleted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/ringside_proto.h"
#include "daemon/crc32c.h"
#include "daemon/segment.h"
#include "daemon/spool.h"
#include "spool_fixture.h"

#define MAX_RECORD 4096

/*
 * Failing disks, injected: these definitions take the place of libc's for
 * the spool code linked into this program. Each fails its next N calls
 * with EIO, as a disk does after a write error, then passes through.
 */
static int fail_fdatasync, fail_pwrite, fail_fallocate;
static unsigned int fdatasync_calls;

/* a full disk: segments cannot be preallocated */
int fallocate(int fd, int mode, off_t off, off_t len)
{
	if (fail_fallocate > 0) {
		fail_fallocate--;
		errno = ENOSPC;
		return -1;
	}
	return (int)syscall(SYS_fallocate, fd, mode, off, len);
}

int fdatasync(int fd)
{
	fdatasync_calls++;
	if (fail_fdatasync > 0) {
		fail_fdatasync--;
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (fail_pwrite > 0) {
		fail_pwrite--;
		errno = EIO;
		return -1;
	}
	return (ssize_t)syscall(SYS_pwrite64, fd, buf, n, off);
}

/* ------------------------------------------------------ record format */

static uint8_t *encode(const struct rs_srec_in *in, uint64_t seq,
		       uint32_t *size)
{
	uint8_t *buf;

	*size = rs_srec_size(in);
	buf = malloc(*size + 64);
	assert_non_null(buf);
	memset(buf, 0xee, *size + 64);
	rs_srec_encode(in, seq, buf);
	return buf;
}

static void test_record_round_trip(void **state)
{
	/* one header, "h1" = "v", in the ring's wire format */
	static const uint8_t hdrs[] = { 2, 0, 0, 0, 1, 0, 0, 0, 'h', '1', 'v' };
	struct rs_srec_in in = {
		.topic = "orders",
		.topic_len = 6,
		.session_id = 0x1122334455667788ULL,
		.opaque = 42,
		.timestamp = 1700000000123LL,
		.partition = 3,
		.headers = hdrs,
		.header_bytes = sizeof(hdrs),
		.header_count = 1,
		.key = "key-1",
		.key_len = 5,
		.value = "a value",
		.value_len = 7,
	};
	struct rs_srec r;
	const char *why = NULL;
	uint32_t size;
	uint8_t *buf = encode(&in, 99, &size);

	(void)state;
	assert_int_equal(size % 8, 0);
	assert_int_equal(rs_srec_decode(buf, size, MAX_RECORD, &r, &why),
			 RS_SREC_OK);
	assert_int_equal(r.size, size);
	assert_int_equal(r.seq, 99);
	assert_int_equal(r.session_id, in.session_id);
	assert_int_equal(r.opaque, 42);
	assert_int_equal(r.timestamp, in.timestamp);
	assert_int_equal(r.partition, 3);
	assert_int_equal(r.flags & RS_SREC_F_PARTITION, RS_SREC_F_PARTITION);
	assert_int_equal(r.topic_len, 6);
	assert_memory_equal(r.topic, "orders", 6);
	assert_int_equal(r.header_count, 1);
	assert_int_equal(r.header_bytes, sizeof(hdrs));
	assert_memory_equal(r.headers, hdrs, sizeof(hdrs));
	assert_int_equal(r.key_len, 5);
	assert_memory_equal(r.key, "key-1", 5);
	assert_int_equal(r.value_len, 7);
	assert_memory_equal(r.value, "a value", 7);
	free(buf);

	/* no key, a null value (a tombstone), the partitioner decides */
	in.key = NULL;
	in.key_len = RINGSIDE_NULL_LEN;
	in.value = NULL;
	in.value_len = RINGSIDE_NULL_LEN;
	in.partition = -1;
	in.headers = NULL;
	in.header_bytes = 0;
	in.header_count = 0;
	buf = encode(&in, 100, &size);
	assert_int_equal(rs_srec_decode(buf, size, MAX_RECORD, &r, &why),
			 RS_SREC_OK);
	assert_null(r.key);
	assert_null(r.value);
	assert_int_equal(r.flags & RS_SREC_F_PARTITION, 0);
	free(buf);

	/* an empty key is not a missing one */
	in.key = "";
	in.key_len = 0;
	buf = encode(&in, 101, &size);
	assert_int_equal(rs_srec_decode(buf, size, MAX_RECORD, &r, &why),
			 RS_SREC_OK);
	assert_non_null(r.key);
	assert_int_equal(r.key_len, 0);
	assert_null(r.value);
	free(buf);
}

static const struct rs_srec_in plain = {
	.topic = "t",
	.topic_len = 1,
	.partition = -1,
	.key = "k",
	.key_len = 1,
	.value = "0123456789abcdef0123456789",
	.value_len = 26,
};

static int decode_damaged(size_t at, uint8_t xor_with, size_t len_cut,
			  const char **why)
{
	struct rs_srec r;
	uint32_t size;
	uint8_t *buf = encode(&plain, 7, &size);
	int k;

	buf[at] ^= xor_with;
	*why = NULL;
	k = rs_srec_decode(buf, size - len_cut, MAX_RECORD, &r, why);
	free(buf);
	return k;
}

static void test_record_damage(void **state)
{
	const struct rs_srec_hdr *h = NULL;
	struct rs_srec r;
	const char *why;
	uint8_t zeros[128] = { 0 };
	uint32_t size;
	uint8_t *buf;

	(void)state;
	/* a flipped bit anywhere after the CRC field fails the CRC */
	for (size_t at = 8; at < 64 + 1 + 1 + 26; at += 5) {
		assert_int_equal(decode_damaged(at, 0x10, 0, &why),
				 RS_SREC_BAD);
		assert_non_null(why);
	}
	/* a bad CRC field itself */
	assert_int_equal(
		decode_damaged(offsetof(struct rs_srec_hdr, crc), 1, 0, &why),
		RS_SREC_BAD);
	/* cut short: torn, not corrupt */
	assert_int_equal(decode_damaged(0, 0, 8, &why), RS_SREC_SHORT);
	assert_int_equal(decode_damaged(0, 0, 70, &why), RS_SREC_SHORT);
	/* never written */
	assert_int_equal(
		rs_srec_decode(zeros, sizeof(zeros), MAX_RECORD, &r, &why),
		RS_SREC_END);
	assert_int_equal(rs_srec_decode(zeros, 0, MAX_RECORD, &r, &why),
			 RS_SREC_END);

	/* sizes that no record may have */
	buf = encode(&plain, 7, &size);
	h = (const struct rs_srec_hdr *)(const void *)buf;
	(void)h;
	{
		uint32_t bad[] = { 8, 63, size + 1, 1U << 30 };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			uint8_t *copy = malloc(size);

			memcpy(copy, buf, size);
			memcpy(copy, &bad[i], sizeof(bad[i]));
			why = NULL;
			assert_true(rs_srec_decode(copy, size, MAX_RECORD, &r,
						   &why) < 0);
			free(copy);
		}
	}
	/* larger than the caller allows */
	assert_true(rs_srec_decode(buf, size, 64, &r, &why) < 0);
	free(buf);

	/* a value length whose sum wraps 32 bits to exactly the record's
	 * size, CRC made valid: still refused */
	{
		struct rs_srec_in in = plain;
		struct rs_srec_hdr hh;
		uint8_t rec[80];

		in.topic = "0123456789abcdef";
		in.topic_len = 16;
		in.key = NULL;
		in.key_len = RINGSIDE_NULL_LEN;
		in.value = NULL;
		in.value_len = RINGSIDE_NULL_LEN;
		rs_srec_encode(&in, 9, rec); /* 64 + 16: 80 bytes */
		memcpy(&hh, rec, sizeof(hh));
		assert_int_equal(hh.size, 80);
		hh.value_len = 0xfffffffeU; /* 80 + it rounds to 2^32 + 80 */
		memcpy(rec, &hh, sizeof(hh));
		hh.crc = rs_crc32c(0, rec + 8, sizeof(rec) - 8);
		memcpy(rec + 4, &hh.crc, sizeof(hh.crc));
		why = NULL;
		assert_int_equal(
			rs_srec_decode(rec, sizeof(rec), MAX_RECORD, &r, &why),
			RS_SREC_BAD);
	}
}

static void test_segment_header(void **state)
{
	struct rs_seg_hdr h, bad;
	const char *why = NULL;

	(void)state;
	rs_seg_hdr_init(&h, 5, 1234);
	assert_int_equal(rs_seg_hdr_check(&h, &why), 0);
	assert_int_equal(h.segment_id, 5);
	assert_int_equal(h.created_ms, 1234);

	bad = h;
	bad.magic[0] = 'X';
	assert_int_equal(rs_seg_hdr_check(&bad, &why), -1);
	assert_non_null(strstr(why, "magic"));
	bad = h;
	bad.version = 99;
	assert_int_equal(rs_seg_hdr_check(&bad, &why), -1);
	bad = h;
	bad.segment_id ^= 1;
	assert_int_equal(rs_seg_hdr_check(&bad, &why), -1);
}

/* ------------------------------------------- spools written, damaged */

static void test_write_read_retire_reopen(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen[400];
	struct rs_spool_stats st;
	uint32_t a;

	fx_open(fx);
	fx_append(fx, 0, 300);
	rs_spool_stats(fx->sp, &st);
	assert_true(st.segments > 2); /* it rolled over */
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 150);
	for (unsigned int i = 0; i < 150; i++)
		assert_int_equal(seen[i], 2 * i);
	assert_int_equal(fx_read(fx, "b", &fx_start, seen, 400), 150);

	/* the first 100 records of "a" are delivered */
	a = rs_spool_topic(fx->sp, "a", 1);
	rs_spool_retire(fx->sp, a, 200, 100); /* seqs 1, 3, ... 199 */
	fx_close(fx);

	fx_open(fx);
	assert_int_equal(fx->nfound, 2);
	for (unsigned int i = 0; i < fx->nfound; i++) {
		const char *name =
			rs_spool_topic_name(fx->sp, fx->found[i].topic);
		unsigned int n =
			fx_read(fx, name, &fx->found[i].first, seen, 400);

		if (strcmp(name, "a") == 0) {
			assert_int_equal(fx->found[i].records, 50);
			assert_int_equal(n, 50);
			assert_int_equal(seen[0], 200);
		} else {
			assert_int_equal(fx->found[i].records, 150);
			assert_int_equal(n, 150);
			assert_int_equal(seen[0], 1);
		}
	}
	/* new records go after the old ones, with higher sequences */
	fx_append(fx, 300, 310);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 155);
	assert_int_equal(seen[154], 308);
	fx_close(fx);
}

static void test_retired_segments_deleted(void **state)
{
	struct fixture *fx = *state;
	struct rs_spool_stats st;
	unsigned int seen[400];
	uint32_t a, b;

	fx_open(fx);
	fx_append(fx, 0, 300);
	a = rs_spool_topic(fx->sp, "a", 1);
	b = rs_spool_topic(fx->sp, "b", 1);
	rs_spool_retire(fx->sp, a, rs_spool_last_seq(fx->sp) + 1, 150);
	rs_spool_retire(fx->sp, b, rs_spool_last_seq(fx->sp) + 1, 150);
	fx_close(fx);
	fx_open(fx);
	assert_int_equal(fx->nfound, 0);
	rs_spool_stats(fx->sp, &st);
	assert_true(st.segments <= 1); /* at most the last, still active */
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 0);
	fx_close(fx);
}

static void test_torn_tail(void **state)
{
	struct fixture *fx = *state;
	struct rs_spool_stats st;
	unsigned int seen[400];
	char path[128];
	uint64_t last;
	off_t size;
	int fd;

	fx_open(fx);
	fx_append(fx, 0, 100);
	rs_spool_stats(fx->sp, &st);
	fx_close(fx);
	/* the last segment: cut its last record in half, as a crash
	 * during a write does, then let garbage follow */
	for (last = 1; last < 1000; last++) {
		fx_seg_path(fx, last + 1, path, sizeof(path));
		if (access(path, F_OK) != 0)
			break;
	}
	fx_seg_path(fx, last, path, sizeof(path));
	size = fx_file_size(path);
	assert_int_equal(truncate(path, size - 40), 0);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "garbage!", 8), 8);
	close(fd);

	fx_open(fx);
	/* 99 intact records, the torn one gone, the cut bytes kept */
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 50);
	assert_int_equal(fx_read(fx, "b", &fx_start, seen, 400), 49);
	assert_int_equal(seen[48], 97);
	assert_int_equal(fx_count_files(fx->dir, ".torn-"), 1);
	/* appending continues after the cut, and survives a reopen */
	fx_append(fx, 100, 104);
	fx_close(fx);
	fx_open(fx);
	assert_int_equal(fx_read(fx, "b", &fx_start, seen, 400), 51);
	assert_int_equal(seen[50], 103);
	assert_int_equal(fx_count_files(fx->dir, ".torn-"), 1);
	fx_close(fx);
}

/* A flipped bit inside a record of an older segment: that record is
 * lost, every other one is replayed, the segment file stays where it is
 * and a copy of the damaged bytes is kept beside it, once. */
static void test_damaged_record(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen_a[400], seen_b[400], na, nb;
	char path[128];

	fx_open(fx);
	fx_append(fx, 0, 300);
	fx_close(fx);
	fx_seg_path(fx, 1, path, sizeof(path));
	fx_flip(path, fx_record_offset(path, 20) + 70, 0x04); /* record 20's key */

	fx_open(fx);
	na = fx_read(fx, "a", &fx_start, seen_a, 400);
	nb = fx_read(fx, "b", &fx_start, seen_b, 400);
	assert_int_equal(na, 149);
	assert_int_equal(nb, 150);
	for (unsigned int i = 0; i < na; i++)
		assert_int_equal(seen_a[i], i < 10 ? 2 * i : 2 * i + 2);
	assert_int_equal(fx_count_files(fx->dir, ".damaged-"), 1);
	assert_int_equal(access(path, F_OK), 0);
	fx_close(fx);
	/* a second start finds the same records, and copies nothing again */
	fx_open(fx);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen_a, 400), 149);
	assert_int_equal(fx_count_files(fx->dir, ".damaged-"), 1);
	assert_int_equal(fx_count_files(fx->dir, ".corrupt"), 0);
	fx_close(fx);
}

/* A damaged size field: the scan cannot step over the record by its
 * length, so it resynchronises on the next record that checks out. Only
 * the damaged record is lost; the segment is not renamed or cut. */
static void test_corrupt_segment(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen_a[400], seen_b[400], na, nb;
	char path[128];

	fx_open(fx);
	fx_append(fx, 0, 300);
	fx_close(fx);
	fx_seg_path(fx, 1, path, sizeof(path));
	fx_flip(path, fx_record_offset(path, 20) + 1, 0x40); /* its size */

	fx_open(fx);
	na = fx_read(fx, "a", &fx_start, seen_a, 400);
	nb = fx_read(fx, "b", &fx_start, seen_b, 400);
	assert_int_equal(na, 149); /* record 20 is topic a's 11th */
	assert_int_equal(nb, 150);
	assert_int_equal(seen_a[9], 18); /* records 0..19 are intact */
	assert_int_equal(seen_a[10], 22); /* 20 is lost, 22 follows */
	assert_int_equal(seen_a[na - 1], 298);
	assert_int_equal(seen_b[nb - 1], 299);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(fx_count_files(fx->dir, ".corrupt"), 0);
	fx_close(fx);
	fx_open(fx);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen_a, 400), na);
	assert_int_equal(fx_count_files(fx->dir, ".damaged-"), 1);
	fx_close(fx);
}

static void test_rewritten_duplicates(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen[400];
	char from[128], to[128];

	fx_open(fx);
	fx_append(fx, 0, 20);
	fx_close(fx);
	/* what a rewrite after a failed fsync leaves: the same records
	 * again in the next segment (with its own header) */
	fx_seg_path(fx, 1, from, sizeof(from));
	fx_seg_path(fx, 2, to, sizeof(to));
	{
		struct rs_seg_hdr h;
		int in = open(from, O_RDONLY), out;
		uint8_t buf[65536];
		ssize_t n;

		assert_true(in >= 0);
		out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(out >= 0);
		rs_seg_hdr_init(&h, 2, 1);
		assert_int_equal(write(out, &h, sizeof(h)), sizeof(h));
		n = pread(in, buf, sizeof(buf), RS_SEG_HDR_SIZE);
		assert_true(n > 0);
		assert_int_equal(write(out, buf, (size_t)n), n);
		close(in);
		close(out);
	}
	fx_open(fx);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 10);
	assert_int_equal(fx_read(fx, "b", &fx_start, seen, 400), 10);
	/* and a new record gets a sequence after all of them */
	fx_append(fx, 20, 22);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 11);
	assert_int_equal(seen[10], 20);
	fx_close(fx);
}

static void test_bad_checkpoint_replays_all(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen[400];
	char path[128];
	FILE *f;
	uint32_t a;

	fx_open(fx);
	fx_append(fx, 0, 40);
	a = rs_spool_topic(fx->sp, "a", 1);
	rs_spool_retire(fx->sp, a, rs_spool_last_seq(fx->sp) + 1, 20);
	fx_close(fx);
	snprintf(path, sizeof(path), "%s/checkpoint", fx->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("ringside-spool-checkpoint 1\nnext_seq 9\ntopic a 1000\ncrc "
	      "00000000\n",
	      f);
	fclose(f);
	/* a checkpoint that fails its CRC is not believed: every record
	 * still in the spool is sent again (duplicates, never losses) */
	fx_open(fx);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 20);
	assert_int_equal(fx_read(fx, "b", &fx_start, seen, 400), 20);
	fx_close(fx);
}

static void test_not_a_segment(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen[400];
	char path[128];
	FILE *f;

	fx_open(fx);
	fx_append(fx, 0, 10);
	fx_close(fx);
	/* a file with a segment's name and someone else's contents, and
	 * an empty one (a crash right after creating it) */
	fx_seg_path(fx, 7, path, sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 100; i++)
		fputs("this is not a spool segment\n", f);
	fclose(f);
	fx_seg_path(fx, 8, path, sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);

	fx_open(fx);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 5);
	assert_int_equal(fx_count_files(fx->dir, ".corrupt"), 1);
	assert_int_equal(access(path, F_OK), -1); /* the empty one: gone */
	fx_append(fx, 10, 12);
	fx_close(fx);
	fx_open(fx);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 6);
	fx_close(fx);
}

/* PostgreSQL's lesson: after a failed fsync the kernel may have dropped
 * the dirty pages and cleared the error, so a retried fsync proves
 * nothing. The spool writes the unsynced records again, into a new
 * segment, from its own copy. */
static void test_failed_fsync_rewrites(void **state)
{
	struct fixture *fx = *state;
	struct rs_spool_stats st;
	unsigned int seen[400];
	char path[128];

	fx_open(fx);
	fx_append(fx, 0, 8); /* into segment 1, synced */
	fail_fdatasync = 1;
	fx_append(fx, 8, 12); /* its sync fails */
	assert_int_equal(fail_fdatasync, 0);
	assert_int_equal(rs_spool_usable(fx->sp), 0);
	rs_spool_stats(fx->sp, &st);
	assert_int_equal(st.broken, 0);
	fx_seg_path(fx, 2, path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0); /* the rewrite */
	fx_append(fx, 12, 16);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 8);
	fx_close(fx);

	/* on disk: records 8..11 twice (their first copy may or may not
	 * be whole); each is read once, in order */
	fx_open(fx);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 8);
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(seen[i], 2 * i);
	assert_int_equal(fx_read(fx, "b", &fx_start, seen, 400), 8);
	fx_close(fx);
}

/* Writes fail until the disk recovers: the spool says it is broken, keeps
 * its records in memory, and writes them once it can. */
static void test_failing_writes_recover(void **state)
{
	struct fixture *fx = *state;
	struct rs_spool_stats st;
	unsigned int seen[400];
	char value[400];
	uint32_t a;

	fx_open(fx);
	fx_append(fx, 0, 4);
	fail_pwrite = 1000;
	a = rs_spool_topic(fx->sp, "a", 1);
	{
		struct rs_srec_in in = {
			.topic = "a",
			.topic_len = 1,
			.opaque = 4,
			.partition = -1,
			.key = "a",
			.key_len = 1,
			.value = value,
			.value_len = (uint32_t)fx_value(4, value),
		};
		struct rs_spool_pos pos;
		uint64_t seq;

		assert_int_equal(rs_spool_append(fx->sp, a, &in, &seq, &pos),
				 0);
		assert_int_equal(rs_spool_commit(fx->sp), RS_SPOOL_EBROKEN);
		assert_true(rs_spool_committed(fx->sp) < seq);
	}
	assert_int_equal(rs_spool_usable(fx->sp), RS_SPOOL_EBROKEN);
	rs_spool_stats(fx->sp, &st);
	assert_int_equal(st.broken, 1);
	/* still failing: the retry fails too, nothing is lost */
	rs_spool_tick(fx->sp, INT64_MAX / 4);
	assert_int_equal(rs_spool_usable(fx->sp), RS_SPOOL_EBROKEN);

	fail_pwrite = 0;
	rs_spool_tick(fx->sp, INT64_MAX / 2);
	assert_int_equal(rs_spool_usable(fx->sp), 0);
	assert_int_equal(rs_spool_commit(fx->sp), 0);
	assert_int_equal(rs_spool_committed(fx->sp), rs_spool_last_seq(fx->sp));
	fx_close(fx);

	fx_open(fx);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 400), 3);
	assert_int_equal(seen[2], 4);
	fx_close(fx);
}

/* Append one record of topic "a" with opaque i; its sequence. */
static uint64_t append_one(struct fixture *fx, unsigned int i, int expect)
{
	char value[400];
	struct rs_srec_in in = {
		.topic = "a",
		.topic_len = 1,
		.opaque = i,
		.partition = -1,
		.key = "a",
		.key_len = 1,
		.value = value,
		.value_len = (uint32_t)fx_value(i, value),
	};
	struct rs_spool_pos pos;
	uint64_t seq = 0;

	assert_int_equal(rs_spool_append(fx->sp, rs_spool_topic(fx->sp, "a", 1),
					 &in, &seq, &pos),
			 expect);
	return seq;
}

/*
 * A failed write, and then no room for the segment that would take its
 * records again (a full disk). The old spool marked itself only full,
 * created a segment once space returned and threw the buffer away: a
 * later commit covered the lost sequences, so they were reported SPOOLED
 * while on no disk ("committed through seq 5, readers find 1, 2 and 5").
 * Now the records stay in memory, nothing is appended over them, and
 * they are written once there is room.
 */
static void eio_then_full(struct fixture *fx, enum rs_fsync_mode mode)
{
	unsigned int seen[16];
	uint64_t s2, s4;

	fx->cfg.fsync = mode;
	fx_open(fx);
	(void)append_one(fx, 1, 0);
	s2 = append_one(fx, 2, 0);
	assert_int_equal(rs_spool_commit(fx->sp), 0);
	assert_true(rs_spool_committed(fx->sp) >= s2);
	(void)append_one(fx, 3, 0);
	s4 = append_one(fx, 4, 0);
	fail_pwrite = 1;
	fail_fallocate = 1000; /* the disk is full from now on */
	assert_int_equal(rs_spool_commit(fx->sp), RS_SPOOL_EBROKEN);
	assert_true(rs_spool_committed(fx->sp) < s4);
	assert_true(rs_spool_usable(fx->sp) < 0);
	/* nothing goes in while 3 and 4 wait, however long */
	rs_spool_tick(fx->sp, INT64_MAX / 8);
	(void)append_one(fx, 5, RS_SPOOL_EBROKEN);
	assert_int_equal(rs_spool_commit(fx->sp), RS_SPOOL_EBROKEN);
	assert_true(rs_spool_committed(fx->sp) < s4);
	/* space returns: the retry writes 3 and 4 first */
	fail_fallocate = 0;
	rs_spool_tick(fx->sp, INT64_MAX / 4);
	assert_int_equal(rs_spool_usable(fx->sp), 0);
	(void)append_one(fx, 5, 0);
	assert_int_equal(rs_spool_commit(fx->sp), 0);
	rs_spool_tick(fx->sp, INT64_MAX / 2);
	assert_int_equal(rs_spool_committed(fx->sp), rs_spool_last_seq(fx->sp));
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 16), 5);
	fx_close(fx);
	fx_open(fx);
	assert_int_equal(fx_read(fx, "a", &fx_start, seen, 16), 5);
	for (unsigned int i = 0; i < 5; i++)
		assert_int_equal(seen[i], i + 1);
	fx_close(fx);
}

static void test_eio_then_full_always(void **state)
{
	eio_then_full(*state, RS_FSYNC_ALWAYS);
}

static void test_eio_then_full_interval(void **state)
{
	eio_then_full(*state, RS_FSYNC_INTERVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_record_damage),
		cmocka_unit_test(test_segment_header),
		cmocka_unit_test_setup_teardown(test_write_read_retire_reopen,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_retired_segments_deleted,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_record, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_segment, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_rewritten_duplicates,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_checkpoint_replays_all,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_not_a_segment, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_failed_fsync_rewrites,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failing_writes_recover,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_eio_then_full_always,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_eio_then_full_interval,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
