/* SPDX-License-Identifier: MIT */
/*
 * test_ring.c: the send ring, both sides: the client's reservation and
 * commit (client/send.c) against the daemon's reader (daemon/ring.c), over
 * a real sealed memfd: wrap and padding, full, cursors, the commit bitmap,
 * the sleep/wake protocol, hostile cursors and frames, several threads
 * sending at once, and ringside_send_batch()'s runs, prefixes and bad
 * records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "client/internal.h"
#include "daemon/frame.h"
#include "daemon/ring.h"
#include "daemon/shm.h"

#define RING (64U * 1024U)
#define MAX_FRAME (16U * 1024U)

struct fixture {
	struct rs_shm shm;
	struct ringside *rs;
	struct rs_ring ring;
	struct ringside_topic topic;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(rs_shm_create(&f->shm, RING, 64, MAX_FRAME, 1), 0);
	f->rs = calloc(1, sizeof(*f->rs));
	f->rs->sock = f->rs->reply_fd = f->rs->epoll_fd = -1;
	f->rs->doorbell_fd = eventfd(0, EFD_NONBLOCK);
	assert_int_equal(rs_client_attach(f->rs, f->shm.fd, f->shm.size), 0);
	rs_ring_init(&f->ring, &f->shm);
	f->topic.id = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rs_client_detach(f->rs);
	close(f->rs->doorbell_fd);
	free(f->rs);
	rs_shm_destroy(&f->shm);
	free(f);
	return 0;
}

/* Sends a record whose value is len bytes of c. */
static int send_value(struct fixture *f, size_t len, char c, uint64_t opaque)
{
	char *v = malloc(len + 1);
	int rc;

	memset(v, c, len);
	rc = ringside_send(f->rs, &f->topic, "k", 1, v, len, opaque);
	free(v);
	return rc;
}

/* Reads one record, skipping padding; returns 0 if none. */
static int read_record(struct fixture *f, struct rs_frame *fr, void **buf,
		       int *padded)
{
	const char *why = NULL;
	uint32_t size;
	int k;

	*padded = 0;
	for (;;) {
		k = rs_ring_peek(&f->ring, &size, &why);
		assert_int_not_equal(k, RS_RING_VIOLATION);
		if (k == RS_RING_EMPTY)
			return 0;
		if (k == RS_RING_PAD) {
			*padded = 1;
			rs_ring_advance(&f->ring, size);
			continue;
		}
		*buf = malloc(size);
		rs_ring_copy(&f->ring, *buf, size);
		assert_int_equal(rs_frame_parse(*buf, size, fr, &why), 0);
		rs_ring_advance(&f->ring, size);
		return 1;
	}
}

static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	ringside_header_t hdrs[2] = {
		{ .name = "a", .value = "xyz", .value_len = 3 },
		{ .name = "null", .value = NULL },
	};
	ringside_record_t rec = {
		.key = "key",
		.key_len = 3,
		.value = "value!",
		.value_len = 6,
		.headers = hdrs,
		.header_count = 2,
		.timestamp = 1234567,
		.opaque = 42,
		.partition = 3,
		.flags = RINGSIDE_REC_PARTITION,
	};
	struct rs_frame_header h;
	struct rs_frame fr;
	uint32_t pos = 0;
	void *buf;
	int padded;

	assert_int_equal(ringside_sendv(f->rs, &f->topic, &rec), 0);
	assert_int_equal(read_record(f, &fr, &buf, &padded), 1);
	assert_int_equal(fr.opaque, 42);
	assert_int_equal(fr.timestamp, 1234567);
	assert_int_equal(fr.partition, 3);
	assert_int_equal(fr.key_len, 3);
	assert_memory_equal(fr.key, "key", 3);
	assert_int_equal(fr.value_len, 6);
	assert_memory_equal(fr.value, "value!", 6);
	assert_int_equal(fr.header_count, 2);
	assert_int_equal(rs_frame_header_next(&fr, &pos, &h), 1);
	assert_int_equal(h.name_len, 1);
	assert_memory_equal(h.name, "a", 1);
	assert_int_equal(h.value_len, 3);
	assert_memory_equal(h.value, "xyz", 3);
	assert_int_equal(rs_frame_header_next(&fr, &pos, &h), 1);
	assert_null(h.value);
	assert_int_equal(rs_frame_header_next(&fr, &pos, &h), 0);
	free(buf);
	assert_int_equal(read_record(f, &fr, &buf, &padded), 0);
}

