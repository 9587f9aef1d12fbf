/* SPDX-License-Identifier: MIT */
/*
 * stages.c: the two stages measured without Kafka, in this process:
 *
 * the ring: ringside_send() from one thread into a real shared-memory ring
 * (a sealed memfd, as a session gets), and a second thread doing what
 * ringsided does per record (peek, copy out, decode the frame, release),
 * against the simplest single-producer single-consumer ring that copies
 * the same bytes in and out: the practical limit of the machine;
 *
 * the spool: records appended and committed with the default fsync
 * policy (a sync every 100 ms), against write(2) of the same bytes with an
 * fdatasync every 100 ms on the same filesystem.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setaffinity_np */
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench.h"
#include "client/internal.h"
#include "daemon/frame.h"
#include "daemon/ring.h"
#include "daemon/shm.h"
#include "daemon/spool.h"
#include "stages.h"

#define RING_BYTES (4U << 20)

/* The writer on CPU 0, the reader on CPU 1: a ring between two threads
 * that share a CPU measures the scheduler. No-op on one CPU. */
static void pin(pthread_t th, int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(th, sizeof(set), &set);
}

static void unpin(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	for (int i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}
#define MAX_FRAME (64U << 10)

struct ring_run {
	struct rs_shm shm;
	struct ringside *rs;
	struct rs_ring ring;
	struct ringside_topic topic;
	uint64_t n;
	size_t size;
	int done;
};

static void *ring_reader(void *arg)
{
	struct ring_run *r = arg;
	uint8_t *buf = malloc(MAX_FRAME);
	uint64_t got = 0;

	while (got < r->n) {
		struct rs_frame f;
		const char *why;
		uint32_t size;
		int k = rs_ring_peek(&r->ring, &size, &why);

		if (k == RS_RING_EMPTY)
			continue;
		if (k == RS_RING_VIOLATION)
			die("ring: %s", why);
		if (k == RS_RING_RECORD) {
			rs_ring_copy(&r->ring, buf, size);
			if (rs_frame_parse(buf, size, &f, &why) < 0)
				die("frame: %s", why);
			got++;
		}
		rs_ring_advance(&r->ring, size);
		/* the daemon releases after a batch, not per record */
		if ((got & 255) == 0 || got == r->n)
			rs_ring_release(&r->ring, r->ring.head);
	}
	free(buf);
	return NULL;
}

double stage_ring(uint64_t n, size_t size, size_t batch)
{
	struct ring_run r = { .n = n, .size = size };
	char *value = malloc(size);
	pthread_t th;
	int64_t t0;

	memset(value, 'v', size);
	if (rs_shm_create(&r.shm, RING_BYTES, 64, MAX_FRAME, 1) < 0)
		die("rs_shm_create");
	r.rs = calloc(1, sizeof(*r.rs));
	r.rs->sock = r.rs->reply_fd = r.rs->epoll_fd = -1;
	r.rs->doorbell_fd = eventfd(0, EFD_NONBLOCK);
	if (rs_client_attach(r.rs, r.shm.fd, r.shm.size) < 0)
		die("rs_client_attach");
	rs_ring_init(&r.ring, &r.shm);
	pin(pthread_self(), 0);
	t0 = now_ns();
	pthread_create(&th, NULL, ring_reader, &r);
	pin(th, 1);
	if (batch == 0) {
		for (uint64_t i = 0; i < n; i++)
			while (ringside_send(r.rs, &r.topic, "key", 3, value,
					     size, i) == RINGSIDE_EFULL)
				;
	} else {
		ringside_record_t recs[STAGE_BATCH_MAX];

		if (batch > STAGE_BATCH_MAX)
			batch = STAGE_BATCH_MAX;
		for (size_t j = 0; j < batch; j++)
			recs[j] = (ringside_record_t){ .key = "key",
						       .key_len = 3,
						       .value = value,
						       .value_len = size };
		for (uint64_t i = 0; i < n;) {
			size_t want = n - i < batch ? (size_t)(n - i) : batch;
			size_t k = 0;

			for (size_t j = 0; j < want; j++)
				recs[j].opaque = i + j;
			(void)ringside_send_batch(r.rs, &r.topic, recs, want,
						  &k);
			i += k;
		}
	}
	pthread_join(th, NULL);
	t0 = now_ns() - t0;
	unpin();
	rs_client_detach(r.rs);
	close(r.rs->doorbell_fd);
	free(r.rs);
	rs_shm_destroy(&r.shm);
	free(value);
	return (double)n / ((double)t0 / 1e9);
}

/* The baseline: fixed-size slots, one writer, one reader, acquire and
 * release on two counters, the same bytes copied in and out. */
struct spsc {
	uint64_t head __attribute__((aligned(64)));
	uint64_t tail __attribute__((aligned(64)));
	uint8_t *slots;
	size_t slot;
	uint64_t nslots;
	uint64_t n;
	uint64_t sum; /* what the reader read, checked by the writer */
};

static void *spsc_reader(void *arg)
{
	struct spsc *q = arg;
	uint8_t *buf = malloc(q->slot);
	uint64_t head = 0, sum = 0;

	while (head < q->n) {
		uint64_t tail = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);

		for (; head < tail; head++) {
			uint64_t len;

			memcpy(buf, q->slots + (head % q->nslots) * q->slot,
			       q->slot);
			/* read what was copied, as a decoder would: the
			 * copy cannot be optimized away */
			memcpy(&len, buf, sizeof(len));
			if (len > q->slot - 32)
				die("spsc: a bad length");
			sum += len + buf[31 + len]; /* the value's last byte */
		}
		__atomic_store_n(&q->head, head, __ATOMIC_RELEASE);
	}
	q->sum = sum;
	free(buf);
	return NULL;
}

