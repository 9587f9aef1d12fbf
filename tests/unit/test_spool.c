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

#define MAX_RECORD 4096

/*
 * Failing disks, injected: these definitions take the place of libc's for
 * the spool code linked into this program. Each fails its next N calls
 * with EIO, as a disk does after a write error, then passes through.
 */
static int fail_fdatasync, fail_pwrite;
static unsigned int fdatasync_calls;

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

struct found_rec {
	uint32_t topic;
	uint64_t records;
	struct rs_spool_pos first;
};

struct fixture {
	char dir[64];
	struct rs_spool_config cfg;
	struct rs_spool *sp;
	struct found_rec found[4];
	unsigned int nfound;
};

static void on_found(void *arg, uint32_t topic, const char *name,
		     uint64_t records, const struct rs_spool_pos *first)
{
	struct fixture *fx = arg;

	(void)name;
	assert_true(fx->nfound < 4);
	fx->found[fx->nfound].topic = topic;
	fx->found[fx->nfound].records = records;
	fx->found[fx->nfound].first = *first;
	fx->nfound++;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/rs-test-spool-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->cfg.dir = fx->dir;
	fx->cfg.fsync = RS_FSYNC_ALWAYS;
	fx->cfg.fsync_interval_ms = 100;
	fx->cfg.max_bytes = 64U << 20;
	fx->cfg.segment_bytes = 16384; /* a few dozen records each */
	fx->cfg.max_record = MAX_RECORD;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	if (fx->sp != NULL)
		rs_spool_close(fx->sp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void sp_open(struct fixture *fx)
{
	char err[256];

	fx->nfound = 0;
	assert_int_equal(rs_spool_open(&fx->cfg, on_found, fx, &fx->sp, err,
				       sizeof(err)),
			 0);
}

static void sp_close(struct fixture *fx)
{
	rs_spool_close(fx->sp);
	fx->sp = NULL;
}

/* Value of record i: its number, then filler, so records differ in size. */
static size_t value_of(unsigned int i, char *buf)
{
	int n = snprintf(buf, 400, "record-%06u:", i);

	for (unsigned int j = 0; j < (i * 37U) % 300U; j++)
		buf[n + (int)j] = (char)('a' + (i + j) % 26U);
	return (size_t)n + (i * 37U) % 300U;
}

/* Appends records [from, to) alternately to topics "a" and "b". */
static void append_range(struct fixture *fx, unsigned int from, unsigned int to)
{
	char value[400];

	for (unsigned int i = from; i < to; i++) {
		const char *topic = i % 2 ? "b" : "a";
		uint32_t t = rs_spool_topic(fx->sp, topic, 1);
		struct rs_srec_in in = {
			.topic = topic,
			.topic_len = 1,
			.opaque = i,
			.partition = -1,
			.key = topic,
			.key_len = 1,
			.value = value,
			.value_len = (uint32_t)value_of(i, value),
		};
		struct rs_spool_pos pos;
		uint64_t seq;

		assert_int_equal(rs_spool_append(fx->sp, t, &in, &seq, &pos),
				 0);
		if (i % 16 == 15)
			assert_int_equal(rs_spool_commit(fx->sp), 0);
	}
	assert_int_equal(rs_spool_commit(fx->sp), 0);
}

/* Reads every record the spool offers for topic from pos; checks each is
 * intact, in order, once. Returns how many; opaques in *seen. */
static unsigned int read_topic(struct fixture *fx, const char *topic,
			       const struct rs_spool_pos *pos,
			       unsigned int *seen, unsigned int cap)
{
	uint32_t t = rs_spool_topic(fx->sp, topic, 1);
	struct rs_spool_cursor c = { 0 };
	struct rs_srec r;
	struct rs_spool_pos at;
	unsigned int n = 0;
	long long last = -1;
	char value[400];
	int k;

	rs_spool_cursor_init(&c, t, pos, 0);
	while ((k = rs_spool_next(fx->sp, &c, &r, &at)) != 0) {
		if (k < 0)
			continue;
		assert_true(n < cap);
		assert_int_equal(r.topic_len, 1);
		assert_memory_equal(r.topic, topic, 1);
		assert_true((long long)r.opaque > last);
		last = (long long)r.opaque;
		assert_int_equal(r.value_len,
				 value_of((unsigned int)r.opaque, value));
		assert_memory_equal(r.value, value, r.value_len);
		seen[n++] = (unsigned int)r.opaque;
	}
	rs_spool_cursor_free(&c);
	return n;
}

static const struct rs_spool_pos start = { 0, 0 };

static unsigned int count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), s = strlen(suffix);

		n += l >= s && strstr(de->d_name, suffix) != NULL;
	}
	closedir(d);
	return n;
}