static void test_null_key_and_value(void **state)
{
	struct fixture *f = *state;
	ringside_record_t rec = { .opaque = 7 };
	struct rs_frame fr;
	void *buf;
	int padded;

	assert_int_equal(ringside_sendv(f->rs, &f->topic, &rec), 0);
	assert_int_equal(read_record(f, &fr, &buf, &padded), 1);
	assert_null(fr.key);
	assert_null(fr.value);
	assert_int_equal(fr.partition, -1);
	free(buf);
	/* an empty value is not a null value */
	assert_int_equal(ringside_send(f->rs, &f->topic, NULL, 0, "", 0, 8), 0);
	assert_int_equal(read_record(f, &fr, &buf, &padded), 1);
	assert_non_null(fr.value);
	assert_int_equal(fr.value_len, 0);
	free(buf);
}

static void test_wrap_and_padding(void **state)
{
	struct fixture *f = *state;
	uint64_t sent = 0, got = 0, pads = 0;

	/* 3000-byte values never divide the ring evenly: frames must wrap */
	for (int round = 0; round < 200; round++) {
		struct rs_frame fr;
		void *buf;
		int padded;

		while (send_value(f, 3000, (char)('a' + sent % 26), sent) == 0)
			sent++;
		while (read_record(f, &fr, &buf, &padded)) {
			assert_int_equal(fr.opaque, got);
			assert_int_equal(fr.value_len, 3000);
			assert_int_equal(((const char *)fr.value)[2999],
					 'a' + got % 26);
			pads += padded;
			got++;
			free(buf);
		}
		rs_ring_release(&f->ring, f->ring.head);
	}
	assert_int_equal(sent, got);
	assert_true(pads > 0);
	assert_true(f->ring.head > 10ULL * RING); /* many laps */
}

