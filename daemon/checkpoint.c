/* SPDX-License-Identifier: MIT */
/*
 * checkpoint.c: encodes, decodes, reads and writes the spool's checkpoint
 * (checkpoint.h). The decoder takes the file as hostile: the CRC line is
 * the last line and nothing else, every other line is checked whole
 * before any of it is believed, and a topic name is a Kafka topic name (so
 * no name can look like another line, whatever it contains).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "client/ringside_proto.h"
#include "crc32c.h"
#include "log.h"

#define HEADER_LINE "ringside-spool-checkpoint 1\n"
#define CRC_LINE_LEN 13 /* "crc XXXXXXXX\n" */

struct text {
	char *p;
	size_t len;
	size_t cap;
};

static void checkpoint_text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;

		while (cap < t->len + n + 1)
			cap *= 2;
		t->p = realloc(t->p, cap);
		if (t->p == NULL)
			fatal("checkpoint: realloc %zu", cap);
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

size_t rs_checkpoint_encode(uint64_t next_seq,
			    const struct rs_checkpoint_entry *v, size_t n,
			    char **out)
{
	struct text t = { 0 };
	char line[RINGSIDE_TOPIC_NAME_MAX + 64];
	int k;

	checkpoint_text_add(&t, HEADER_LINE, strlen(HEADER_LINE));
	k = snprintf(line, sizeof(line), "next_seq %" PRIu64 "\n", next_seq);
	checkpoint_text_add(&t, line, (size_t)k);
	for (size_t i = 0; i < n; i++) {
		k = snprintf(line, sizeof(line), "topic %s %" PRIu64 "\n",
			     v[i].name, v[i].seq);
		checkpoint_text_add(&t, line, (size_t)k);
	}
	k = snprintf(line, sizeof(line), "crc %08x\n",
		     rs_crc32c(0, t.p, t.len));
	checkpoint_text_add(&t, line, (size_t)k);
	*out = t.p;
	return t.len;
}

/* A decimal u64 filling exactly [p, end). */
static int checkpoint_parse_u64(const char *p, const char *end, uint64_t *v)
{
	uint64_t x = 0;

	if (p == end || end - p > 20)
		return -1;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*v = x;
	return 0;
}

/* One line [p, end) without its newline; fn NULL: only check it. */
static int checkpoint_decode_line(const char *p, const char *end,
				  uint64_t *next_seq, rs_checkpoint_topic_fn fn,
				  void *arg)
{
	char name[RINGSIDE_TOPIC_NAME_MAX + 1];
	const char *sp;
	uint64_t v;

	if (end - p > 9 && memcmp(p, "next_seq ", 9) == 0)
		return checkpoint_parse_u64(p + 9, end, next_seq);
	if (end - p < 6 || memcmp(p, "topic ", 6) != 0)
		return -1;
	p += 6;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL || !ringside_topic_name_valid(p, (size_t)(sp - p)) ||
	    checkpoint_parse_u64(sp + 1, end, &v) < 0)
		return -1;
	if (fn != NULL) {
		memcpy(name, p, (size_t)(sp - p));
		name[sp - p] = '\0';
		fn(arg, name, v);
	}
	return 0;
}

static int checkpoint_decode_lines(const char *text, size_t len,
				   uint64_t *next_seq,
				   rs_checkpoint_topic_fn fn, void *arg)
{
	const char *p = text + strlen(HEADER_LINE), *end = text + len;
	int have_next = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			return -1;
		if (end - p > 9 && memcmp(p, "next_seq ", 9) == 0)
			have_next++;
		if (checkpoint_decode_line(p, nl, next_seq, fn, arg) < 0)
			return -1;
		p = nl + 1;
	}
	return have_next == 1 ? 0 : -1;
}

int rs_checkpoint_decode(const char *text, size_t len, uint64_t *next_seq,
			 rs_checkpoint_topic_fn fn, void *arg)
{
	const char *crcline;
	unsigned int crc;
	char hex[9];
	uint64_t seq = 0;

	if (len < strlen(HEADER_LINE) + CRC_LINE_LEN ||
	    memcmp(text, HEADER_LINE, strlen(HEADER_LINE)) != 0 ||
	    text[len - 1] != '\n')
		return -1;
	/* the CRC is the last line, whatever the lines before contain */
	crcline = text + len - CRC_LINE_LEN;
	if (crcline[-1] != '\n' || memcmp(crcline, "crc ", 4) != 0)
		return -1;
	memcpy(hex, crcline + 4, 8);
	hex[8] = '\0';
	for (int i = 0; i < 8; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') ||
		      (hex[i] >= 'a' && hex[i] <= 'f')))
			return -1;
	if (sscanf(hex, "%8x", &crc) != 1 ||
	    crc != rs_crc32c(0, text, (size_t)(crcline - text)))
		return -1;
	/* every line checked before any is reported */
	if (checkpoint_decode_lines(text, (size_t)(crcline - text), &seq, NULL,
				    NULL) < 0)
		return -1;
	*next_seq = seq;
	return checkpoint_decode_lines(text, (size_t)(crcline - text), &seq, fn,
				       arg);
}

int rs_checkpoint_read(int dirfd, uint64_t *next_seq, rs_checkpoint_topic_fn fn,
		       void *arg)
{
	struct stat st;
	char *text;
	size_t got = 0;
	int fd, rc;

	fd = openat(dirfd, RS_CHECKPOINT_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > RS_CHECKPOINT_MAX) {
		close(fd);
		return -1;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL)
		fatal("checkpoint: malloc");
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, text + got, (size_t)st.st_size - got,
				  (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	text[got] = '\0';
	rc = got == (size_t)st.st_size
		     ? rs_checkpoint_decode(text, got, next_seq, fn, arg)
		     : -1;
	free(text);
	return rc;
}

static int checkpoint_write_all(int fd, const char *p, size_t len)
{
	off_t off = 0;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int rs_checkpoint_write_tmp(int dirfd, uint64_t next_seq,
			    const struct rs_checkpoint_entry *v, size_t n)
{
	char *text;
	size_t len = rs_checkpoint_encode(next_seq, v, n, &text);
	int fd, saved = 0;

	fd = openat(dirfd, RS_CHECKPOINT_TMP,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(text);
		return -1;
	}
	if (checkpoint_write_all(fd, text, len) < 0 || fdatasync(fd) < 0)
		saved = errno ? errno : EIO;
	close(fd);
	free(text);
	if (saved != 0) {
		errno = saved;
		return -1;
	}
	return 0;
}
