/* SPDX-License-Identifier: MIT */
/*
 * spool_fixture.c: see spool_fixture.h.
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
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/segment.h"
#include "spool_fixture.h"

#define FX_VALUE_MAX 65536

const struct rs_spool_pos fx_start = { 0, 0 };
const char *fx_base_dir = "/tmp";

static void fx_on_found(void *arg, uint32_t topic, const char *name,
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

int fx_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	snprintf(fx->dir, sizeof(fx->dir), "%s/rs-test-spool-XXXXXX",
		 fx_base_dir);
	assert_non_null(mkdtemp(fx->dir));
	fx->cfg.dir = fx->dir;
	fx->cfg.fsync = RS_FSYNC_ALWAYS;
	fx->cfg.fsync_interval_ms = 100;
	fx->cfg.max_bytes = 64U << 20;
	fx->cfg.segment_bytes = 16384; /* a few dozen records each */
	fx->cfg.max_record = FX_MAX_RECORD;
	*state = fx;
	return 0;
}

int fx_teardown(void **state)
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

int fx_try_open(struct fixture *fx, char *err, size_t errlen)
{
	fx->nfound = 0;
	return rs_spool_open(&fx->cfg, fx_on_found, fx, &fx->sp, err, errlen);
}

void fx_open(struct fixture *fx)
{
	char err[256];

	assert_int_equal(fx_try_open(fx, err, sizeof(err)), 0);
}

void fx_close(struct fixture *fx)
{
	rs_spool_close(fx->sp);
	fx->sp = NULL;
}

/* "record-NNNNNN+PPPPP:" then filler: the pad is in the value, so the
 * reader can rebuild it. */
static size_t fx_value_padded(unsigned int i, size_t pad, char *buf)
{
	int n = snprintf(buf, 32, "record-%06u+%05zu:", i, pad);
	size_t fill = (i * 37U) % 300U + pad;

	for (size_t j = 0; j < fill; j++)
		buf[(size_t)n + j] = (char)('a' + (i + j) % 26U);
	return (size_t)n + fill;
}

size_t fx_value(unsigned int i, char *buf)
{
	return fx_value_padded(i, 0, buf);
}

void fx_append_padded(struct fixture *fx, unsigned int from, unsigned int to,
		      size_t pad)
{
	static char value[FX_VALUE_MAX];

	assert_true(pad + 400 <= sizeof(value));
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
			.value_len = (uint32_t)fx_value_padded(i, pad, value),
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

void fx_append(struct fixture *fx, unsigned int from, unsigned int to)
{
	fx_append_padded(fx, from, to, 0);
}

unsigned int fx_read(struct fixture *fx, const char *topic,
		     const struct rs_spool_pos *pos, unsigned int *seen,
		     unsigned int cap)
{
	static char value[FX_VALUE_MAX];
	uint32_t t = rs_spool_topic(fx->sp, topic, strlen(topic));
	struct rs_spool_cursor c = { 0 };
	struct rs_srec r;
	struct rs_spool_pos at;
	unsigned int n = 0;
	long long last = -1;
	int k;

	rs_spool_cursor_init(&c, t, pos, 0);
	while ((k = rs_spool_next(fx->sp, &c, &r, &at)) != 0) {
		size_t pad = 0;

		assert_true(k != RS_SPOOL_NEXT_EIO);
		if (k < 0)
			continue;
		assert_true(n < cap);
		assert_int_equal(r.topic_len, strlen(topic));
		assert_memory_equal(r.topic, topic, r.topic_len);
		assert_true((long long)r.opaque > last);
		last = (long long)r.opaque;
		assert_true(r.value_len >= 20);
		assert_int_equal(sscanf((const char *)r.value + 14, "%5zu",
					&pad),
				 1);
		assert_int_equal(r.value_len,
				 fx_value_padded((unsigned int)r.opaque, pad,
						 value));
		assert_memory_equal(r.value, value, r.value_len);
		seen[n++] = (unsigned int)r.opaque;
	}
	rs_spool_cursor_free(&c);
	return n;
}

unsigned int fx_count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strstr(de->d_name, suffix) != NULL;
	closedir(d);
	return n;
}

void fx_seg_path(const struct fixture *fx, uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%016llx.seg", fx->dir, (unsigned long long)id);
}

off_t fx_file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

off_t fx_record_offset(const char *path, unsigned int n)
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

void fx_flip(const char *path, off_t at, uint8_t bits)
{
	int fd = open(path, O_RDWR);
	uint8_t byte;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, at), 1);
	byte ^= bits;
	assert_int_equal(pwrite(fd, &byte, 1, at), 1);
	close(fd);
}

void fx_copy_dir(const char *from, const char *to)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'/* && cp -a '%s'/. '%s'/", to,
		 from, to);
	assert_int_equal(system(cmd), 0);
}