static void test_full(void **state)
{
	struct fixture *f = *state;
	uint64_t n = 0, used;
	ringside_state_t st;

	while (send_value(f, 1000, 'x', n) == 0)
		n++;
	assert_int_equal(send_value(f, 1000, 'x', n), RINGSIDE_EFULL);
	used = f->shm.hdr->tail - f->shm.hdr->release;
	assert_true(used <= RING);
	assert_true(used > RING - 1100);
	assert_int_equal(ringside_state(f->rs, &st), 0);
	assert_int_equal(st.ring_used, used);
	assert_int_equal(st.ring_size, RING);
	/* read but not released: still full */
	while (rs_ring_unread(&f->ring) || f->ring.head < f->shm.hdr->tail) {
		uint32_t size;
		const char *why;

		if (rs_ring_peek(&f->ring, &size, &why) == RS_RING_EMPTY)
			break;
		rs_ring_advance(&f->ring, size);
	}
	assert_int_equal(send_value(f, 1000, 'x', n), RINGSIDE_EFULL);
	rs_ring_release(&f->ring, f->ring.head);
	assert_int_equal(send_value(f, 1000, 'x', n), 0);
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	ringside_header_t many[RINGSIDE_HEADERS_MAX + 1];
	ringside_record_t rec = { 0 };
	char big_name[300];

	assert_int_equal(send_value(f, MAX_FRAME, 'x', 1), RINGSIDE_ETOOBIG);
	assert_int_equal(send_value(f, MAX_FRAME - 48 - 1, 'x', 1), 0);
	assert_int_equal(ringside_send(f->rs, NULL, NULL, 0, "v", 1, 0),
			 RINGSIDE_EINVAL);
	assert_int_equal(ringside_send(f->rs, &f->topic, NULL, 5, "v", 1, 0),
			 RINGSIDE_EINVAL);
	for (size_t i = 0; i <= RINGSIDE_HEADERS_MAX; i++)
		many[i] = (ringside_header_t){ .name = "h" };
	rec.headers = many;
	rec.header_count = RINGSIDE_HEADERS_MAX + 1;
	assert_int_equal(ringside_sendv(f->rs, &f->topic, &rec),
			 RINGSIDE_EINVAL);
	memset(big_name, 'n', sizeof(big_name) - 1);
	big_name[sizeof(big_name) - 1] = '\0';
	many[0].name = big_name;
	rec.header_count = 1;
	assert_int_equal(ringside_sendv(f->rs, &f->topic, &rec),
			 RINGSIDE_EINVAL);
	many[0].name = "";
	assert_int_equal(ringside_sendv(f->rs, &f->topic, &rec),
			 RINGSIDE_EINVAL);
	/* header names are UTF-8: an overlong NUL, a lone continuation byte
	 * and a surrogate are refused; a real accent is not */
	many[0].name = "a\xc0\x80";
	assert_int_equal(ringside_sendv(f->rs, &f->topic, &rec),
			 RINGSIDE_EINVAL);
	many[0].name = "\x80x";
	assert_int_equal(ringside_sendv(f->rs, &f->topic, &rec),
			 RINGSIDE_EINVAL);
	many[0].name = "\xed\xa0\x80";
	assert_int_equal(ringside_sendv(f->rs, &f->topic, &rec),
			 RINGSIDE_EINVAL);
	many[0].name = "caf\xc3\xa9";
	assert_int_equal(ringside_sendv(f->rs, &f->topic, &rec), 0);
	rec.header_count = 0;
	rec.flags = RINGSIDE_REC_PARTITION;
	rec.partition = -2;
	assert_int_equal(ringside_sendv(f->rs, &f->topic, &rec),
			 RINGSIDE_EINVAL);
	rec.flags = 0x80;
	assert_int_equal(ringside_sendv(f->rs, &f->topic, &rec),
			 RINGSIDE_EINVAL);
}

static void test_commit_bits_cleared_on_release(void **state)
{
	struct fixture *f = *state;
	struct rs_frame fr;
	void *buf;
	int padded;
	uint64_t words = RING / 8 / 64;

	for (int i = 0; i < 20; i++)
		assert_int_equal(send_value(f, 100, 'x', (uint64_t)i), 0);
	while (read_record(f, &fr, &buf, &padded))
		free(buf);
	rs_ring_release(&f->ring, f->ring.head);
	assert_int_equal(f->shm.hdr->release, f->ring.head);
	for (uint64_t w = 0; w < words; w++)
		assert_int_equal(f->shm.bitmap[w], 0);
}

/* A reserved frame not yet committed stops the reader; a closing session
 * skips the gap to the next committed frame. */
static void test_uncommitted_gap(void **state)
{
	struct fixture *f = *state;
	struct rs_frame fr;
	void *buf;
	int padded;
	uint64_t t;

	/* reserve 128 bytes by hand, as a thread that died before commit */
	t = f->shm.hdr->tail;
	f->shm.hdr->tail = t + 128;
	assert_int_equal(send_value(f, 10, 'y', 99), 0);
	assert_int_equal(read_record(f, &fr, &buf, &padded), 0);
	assert_int_equal(rs_ring_skip_gap(&f->ring), 128);
	assert_int_equal(read_record(f, &fr, &buf, &padded), 1);
	assert_int_equal(fr.opaque, 99);
	free(buf);
	assert_int_equal(rs_ring_skip_gap(&f->ring), 0);
}