double stage_spsc(uint64_t n, size_t size)
{
	struct spsc q = { .n = n };
	char *value = malloc(size);
	uint64_t tail = 0;
	pthread_t th;
	int64_t t0;

	memset(value, 'v', size);
	q.slot = (size + 32 + 7) & ~(size_t)7; /* a length and a key */
	q.nslots = RING_BYTES / q.slot;
	q.slots = malloc(q.nslots * q.slot);
	pin(pthread_self(), 0);
	t0 = now_ns();
	pthread_create(&th, NULL, spsc_reader, &q);
	pin(th, 1);
	for (; tail < n; tail++) {
		uint8_t *s;

		while (tail - __atomic_load_n(&q.head, __ATOMIC_ACQUIRE) >=
		       q.nslots)
			;
		s = q.slots + (tail % q.nslots) * q.slot;
		memcpy(s, &size, sizeof(size));
		memcpy(s + 8, "key", 3);
		memcpy(s + 32, value, size);
		__atomic_store_n(&q.tail, tail + 1, __ATOMIC_RELEASE);
	}
	pthread_join(th, NULL);
	t0 = now_ns() - t0;
	unpin();
	if (q.sum != n * (size + 'v'))
		die("spsc: the reader read wrong bytes");
	free(q.slots);
	free(value);
	return (double)n / ((double)t0 / 1e9);
}

static void no_topics(void *arg, uint32_t topic, const char *name,
		      uint64_t records, const struct rs_spool_pos *first)
{
	(void)arg;
	(void)topic;
	(void)name;
	(void)records;
	(void)first;
}

double stage_spool(const char *dir, uint64_t bytes, size_t size)
{
	struct rs_spool_config sc = {
		.dir = dir,
		.fsync = RS_FSYNC_INTERVAL,
		.fsync_interval_ms = 100,
		.max_bytes = bytes * 2 + (256ULL << 20),
		.segment_bytes = 64ULL << 20,
		.max_record = 1U << 20,
	};
	char *value = malloc(size), err[512];
	struct rs_spool_stats st;
	struct rs_spool *sp;
	uint32_t topic;
	uint64_t written = 0, i = 0;
	int64_t t0;

	memset(value, 'v', size);
	if (rs_spool_open(&sc, no_topics, NULL, &sp, err, sizeof(err)) < 0)
		die("spool: %s", err);
	topic = rs_spool_topic(sp, "bench", 5);
	t0 = now_ns();
	while (written < bytes) {
		struct rs_srec_in in = {
			.topic = "bench",
			.topic_len = 5,
			.session_id = 1,
			.opaque = i++,
			.partition = -1,
			.key = "key",
			.key_len = 3,
			.value = value,
			.value_len = (uint32_t)size,
		};
		struct rs_spool_pos pos;
		uint64_t seq;

		if (rs_spool_append(sp, topic, &in, &seq, &pos) < 0)
			die("spool append failed");
		written += rs_srec_size(&in);
		/* a drain pass commits what it appended */
		if ((i & 255) == 0) {
			if (rs_spool_commit(sp) < 0)
				die("spool commit failed");
			rs_spool_tick(sp, now_ns() / 1000000);
		}
	}
	rs_spool_stats(sp, &st);
	rs_spool_close(sp); /* writes, syncs, checkpoints */
	t0 = now_ns() - t0;
	rmdir_tree(dir);
	free(value);
	return (double)written / 1e6 / ((double)t0 / 1e9);
}

double stage_raw(const char *dir, uint64_t bytes)
{
	char path[400];
	size_t chunk = 256U << 10;
	char *buf = malloc(chunk);
	int64_t t0, last_sync;
	uint64_t written = 0;
	int fd;

	memset(buf, 'v', chunk);
	snprintf(path, sizeof(path), "%s.raw", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	t0 = last_sync = now_ns();
	while (written < bytes) {
		if (write(fd, buf, chunk) != (ssize_t)chunk)
			die("write: %s", strerror(errno));
		written += chunk;
		if (now_ns() - last_sync >= 100000000) {
			(void)fdatasync(fd);
			last_sync = now_ns();
		}
	}
	(void)fdatasync(fd);
	t0 = now_ns() - t0;
	close(fd);
	unlink(path);
	free(buf);
	return (double)written / 1e6 / ((double)t0 / 1e9);
}
