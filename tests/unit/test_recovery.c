/* SPDX-License-Identifier: MIT */
/*
 * test_recovery.c: the spool's start-up recovery against damage anywhere.
 * A spool is written by the real code, damaged the way power cuts and
 * disks damage files (a record header that reads as zeros with much data
 * after it, a page of zeros in the middle, one flipped bit at every
 * offset of a segment and of its header, records larger than today's
 * limit), reopened, and read back in full: damage may cost only the
 * records it overlaps, and recovery must always finish. Also the
 * directory lock (one daemon per spool) and checkpoints of any size and
 * any topic names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/checkpoint.h"
#include "daemon/segment.h"
#include "daemon/spool.h"
#include "spool_fixture.h"

#define NREC_BIG 20000

/* Offsets of every record of a segment file, and the file's size. */
static size_t record_offsets(const char *path, off_t *offs, size_t cap)
{
	off_t end = fx_file_size(path), off = RS_SEG_HDR_SIZE;
	int fd = open(path, O_RDONLY);
	size_t n = 0;

	assert_true(fd >= 0);
	while (off < end) {
		uint32_t size;

		assert_int_equal(pread(fd, &size, sizeof(size), off),
				 sizeof(size));
		assert_true(size >= 64 && n < cap);
		offs[n++] = off;
		off += size;
	}
	close(fd);
	assert_true(off == end);
	offs[n] = end;
	return n;
}

static void zero_range(const char *path, off_t at, size_t len)
{
	char zeros[8192] = { 0 };
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0 && len <= sizeof(zeros));
	assert_int_equal(pwrite(fd, zeros, len, at), (ssize_t)len);
	close(fd);
}

static const unsigned int no_loss[1] = { 0 };

/* Every record of both topics except those in lost[] (sorted), in order. */
static void expect_all_but(struct fixture *fx, unsigned int total,
			   const unsigned int *lost, unsigned int nlost)
{
	static unsigned int seen[NREC_BIG];
	const char *topics[2] = { "a", "b" };

	for (int t = 0; t < 2; t++) {
		unsigned int n = fx_read(fx, topics[t], &fx_start, seen,
					 NREC_BIG);
		unsigned int want = 0, k = 0, j = 0;

		for (unsigned int i = (unsigned int)t; i < total; i += 2) {
			while (j < nlost && lost[j] < i)
				j++;
			if (j < nlost && lost[j] == i)
				continue;
			assert_true(k < n);
			if (seen[k] != i)
				fail_msg("topic %s: record %u where %u belongs",
					 topics[t], seen[k], i);
			k++;
			want++;
		}
		assert_int_equal(n, want);
	}
}

/* A record header that reads as 64 zero bytes with far more than the
 * scan's window after it (a page that never reached the disk): the old
 * scan re-read the same window for ever. Recovery finishes, and only
 * that record is lost. */
static void test_zero_header_then_data(void **state)
{
	struct fixture *fx = *state;
	static off_t offs[NREC_BIG + 1];
	char path[128];
	unsigned int lost;
	size_t n;

	fx->cfg.segment_bytes = 8U << 20;
	fx->cfg.fsync = RS_FSYNC_NEVER;
	fx_open(fx);
	fx_append(fx, 0, NREC_BIG);
	fx_close(fx);
	fx_seg_path(fx, 1, path, sizeof(path));
	n = record_offsets(path, offs, NREC_BIG);
	assert_int_equal(n, NREC_BIG);
	lost = 1000;
	assert_true(fx_file_size(path) - offs[lost] > (2 << 20));
	zero_range(path, offs[lost], 64);

	alarm(60); /* an endless recovery fails the test */
	fx_open(fx);
	alarm(0);
	expect_all_but(fx, NREC_BIG, &lost, 1);
	fx_close(fx);
}

/* One 4 KiB page of zeros in the middle of a segment of 20,000 records:
 * the old recovery kept only what preceded it. Now only the records the
 * page overlaps are lost. */
static void test_zero_page(void **state)
{
	struct fixture *fx = *state;
	static off_t offs[NREC_BIG + 1];
	static unsigned int lost[64];
	unsigned int nlost = 0;
	char path[128];
	off_t page = 1 << 20;
	size_t n;

	fx->cfg.segment_bytes = 8U << 20;
	fx->cfg.fsync = RS_FSYNC_NEVER;
	fx_open(fx);
	fx_append_padded(fx, 0, NREC_BIG, 100); /* about 280 B each */
	fx_close(fx);
	fx_seg_path(fx, 1, path, sizeof(path));
	n = record_offsets(path, offs, NREC_BIG);
	assert_int_equal(n, NREC_BIG);
	for (size_t i = 0; i < n; i++)
		if (offs[i] < page + 4096 && offs[i + 1] > page)
			lost[nlost++] = (unsigned int)i;
	assert_true(nlost >= 10 && nlost < 64);
	zero_range(path, page, 4096);

	fx_open(fx);
	expect_all_but(fx, NREC_BIG, lost, nlost);
	assert_int_equal(fx_count_files(fx->dir, ".damaged-"), 1);
	fx_close(fx);
}

