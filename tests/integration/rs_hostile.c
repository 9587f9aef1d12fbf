/* SPDX-License-Identifier: MIT */
/*
 * rs_hostile: a client that breaks the rules on purpose, for the hostile
 * test. It opens a real session through libringside, then writes into the
 * shared memory directly, behind the library's back:
 *
 *   garbage     random bytes as a committed frame
 *   past-end    a frame whose size runs past tail and the ring
 *   huge        a frame that claims 4 GiB
 *   backwards   tail moved back after the daemon read it
 *   flip        frames rewritten while the daemon may be reading them
 *   reply-head  the reply ring's head moved past its tail
 *   truncate    ftruncate() and new seals on the memfd (must be refused)
 *   fds         control messages carrying descriptors the daemon must close
 *
 * Prints what it did; exits 0 when it could carry out the attack.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "ringside.h"

static ringside_t *rs;
static ringside_topic_t *topic;

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Publishes size bytes at tail as a frame, the way send.c does, but with
 * whatever the caller put there. */
static void raw_frame(const void *bytes, uint32_t size, uint32_t advance)
{
	uint64_t tail = __atomic_load_n(&rs->shm->tail, __ATOMIC_RELAXED);
	uint64_t off = tail & rs->ring_mask;

	memcpy(rs->ring + off, bytes,
	       size < rs->ring_size - off ? size : rs->ring_size - off);
	__atomic_store_n(&rs->shm->tail, tail + advance, __ATOMIC_RELEASE);
	__atomic_fetch_or(&rs->bitmap[ringside_bit_word(off)],
			  ringside_bit_mask(off), __ATOMIC_SEQ_CST);
}

static void wake(void)
{
	uint64_t one = 1;

	(void)!write(rs->doorbell_fd, &one, sizeof(one));
}

static void garbage(void)
{
	uint8_t b[64];

	srand((unsigned int)getpid());
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)rand();
	b[0] = 64; /* a plausible size, so the type and fields are judged */
	b[1] = b[2] = b[3] = 0;
	raw_frame(b, sizeof(b), sizeof(b));
}

static void past_end(void)
{
	struct ringside_frame f = { .size = rs->ring_size * 2,
				    .type = RINGSIDE_FRAME_RECORD };

	raw_frame(&f, sizeof(f), 64);
}

static void huge(void)
{
	struct ringside_frame f = { .size = 0xfffffff8U,
				    .type = RINGSIDE_FRAME_RECORD };

	raw_frame(&f, sizeof(f), 64);
}

static void backwards(void)
{
	uint64_t tail;

	(void)ringside_send(rs, topic, "k", 1, "honest first", 12, 1);
	sleep_ms(300); /* the daemon reads it: head == tail */
	tail = __atomic_load_n(&rs->shm->tail, __ATOMIC_RELAXED);
	__atomic_store_n(&rs->shm->tail, tail - 8, __ATOMIC_RELEASE);
}

static volatile int flipping = 1;

static void *flipper(void *arg)
{
	(void)arg;
	while (flipping) {
		/* rewrite frame headers anywhere in the ring */
		for (uint32_t off = 0; off < rs->ring_size; off += 4096) {
			uint32_t v = (uint32_t)rand();

			memcpy(rs->ring + off + 16, &v, sizeof(v));
		}
	}
	return NULL;
}

static void flip(void)
{
	pthread_t th;

	pthread_create(&th, NULL, flipper, NULL);
	for (unsigned int i = 0; i < 20000; i++) {
		char v[200];
		int n = snprintf(v, sizeof(v), "flip %u", i);

		if (ringside_send(rs, topic, "k", 1, v, (size_t)n, i) < 0)
			sleep_ms(1);
	}
	sleep_ms(500);
	flipping = 0;
	pthread_join(th, NULL);
}

static void reply_head(void)
{
	__atomic_store_n(&rs->shm->reply_head, (uint64_t)1 << 40,
			 __ATOMIC_RELEASE);
	/* more reports than the reply ring holds: the daemon must look at
	 * the head to find room */
	for (unsigned int i = 0; i < 1000; i++)
		if (ringside_send(rs, topic, "k", 1, "wants a report", 14, i) <
		    0)
			sleep_ms(1);
}

static int truncate_memfd(void)
{
	int a = ftruncate(rs->memfd, 4096);
	int ea = errno;
	int b = ftruncate(rs->memfd, (off_t)rs->map_size * 2);
	int eb = errno;
	int c = fcntl(rs->memfd, F_ADD_SEALS, F_SEAL_WRITE);
	int ec = errno;

	printf("shrink: %s; grow: %s; new seal: %s\n",
	       a < 0 ? strerror(ea) : "ALLOWED",
	       b < 0 ? strerror(eb) : "ALLOWED",
	       c < 0 ? strerror(ec) : "ALLOWED");
	/* and the session still works */
	(void)ringside_send(rs, topic, "k", 1, "after truncate", 14, 1);
	return a < 0 && b < 0 && c < 0 ? 0 : 1;
}

/* TOPIC requests, each carrying three descriptors. */
static void fds(void)
{
	for (int i = 0; i < 50; i++) {
		struct ringside_msg_topic m = {
			.hdr = { RINGSIDE_MSG_TOPIC, sizeof(m) },
			.name_len = 7,
		};
		int pass[3] = { rs->memfd, rs->memfd, 0 };
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(pass))];
		} cbuf;
		struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = cbuf.buf,
				     .msg_controllen = sizeof(cbuf.buf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		char buf[RINGSIDE_MSG_MAX];

		memcpy(m.name, "hostile", 7);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(pass));
		memcpy(CMSG_DATA(c), pass, sizeof(pass));
		if (sendmsg(rs->sock, &mh, MSG_NOSIGNAL) < 0)
			break;
		(void)!recv(rs->sock, buf, sizeof(buf), 0);
	}
}

int main(int argc, char **argv)
{
	ringside_options_t o = { 0 };
	char name[64], err[256];
	const char *mode;
	int rc = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: rs_hostile SOCKET MODE\n");
		return 2;
	}
	mode = argv[2];
	snprintf(name, sizeof(name), "hostile-%s", mode);
	o.socket_path = argv[1];
	o.name = name;
	o.flags = RINGSIDE_OPEN_NO_RECONNECT;
	rs = ringside_open_opts(&o, err, sizeof(err));
	if (rs == NULL || ringside_topic(rs, "hostile", &topic) < 0) {
		fprintf(stderr, "rs_hostile: %s\n", rs ? "topic" : err);
		return 1;
	}
	if (strcmp(mode, "garbage") == 0)
		garbage();
	else if (strcmp(mode, "past-end") == 0)
		past_end();
	else if (strcmp(mode, "huge") == 0)
		huge();
	else if (strcmp(mode, "backwards") == 0)
		backwards();
	else if (strcmp(mode, "flip") == 0)
		flip();
	else if (strcmp(mode, "reply-head") == 0)
		reply_head();
	else if (strcmp(mode, "truncate") == 0)
		rc = truncate_memfd();
	else if (strcmp(mode, "fds") == 0)
		fds();
	else
		return 2;
	wake();
	sleep_ms(500); /* let the daemon look */
	printf("%s: done\n", mode);
	fflush(stdout);
	_exit(rc); /* no ringside_close(): as abrupt as a real attacker */
}