static void seg_path(const struct fixture *fx, uint64_t id, char *buf,
		     size_t len)
{
	snprintf(buf, len, "%s/%016llx.seg", fx->dir, (unsigned long long)id);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void test_write_read_retire_reopen(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen[400];
	struct rs_spool_stats st;
	uint32_t a;

	sp_open(fx);
	append_range(fx, 0, 300);
	rs_spool_stats(fx->sp, &st);
	assert_true(st.segments > 2); /* it rolled over */
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 150);
	for (unsigned int i = 0; i < 150; i++)
		assert_int_equal(seen[i], 2 * i);
	assert_int_equal(read_topic(fx, "b", &start, seen, 400), 150);

	/* the first 100 records of "a" are delivered */
	a = rs_spool_topic(fx->sp, "a", 1);
	rs_spool_retire(fx->sp, a, 200, 100); /* seqs 1, 3, ... 199 */
	sp_close(fx);

	sp_open(fx);
	assert_int_equal(fx->nfound, 2);
	for (unsigned int i = 0; i < fx->nfound; i++) {
		const char *name =
			rs_spool_topic_name(fx->sp, fx->found[i].topic);
		unsigned int n =
			read_topic(fx, name, &fx->found[i].first, seen, 400);

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
	append_range(fx, 300, 310);
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 155);
	assert_int_equal(seen[154], 308);
	sp_close(fx);
}

static void test_retired_segments_deleted(void **state)
{
	struct fixture *fx = *state;
	struct rs_spool_stats st;
	unsigned int seen[400];
	uint32_t a, b;

	sp_open(fx);
	append_range(fx, 0, 300);
	a = rs_spool_topic(fx->sp, "a", 1);
	b = rs_spool_topic(fx->sp, "b", 1);
	rs_spool_retire(fx->sp, a, rs_spool_last_seq(fx->sp) + 1, 150);
	rs_spool_retire(fx->sp, b, rs_spool_last_seq(fx->sp) + 1, 150);
	sp_close(fx);
	sp_open(fx);
	assert_int_equal(fx->nfound, 0);
	rs_spool_stats(fx->sp, &st);
	assert_true(st.segments <= 1); /* at most the last, still active */
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 0);
	sp_close(fx);
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

	sp_open(fx);
	append_range(fx, 0, 100);
	rs_spool_stats(fx->sp, &st);
	sp_close(fx);
	/* the last segment: cut its last record in half, as a crash
	 * during a write does, then let garbage follow */
	for (last = 1; last < 1000; last++) {
		seg_path(fx, last + 1, path, sizeof(path));
		if (access(path, F_OK) != 0)
			break;
	}
	seg_path(fx, last, path, sizeof(path));
	size = file_size(path);
	assert_int_equal(truncate(path, size - 40), 0);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "garbage!", 8), 8);
	close(fd);

	sp_open(fx);
	/* 99 intact records, the torn one gone, the cut bytes kept */
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 50);
	assert_int_equal(read_topic(fx, "b", &start, seen, 400), 49);
	assert_int_equal(seen[48], 97);
	assert_int_equal(count_files(fx->dir, ".torn-"), 1);
	/* appending continues after the cut, and survives a reopen */
	append_range(fx, 100, 104);
	sp_close(fx);
	sp_open(fx);
	assert_int_equal(read_topic(fx, "b", &start, seen, 400), 51);
	assert_int_equal(seen[50], 103);
	assert_int_equal(count_files(fx->dir, ".torn-"), 1);
	sp_close(fx);
}

/* Offset of the n-th record of a segment file. */
static off_t record_offset(const char *path, unsigned int n)
{
	int fd = open(path, O_RDONLY);
	off_t off = RS_SEG_HDR_SIZE;

	assert_true(fd >= 0);
	for (unsigned int i = 0; i < n; i++) {
		uint32_t size;

		assert_int_equal(pread(fd, &size, sizeof(size), off),
				 sizeof(size));
		off += size;
	}
	close(fd);
	return off;
}

static void flip(const char *path, off_t at, uint8_t bits)
{
	int fd = open(path, O_RDWR);
	uint8_t byte;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, at), 1);
	byte ^= bits;
	assert_int_equal(pwrite(fd, &byte, 1, at), 1);
	close(fd);
}

/* A flipped bit inside a record of an older segment: that record is
 * lost, every other one is replayed, the original file is kept. */
static void test_damaged_record(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen_a[400], seen_b[400], na, nb;
	char path[128];

	sp_open(fx);
	append_range(fx, 0, 300);
	sp_close(fx);
	seg_path(fx, 1, path, sizeof(path));
	flip(path, record_offset(path, 20) + 70, 0x04); /* record 20's key */

	sp_open(fx);
	na = read_topic(fx, "a", &start, seen_a, 400);
	nb = read_topic(fx, "b", &start, seen_b, 400);
	assert_int_equal(na, 149);
	assert_int_equal(nb, 150);
	for (unsigned int i = 0; i < na; i++)
		assert_int_equal(seen_a[i], i < 10 ? 2 * i : 2 * i + 2);
	assert_int_equal(count_files(fx->dir, ".corrupt-0"), 1);
	sp_close(fx);
	/* the repair holds: a second start finds the same records */
	sp_open(fx);
	assert_int_equal(read_topic(fx, "a", &start, seen_a, 400), 149);
	assert_int_equal(count_files(fx->dir, ".corrupt"), 1);
	sp_close(fx);
}

/* A damaged size field: nothing after it in that segment can be found.
 * What precedes it and every later segment is replayed; the damaged file
 * is kept whole beside the spool. */