/* One flipped bit anywhere in a segment's 64-byte header: the old code
 * set the whole segment aside. Every record is still read, from each
 * one's own CRC. */
static void test_every_header_bit(void **state)
{
	struct fixture *fx = *state;
	char path[128], pristine[96];

	snprintf(pristine, sizeof(pristine), "%s-pristine-XXXXXX",
		 fx->dir);
	assert_non_null(mkdtemp(pristine));
	fx->cfg.fsync = RS_FSYNC_NEVER;
	fx_open(fx);
	fx_append(fx, 0, 120); /* three segments */
	fx_close(fx);
	fx_copy_dir(fx->dir, pristine);
	fx_seg_path(fx, 2, path, sizeof(path));
	for (unsigned int bit = 0; bit < 64 * 8; bit++) {
		fx_copy_dir(pristine, fx->dir);
		fx_flip(path, bit / 8, (uint8_t)(1U << (bit % 8)));
		fx_open(fx);
		expect_all_but(fx, 120, no_loss, 0);
		fx_close(fx);
	}
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pristine);
		assert_int_equal(system(cmd), 0);
	}
}

/* One flipped bit at offsets all through a segment's records: exactly
 * the record holding that byte is lost, every other one is read. */
static void test_every_record_offset(void **state)
{
	struct fixture *fx = *state;
	static off_t offs[256];
	char path[128], pristine[96];
	size_t n;
	off_t end;

	snprintf(pristine, sizeof(pristine), "%s-pristine-XXXXXX",
		 fx->dir);
	assert_non_null(mkdtemp(pristine));
	fx->cfg.fsync = RS_FSYNC_NEVER;
	fx_open(fx);
	fx_append(fx, 0, 120);
	fx_close(fx);
	fx_seg_path(fx, 2, path, sizeof(path));
	n = record_offsets(path, offs, 255);
	end = offs[n];
	fx_copy_dir(fx->dir, pristine);
	/* every byte of the first two records, then every 13th byte */
	for (off_t at = RS_SEG_HDR_SIZE; at < end;
	     at += at < offs[2] ? 1 : 13) {
		unsigned int first, lost;
		size_t r = 0;

		while (offs[r + 1] <= at)
			r++;
		/* the segment's first record number: segment 1 holds the
		 * records before */
		{
			char p1[128];
			static off_t o1[256];

			fx_seg_path(fx, 1, p1, sizeof(p1));
			first = (unsigned int)record_offsets(p1, o1, 255);
		}
		lost = first + (unsigned int)r;
		fx_copy_dir(pristine, fx->dir);
		fx_flip(path, at, 0x10);
		fx_open(fx);
		expect_all_but(fx, 120, &lost, 1);
		fx_close(fx);
	}
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pristine);
		assert_int_equal(system(cmd), 0);
	}
}

/* Records accepted under max_record_bytes of 4 KiB, then a restart with
 * 1 KiB: the old recovery cut the first large record and everything
 * after it as a torn tail. Every record is still read. */
static void test_lower_limit_after_restart(void **state)
{
	struct fixture *fx = *state;

	fx_open(fx);
	fx_append(fx, 0, 10);
	fx_append_padded(fx, 10, 30, 2500);
	fx_append(fx, 30, 40);
	fx_close(fx);
	fx->cfg.max_record = 1024;
	fx_open(fx);
	expect_all_but(fx, 40, no_loss, 0);
	assert_int_equal(fx_count_files(fx->dir, ".torn"), 0);
	fx_close(fx);
	fx_open(fx);
	expect_all_but(fx, 40, no_loss, 0);
	fx_close(fx);
}

/* Two daemons on one spool_dir: the second is refused, naming the first;
 * once the first is gone the directory opens again. */
static void test_one_daemon_per_dir(void **state)
{
	struct fixture *fx = *state;
	struct fixture other = *fx;
	char err[256], want[64];

	fx_open(fx);
	fx_append(fx, 0, 10);
	other.sp = NULL;
	assert_int_equal(fx_try_open(&other, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "in use by another ringsided"));
	snprintf(want, sizeof(want), "pid %d", (int)getpid());
	assert_non_null(strstr(err, want));
	/* the first one's segment is untouched */
	fx_append(fx, 10, 20);
	fx_close(fx);
	fx_open(fx);
	expect_all_but(fx, 20, no_loss, 0);
	fx_close(fx);
}

static void append_to(struct fixture *fx, const char *topic, uint64_t opaque)
{
	uint32_t t = rs_spool_topic(fx->sp, topic, strlen(topic));
	char value[400];
	struct rs_srec_in in = {
		.topic = topic,
		.topic_len = (uint16_t)strlen(topic),
		.opaque = opaque,
		.partition = -1,
		.value = value,
		.value_len = (uint32_t)fx_value((unsigned int)opaque, value),
		.key_len = 0xffffffffU,
	};
	struct rs_spool_pos pos;
	uint64_t seq;

	assert_int_equal(rs_spool_append(fx->sp, t, &in, &seq, &pos), 0);
}