static void test_wakeup(void **state)
{
	struct fixture *f = *state;
	eventfd_t v;
	struct rs_frame fr;
	void *buf;
	int padded;

	/* daemon going to sleep with nothing waiting */
	assert_int_equal(rs_ring_arm(&f->ring), 0);
	assert_true(f->shm.hdr->flags & RINGSIDE_F_NEED_WAKEUP);
	/* the next send rings the doorbell exactly once */
	assert_int_equal(send_value(f, 10, 'a', 1), 0);
	assert_false(f->shm.hdr->flags & RINGSIDE_F_NEED_WAKEUP);
	assert_int_equal(eventfd_read(f->rs->doorbell_fd, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(send_value(f, 10, 'a', 2), 0);
	assert_int_not_equal(eventfd_read(f->rs->doorbell_fd, &v), 0);
	/* arming while a frame waits says: do not sleep */
	assert_int_equal(rs_ring_arm(&f->ring), 1);
	rs_ring_disarm(&f->ring);
	assert_false(f->shm.hdr->flags & RINGSIDE_F_NEED_WAKEUP);
	while (read_record(f, &fr, &buf, &padded))
		free(buf);
	/* polling mode: sends make no system call */
	assert_int_equal(send_value(f, 10, 'a', 3), 0);
	assert_int_not_equal(eventfd_read(f->rs->doorbell_fd, &v), 0);
}

static void expect_violation(struct fixture *f, const char *reason)
{
	const char *why = NULL;
	uint32_t size;

	assert_int_equal(rs_ring_peek(&f->ring, &size, &why),
			 RS_RING_VIOLATION);
	assert_non_null(why);
	if (strstr(why, reason) == NULL)
		print_error("got \"%s\", wanted \"%s\"\n", why, reason);
	assert_non_null(strstr(why, reason));
}

static void put_frame(struct fixture *f, uint64_t pos, uint32_t size,
		      uint16_t type)
{
	uint64_t off = pos & (RING - 1);
	uint64_t word = size | ((uint64_t)type << 32);

	memcpy(f->shm.ring + off, &word, 8);
	f->shm.bitmap[ringside_bit_word(off)] |= ringside_bit_mask(off);
}

static void test_hostile_tail(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(send_value(f, 10, 'a', 1), 0);
	f->shm.hdr->tail = f->ring.release + RING + 8;
	expect_violation(f, "overran");
	f->ring.tail = 0;
	f->shm.hdr->tail = 12;
	expect_violation(f, "aligned");
	f->ring.tail = 64;
	f->shm.hdr->tail = 8;
	f->ring.head = 64;
	expect_violation(f, "backwards");
}

static void test_hostile_frames(void **state)
{
	struct fixture *f = *state;

	f->shm.hdr->tail = 4096;
	put_frame(f, 0, 12, RINGSIDE_FRAME_RECORD);
	expect_violation(f, "multiple of 8");
	put_frame(f, 0, 8192, RINGSIDE_FRAME_RECORD);
	expect_violation(f, "past tail");
	put_frame(f, 0, 24, RINGSIDE_FRAME_RECORD);
	expect_violation(f, "shorter than its header");
	put_frame(f, 0, 64, 7);
	expect_violation(f, "unknown frame type");
	put_frame(f, 0, 64, RINGSIDE_FRAME_PAD);
	expect_violation(f, "padding");
	put_frame(f, 0, 0, RINGSIDE_FRAME_RECORD);
	expect_violation(f, "positive multiple");
	f->shm.hdr->tail = RING;
	f->ring.tail = 0; /* make the reader look at tail again */
	put_frame(f, 0, MAX_FRAME + 8, RINGSIDE_FRAME_RECORD);
	expect_violation(f, "max_frame");
	/* a frame across the end of the ring */
	f->ring.head = f->ring.release = f->ring.tail = RING - 64;
	f->shm.hdr->tail = RING + 64;
	put_frame(f, RING - 64, 128, RINGSIDE_FRAME_RECORD);
	expect_violation(f, "straddles");
}

/* Several threads send on one handle while a reader drains: every record
 * arrives once, each thread's in its own order. */
struct mt {
	struct fixture *f;
	unsigned int thread;
	unsigned int count;
};

#define MT_THREADS 4
#define MT_RECORDS 20000

static void *mt_send(void *arg)
{
	struct mt *m = arg;

	for (unsigned int i = 0; i < m->count;) {
		uint64_t opaque = ((uint64_t)m->thread << 32) | i;
		char v[64];
		int n = 1 + (int)((i * 13 + m->thread) % 60);

		memset(v, 'a' + (int)m->thread, (size_t)n);
		if (ringside_send(m->f->rs, &m->f->topic, NULL, 0, v, (size_t)n,
				  opaque) == 0)
			i++;
	}
	return NULL;
}

/* Runs MT_THREADS threads of send (each MT_RECORDS records) while this
 * thread reads: each thread's records arrive in its order, whole. */
static void run_threads(struct fixture *f, void *(*send)(void *))
{
	pthread_t th[MT_THREADS];
	struct mt m[MT_THREADS];
	unsigned int next[MT_THREADS] = { 0 }, total = 0;

	for (unsigned int i = 0; i < MT_THREADS; i++) {
		m[i] = (struct mt){ .f = f, .thread = i, .count = MT_RECORDS };
		pthread_create(&th[i], NULL, send, &m[i]);
	}
	while (total < MT_THREADS * MT_RECORDS) {
		struct rs_frame fr;
		void *buf;
		int padded;

		while (read_record(f, &fr, &buf, &padded)) {
			unsigned int t = (unsigned int)(fr.opaque >> 32);
			unsigned int i = (unsigned int)fr.opaque;

			assert_true(t < MT_THREADS);
			assert_int_equal(i, next[t]);
			assert_int_equal(fr.value_len, 1 + (i * 13 + t) % 60);
			assert_int_equal(((const char *)fr.value)[0], 'a' + t);
			next[t]++;
			total++;
			free(buf);
		}
		rs_ring_release(&f->ring, f->ring.head);
	}
	for (unsigned int i = 0; i < MT_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(f->shm.hdr->tail, f->ring.head);
}

static void test_threads(void **state)
{
	run_threads(*state, mt_send);
}

/* --- ringside_send_batch() */

#define BATCH_MAX 200

/* Fills recs[0..n) with records whose value is len(i) bytes of a letter
 * of i, opaque first + i; the values live in store. */
static size_t batch_len(uint64_t i)
{
	return 1 + (size_t)((i * 7919) % 3000);
}

static void batch_fill(ringside_record_t *recs, char *store, size_t n,
		       uint64_t first)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = batch_len(first + i);
		char *v = store + i * 3000;

		memset(v, 'a' + (int)((first + i) % 26), len);
		recs[i] = (ringside_record_t){
			.key = "k",
			.key_len = 1,
			.value = v,
			.value_len = len,
			.opaque = first + i,
		};
	}
}

/* Reads every record there is, checking each against batch_fill()'s
 * record of its opaque, in order from *got; releases the ring. */
static void batch_drain(struct fixture *f, uint64_t *got, uint64_t *pads)
{
	struct rs_frame fr;
	void *buf;
	int padded;

	while (read_record(f, &fr, &buf, &padded)) {
		size_t len = batch_len(*got);

		assert_int_equal(fr.opaque, *got);
		assert_int_equal(fr.key_len, 1);
		assert_int_equal(fr.value_len, len);
		assert_int_equal(((const char *)fr.value)[0],
				 'a' + (int)(*got % 26));
		assert_int_equal(((const char *)fr.value)[len - 1],
				 'a' + (int)(*got % 26));
		*pads += padded;
		(*got)++;
		free(buf);
	}
	rs_ring_release(&f->ring, f->ring.head);
}

/* Batches of 1 to 200 records of 1 to 3,000 bytes, lap after lap: every
 * record read back once, in order, whole; frames wrap with padding;
 * *sent counts exactly what the reader finds. */
static void test_batch_wrap(void **state)
{
	struct fixture *f = *state;
	ringside_record_t recs[BATCH_MAX];
	char *store = malloc((size_t)BATCH_MAX * 3000);
	uint64_t sent = 0, got = 0, pads = 0, fulls = 0;

	assert_non_null(store);
	for (int round = 0; round < 400; round++) {
		size_t n = 1 + (size_t)((round * 37) % BATCH_MAX), k = 99999;
		int rc;

		batch_fill(recs, store, n, sent);
		rc = ringside_send_batch(f->rs, &f->topic, recs, n, &k);
		assert_true(k <= n);
		if (rc == 0) {
			assert_int_equal(k, n);
		} else {
			assert_int_equal(rc, RINGSIDE_EFULL);
			assert_true(k < n);
			fulls++;
		}
		sent += k;
		batch_drain(f, &got, &pads);
		assert_int_equal(got, sent);
	}
	free(store);
	assert_true(pads > 0);
	assert_true(fulls > 0); /* some batches were larger than the ring */
	assert_true(f->ring.head > 10ULL * RING);
}

/* A batch larger than the room left: the prefix that fits goes in, the
 * rest is refused with RINGSIDE_EFULL and goes in after a release. */
static void test_batch_full_prefix(void **state)
{
	struct fixture *f = *state;
	ringside_record_t recs[BATCH_MAX];
	char *store = malloc((size_t)BATCH_MAX * 3000);
	uint64_t got = 0, pads = 0;
	size_t k = 0, k2 = 0;

	assert_non_null(store);
	batch_fill(recs, store, BATCH_MAX, 0);
	assert_int_equal(
		ringside_send_batch(f->rs, &f->topic, recs, BATCH_MAX, &k),
		RINGSIDE_EFULL);
	assert_true(k > 0 && k < BATCH_MAX);
	assert_true(f->shm.hdr->tail - f->shm.hdr->release <= RING);
	/* nothing released: nothing more goes in */
	assert_int_equal(ringside_send_batch(f->rs, &f->topic, recs + k,
					     BATCH_MAX - k, &k2),
			 RINGSIDE_EFULL);
	assert_int_equal(k2, 0);
	batch_drain(f, &got, &pads);
	assert_int_equal(got, k);
	while (got < BATCH_MAX) {
		size_t more = 0;
		int rc = ringside_send_batch(f->rs, &f->topic, recs + got,
					     BATCH_MAX - got, &more);

		assert_true(rc == 0 || rc == RINGSIDE_EFULL);
		assert_true(more > 0);
		batch_drain(f, &got, &pads);
	}
	assert_int_equal(got, BATCH_MAX);
	free(store);
}

/* A bad record stops the batch there: the ones before it go in, it and
 * the ones after it do not, and the code is the one ringside_sendv()
 * gives it; also past the first run of 64. */
static void test_batch_bad_record(void **state)
{
	struct fixture *f = *state;
	ringside_record_t recs[100];
	char *store = malloc((size_t)100 * 3000);
	char *huge = calloc(1, MAX_FRAME + 1);
	uint64_t got = 0, pads = 0;
	size_t k = 99;

	assert_non_null(store);
	assert_non_null(huge);
	/* small records, so 100 fit */
	for (size_t i = 0; i < 100; i++) {
		recs[i] = (ringside_record_t){ .value = store,
					       .value_len = 1,
					       .opaque = i };
		store[0] = 'a';
	}
	recs[5].flags = 0x80; /* no such flag */
	assert_int_equal(ringside_sendv(f->rs, &f->topic, &recs[5]),
			 RINGSIDE_EINVAL);
	assert_int_equal(ringside_send_batch(f->rs, &f->topic, recs, 100, &k),
			 RINGSIDE_EINVAL);
	assert_int_equal(k, 5);
	recs[5].flags = 0;
	recs[70].value = huge; /* over max_frame */
	recs[70].value_len = MAX_FRAME + 1;
	assert_int_equal(
		ringside_send_batch(f->rs, &f->topic, recs + 5, 95, &k),
		RINGSIDE_ETOOBIG);
	assert_int_equal(k, 65);
	for (;;) {
		struct rs_frame fr;
		void *buf;
		int padded;

		if (!read_record(f, &fr, &buf, &padded))
			break;
		assert_int_equal(fr.opaque, got);
		got++;
		free(buf);
	}
	assert_int_equal(got, 70);
	/* nothing at all, and bad arguments */
	assert_int_equal(ringside_send_batch(f->rs, &f->topic, recs, 0, &k), 0);
	assert_int_equal(k, 0);
	assert_int_equal(ringside_send_batch(f->rs, &f->topic, NULL, 3, &k),
			 RINGSIDE_EINVAL);
	assert_int_equal(ringside_send_batch(f->rs, NULL, recs, 3, NULL),
			 RINGSIDE_EINVAL);
	(void)pads;
	free(huge);
	free(store);
}

/* A batch into an armed ring rings the doorbell once; in polling mode
 * not at all. */
static void test_batch_wakeup(void **state)
{
	struct fixture *f = *state;
	ringside_record_t recs[50];
	char *store = malloc((size_t)50 * 3000);
	uint64_t got = 0, pads = 0;
	eventfd_t v;
	size_t k;

	assert_non_null(store);
	batch_fill(recs, store, 10, 0);
	assert_int_equal(rs_ring_arm(&f->ring), 0);
	assert_int_equal(ringside_send_batch(f->rs, &f->topic, recs, 10, &k),
			 0);
	assert_int_equal(eventfd_read(f->rs->doorbell_fd, &v), 0);
	assert_int_equal(v, 1);
	batch_drain(f, &got, &pads);
	batch_fill(recs, store, 10, 10);
	assert_int_equal(ringside_send_batch(f->rs, &f->topic, recs, 10, &k),
			 0);
	assert_int_not_equal(eventfd_read(f->rs->doorbell_fd, &v), 0);
	batch_drain(f, &got, &pads);
	assert_int_equal(got, 20);
	free(store);
}

/* Several threads sending batches and single records at once: each
 * thread's records arrive in its order, none lost or torn. */
static void *mt_send_batch(void *arg)
{
	struct mt *m = arg;
	char v[64];

	memset(v, 'a' + (int)m->thread, sizeof(v));
	for (unsigned int i = 0; i < m->count;) {
		ringside_record_t recs[40];
		unsigned int n = 1 + (i + m->thread) % 40;
		size_t k = 0;

		if (n > m->count - i)
			n = m->count - i;
		for (unsigned int j = 0; j < n; j++)
			recs[j] = (ringside_record_t){
				.value = v,
				.value_len =
					1 + ((i + j) * 13 + m->thread) % 60,
				.opaque = ((uint64_t)m->thread << 32) | (i + j),
			};
		if (m->thread == 0 && n == 1) {
			if (ringside_sendv(m->f->rs, &m->f->topic, recs) == 0)
				i++;
			continue;
		}
		(void)ringside_send_batch(m->f->rs, &m->f->topic, recs, n, &k);
		i += (unsigned int)k;
	}
	return NULL;
}

static void test_batch_threads(void **state)
{
	run_threads(*state, mt_send_batch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_null_key_and_value, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrap_and_padding, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_commit_bits_cleared_on_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uncommitted_gap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wakeup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_tail, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_frames, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_wrap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_batch_full_prefix, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_batch_bad_record, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_batch_wakeup, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_batch_threads, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