static void test_corrupt_segment(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen_a[400], seen_b[400], na, nb;
	char path[128];

	sp_open(fx);
	append_range(fx, 0, 300);
	sp_close(fx);
	seg_path(fx, 1, path, sizeof(path));
	flip(path, record_offset(path, 20) + 1, 0x40); /* its size */

	sp_open(fx);
	na = read_topic(fx, "a", &start, seen_a, 400);
	nb = read_topic(fx, "b", &start, seen_b, 400);
	assert_true(na + nb < 299);
	assert_true(na + nb > 200);
	assert_int_equal(seen_a[0], 0);
	assert_int_equal(seen_a[9], 18); /* records 0..19 are intact */
	assert_int_equal(seen_b[9], 19);
	assert_int_equal(seen_a[10] > 20, 1);
	assert_int_equal(seen_a[na - 1], 298);
	assert_int_equal(seen_b[nb - 1], 299);
	assert_int_equal(count_files(fx->dir, ".corrupt"), 1);
	sp_close(fx);
	sp_open(fx);
	assert_int_equal(read_topic(fx, "a", &start, seen_a, 400), na);
	assert_int_equal(count_files(fx->dir, ".corrupt"), 1);
	sp_close(fx);
}

static void test_rewritten_duplicates(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen[400];
	char from[128], to[128];

	sp_open(fx);
	append_range(fx, 0, 20);
	sp_close(fx);
	/* what a rewrite after a failed fsync leaves: the same records
	 * again in the next segment (with its own header) */
	seg_path(fx, 1, from, sizeof(from));
	seg_path(fx, 2, to, sizeof(to));
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
	sp_open(fx);
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 10);
	assert_int_equal(read_topic(fx, "b", &start, seen, 400), 10);
	/* and a new record gets a sequence after all of them */
	append_range(fx, 20, 22);
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 11);
	assert_int_equal(seen[10], 20);
	sp_close(fx);
}

static void test_bad_checkpoint_replays_all(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen[400];
	char path[128];
	FILE *f;
	uint32_t a;

	sp_open(fx);
	append_range(fx, 0, 40);
	a = rs_spool_topic(fx->sp, "a", 1);
	rs_spool_retire(fx->sp, a, rs_spool_last_seq(fx->sp) + 1, 20);
	sp_close(fx);
	snprintf(path, sizeof(path), "%s/checkpoint", fx->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("ringside-spool-checkpoint 1\nnext_seq 9\ntopic a 1000\ncrc "
	      "00000000\n",
	      f);
	fclose(f);
	/* a checkpoint that fails its CRC is not believed: every record
	 * still in the spool is sent again (duplicates, never losses) */
	sp_open(fx);
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 20);
	assert_int_equal(read_topic(fx, "b", &start, seen, 400), 20);
	sp_close(fx);
}

static void test_not_a_segment(void **state)
{
	struct fixture *fx = *state;
	unsigned int seen[400];
	char path[128];
	FILE *f;

	sp_open(fx);
	append_range(fx, 0, 10);
	sp_close(fx);
	/* a file with a segment's name and someone else's contents, and
	 * an empty one (a crash right after creating it) */
	seg_path(fx, 7, path, sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 100; i++)
		fputs("this is not a spool segment\n", f);
	fclose(f);
	seg_path(fx, 8, path, sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);

	sp_open(fx);
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 5);
	assert_int_equal(count_files(fx->dir, ".corrupt"), 1);
	assert_int_equal(access(path, F_OK), -1); /* the empty one: gone */
	append_range(fx, 10, 12);
	sp_close(fx);
	sp_open(fx);
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 6);
	sp_close(fx);
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

	sp_open(fx);
	append_range(fx, 0, 8); /* into segment 1, synced */
	fail_fdatasync = 1;
	append_range(fx, 8, 12); /* its sync fails */
	assert_int_equal(fail_fdatasync, 0);
	assert_int_equal(rs_spool_usable(fx->sp), 0);
	rs_spool_stats(fx->sp, &st);
	assert_int_equal(st.broken, 0);
	seg_path(fx, 2, path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0); /* the rewrite */
	append_range(fx, 12, 16);
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 8);
	sp_close(fx);

	/* on disk: records 8..11 twice (their first copy may or may not
	 * be whole); each is read once, in order */
	sp_open(fx);
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 8);
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(seen[i], 2 * i);
	assert_int_equal(read_topic(fx, "b", &start, seen, 400), 8);
	sp_close(fx);
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

	sp_open(fx);
	append_range(fx, 0, 4);
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
			.value_len = (uint32_t)value_of(4, value),
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
	sp_close(fx);

	sp_open(fx);
	assert_int_equal(read_topic(fx, "a", &start, seen, 400), 3);
	assert_int_equal(seen[2], 4);
	sp_close(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_record_damage),
		cmocka_unit_test(test_segment_header),
		cmocka_unit_test_setup_teardown(test_write_read_retire_reopen,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_retired_segments_deleted,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_damaged_record, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_segment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rewritten_duplicates,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_checkpoint_replays_all,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_segment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failed_fsync_rewrites,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_writes_recover,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