/* Every record of every topic delivered, checkpoint written, restart:
 * nothing is to be sent again. The old parser took "crc " inside a topic
 * name for its CRC line, and read only the first 64 KiB. */
static void retire_all_and_reopen(struct fixture *fx, const char **names,
				  unsigned int ntopics, unsigned int per_topic)
{
	for (unsigned int i = 0; i < per_topic; i++)
		for (unsigned int t = 0; t < ntopics; t++)
			append_to(fx, names[t], (uint64_t)i);
	assert_int_equal(rs_spool_commit(fx->sp), 0);
	for (unsigned int t = 0; t < ntopics; t++)
		rs_spool_retire(fx->sp,
				rs_spool_topic(fx->sp, names[t],
					       strlen(names[t])),
				rs_spool_last_seq(fx->sp) + 1, per_topic);
	fx_close(fx);
	fx_open(fx);
	assert_int_equal(fx->nfound, 0);
	for (unsigned int t = 0; t < ntopics; t++) {
		unsigned int seen[8];

		assert_int_equal(fx_read(fx, names[t], &fx_start, seen, 8), 0);
	}
	fx_close(fx);
}

static void test_checkpoint_topic_names(void **state)
{
	struct fixture *fx = *state;
	const char *names[] = { "orders.crc", "crc", "crc_1", "next_seq",
				"topic", "ringside-spool-checkpoint" };

	fx_open(fx);
	retire_all_and_reopen(fx, names, 6, 50);
}

static void test_checkpoint_large(void **state)
{
	struct fixture *fx = *state;
	static char buf[2000][210];
	static const char *names[2000];
	char path[128];

	for (unsigned int i = 0; i < 2000; i++) {
		snprintf(buf[i], sizeof(buf[i]), "topic-%04u-%0190u", i, i);
		names[i] = buf[i];
	}
	fx->cfg.segment_bytes = 8U << 20;
	fx->cfg.fsync = RS_FSYNC_NEVER;
	fx_open(fx);
	for (unsigned int i = 0; i < 2000; i++)
		append_to(fx, names[i], i);
	/* keep a segment holding every topic alive: their lines must be
	 * written, so the file is far over 64 KiB */
	retire_all_and_reopen(fx, names, 2000, 1);
	snprintf(path, sizeof(path), "%s/checkpoint", fx->dir);
	assert_true(fx_file_size(path) > 256 * 1024);
}

static void on_topic(void *arg, const char *name, uint64_t seq)
{
	unsigned int *n = arg;

	assert_true(strcmp(name, "orders.crc") == 0 || strcmp(name, "b") == 0);
	assert_true(seq == 17 || seq == 3);
	(*n)++;
}

/* The checkpoint decoder on its own: what it writes it reads, and a file
 * that is anything less than whole and valid is refused as a whole. */
static void test_checkpoint_decode(void **state)
{
	struct rs_checkpoint_entry v[2] = { { "orders.crc", 17 }, { "b", 3 } };
	uint64_t next = 0;
	unsigned int n = 0;
	char *text, *bad;
	size_t len;

	(void)state;
	len = rs_checkpoint_encode(99, v, 2, &text);
	assert_int_equal(rs_checkpoint_decode(text, len, &next, on_topic, &n),
			 0);
	assert_int_equal(next, 99);
	assert_int_equal(n, 2);
	/* any single byte changed, or the file cut anywhere: refused, and
	 * no topic is reported */
	bad = malloc(len);
	for (size_t i = 0; i < len; i++) {
		memcpy(bad, text, len);
		bad[i] ^= 0x01;
		n = 0;
		assert_int_equal(rs_checkpoint_decode(bad, len, &next, on_topic,
						      &n),
				 -1);
		assert_int_equal(n, 0);
		assert_int_equal(rs_checkpoint_decode(text, i, &next, on_topic,
						      &n),
				 -1);
		assert_int_equal(n, 0);
	}
	free(bad);
	free(text);
	/* a valid CRC over lines that are not checkpoint lines */
	{
		struct rs_checkpoint_entry w[1] = { { "has space", 1 } };

		len = rs_checkpoint_encode(1, w, 1, &text);
		n = 0;
		assert_int_equal(rs_checkpoint_decode(text, len, &next,
						      on_topic, &n),
				 -1);
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_zero_header_then_data,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_zero_page, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_every_header_bit,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_every_record_offset,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_lower_limit_after_restart,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_one_daemon_per_dir,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_topic_names,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_large,
						fx_setup, fx_teardown),
		cmocka_unit_test(test_checkpoint_decode),
	};

	/* the shared memory filesystem, where there is one: thousands of
	 * reopens, and nothing here is about the disk's speed */
	if (access("/dev/shm", W_OK) == 0)
		fx_base_dir = "/dev/shm";
	return cmocka_run_group_tests(tests, NULL, NULL);
}
