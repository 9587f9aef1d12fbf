/* SPDX-License-Identifier: MIT */
/*
 * test_reconnect.c: the client library's reconnection, against a fake
 * daemon played by this test over a real Unix socket: after the daemon
 * goes away, sends still land in the ring; ringside_poll() reconnects step
 * by step without blocking, hands over the same memfd, re-resolves topics
 * in id order and resumes; retries back off; a WELCOME with someone else's
 * memory is refused; RINGSIDE_OPEN_NO_RECONNECT gives the old behaviour.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/shm.h"
#include "internal.h"
#include "ringside.h"
#include "ringside_proto.h"

struct fake {
	char path[108];
	int lfd;
	int conn;
	struct rs_shm shm;
	int doorbell, reply;
	unsigned int topics; /* TOPIC requests to answer at open */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fake_listen(struct fake *f)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	unlink(f->path);
	memcpy(sun.sun_path, f->path, strlen(f->path) + 1);
	f->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
}

/* Receives one message; a passed descriptor, if any, goes to *fd. */
static ssize_t fake_recv(int conn, void *buf, size_t len, int *fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf.buf,
			     .msg_controllen = sizeof(cbuf.buf) };
	struct pollfd pfd = { .fd = conn, .events = POLLIN };
	ssize_t n;

	if (fd != NULL)
		*fd = -1;
	if (poll(&pfd, 1, 2000) != 1)
		return -ETIMEDOUT;
	n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
	     c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_type == SCM_RIGHTS && fd != NULL)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

static void fake_welcome(struct fake *f, int memfd)
{
	struct ringside_msg_welcome w = {
		.hdr = { RINGSIDE_MSG_WELCOME, sizeof(w) },
		.session_id = 77,
		.map_size = f->shm.size,
	};
	int fds[3] = { memfd, f->doorbell, f->reply };

	assert_int_equal(rs_control_send(f->conn, &w, sizeof(w), fds, 3), 0);
}

static void fake_topic_ok(struct fake *f, uint32_t id)
{
	struct ringside_msg_topic_ok ok = {
		.hdr = { RINGSIDE_MSG_TOPIC_OK, sizeof(ok) },
		.topic = id,
	};

	assert_int_equal(rs_control_send(f->conn, &ok, sizeof(ok), NULL, 0), 0);
}

static void new_eventfds(struct fake *f)
{
	f->doorbell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	f->reply = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(f->doorbell >= 0 && f->reply >= 0);
}

/* The first daemon: HELLO, then f->topics TOPIC requests. */
static void *serve_open(void *arg)
{
	struct fake *f = arg;
	char buf[RINGSIDE_MSG_MAX];

	f->conn = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(f->conn >= 0);
	assert_int_equal(fake_recv(f->conn, buf, sizeof(buf), NULL),
			 sizeof(struct ringside_msg_hello));
	assert_int_equal(rs_shm_create(&f->shm, RINGSIDE_RING_MIN,
				       RINGSIDE_REPLY_MIN, 4096, 77),
			 0);
	new_eventfds(f);
	fake_welcome(f, f->shm.fd);
	for (uint32_t i = 0; i < f->topics; i++) {
		assert_int_equal(fake_recv(f->conn, buf, sizeof(buf), NULL),
				 sizeof(struct ringside_msg_topic));
		fake_topic_ok(f, i);
	}
	return NULL;
}

static ringside_t *open_with(struct fake *f, unsigned int flags,
			     ringside_topic_t **a, ringside_topic_t **b)
{
	ringside_options_t o = { .socket_path = f->path,
				 .name = "t",
				 .flags = flags };
	pthread_t th;
	char err[256];
	ringside_t *rs;

	f->topics = 2;
	fake_listen(f);
	pthread_create(&th, NULL, serve_open, f);
	rs = ringside_open_opts(&o, err, sizeof(err));
	assert_non_null(rs);
	assert_int_equal(ringside_topic(rs, "a", a), 0);
	assert_int_equal(ringside_topic(rs, "b", b), 0);
	pthread_join(th, NULL);
	return rs;
}

/* The daemon dies: its sockets close. */
static void fake_crash(struct fake *f)
{
	close(f->conn);
	close(f->lfd);
	close(f->doorbell);
	close(f->reply);
	unlink(f->path);
}

static void noop(const ringside_report_t *r, void *ctx)
{
	(void)r;
	(void)ctx;
}

/* Polls until the library notices the daemon has gone. */
static void wait_disconnected(ringside_t *rs)
{
	int64_t deadline = now_ms() + 2000;
	ringside_state_t st;

	do {
		(void)ringside_poll(rs, noop, NULL);
		assert_int_equal(ringside_state(rs, &st), 0);
		if (st.backpressure == RINGSIDE_DISCONNECTED)
			return;
		usleep(5000);
	} while (now_ms() < deadline);
	fail_msg("the library never noticed the daemon went away");
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	snprintf(f->path, sizeof(f->path), "/tmp/rs-test-reconnect-%d.sock",
		 (int)getpid());
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	unlink(f->path);
	rs_shm_destroy(&f->shm);
	free(f);
	return 0;
}

static void test_resume(void **state)
{
	struct fake *f = *state;
	ringside_topic_t *a, *b;
	ringside_state_t st;
	char buf[RINGSIDE_MSG_MAX];
	struct ringside_msg_hello h;
	struct stat s1, s2;
	int doorbell_before, memfd;
	ringside_t *rs = open_with(f, 0, &a, &b);
	uint64_t tail_before;

	assert_int_equal(ringside_send(rs, a, "k", 1, "v1", 2, 1), 0);
	fake_crash(f);
	wait_disconnected(rs);
	/* the ring still takes records while nobody serves it */
	assert_int_equal(ringside_send(rs, b, "k", 1, "v2", 2, 2), 0);
	tail_before = __atomic_load_n(&f->shm.hdr->tail, __ATOMIC_ACQUIRE);
	assert_true(tail_before > 0);
	doorbell_before = rs->doorbell_fd;

	/* a new daemon: the library connects and hands its memory over */
	fake_listen(f);
	rs->retry_at_ms = 0;
	(void)ringside_poll(rs, noop, NULL);
	f->conn = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(f->conn >= 0);
	assert_int_equal(fake_recv(f->conn, buf, sizeof(buf), &memfd),
			 sizeof(h));
	memcpy(&h, buf, sizeof(h));
	assert_int_equal(h.flags & RINGSIDE_HELLO_F_RESUME,
			 RINGSIDE_HELLO_F_RESUME);
	assert_int_equal(h.session_id, 77);
	assert_int_equal(h.map_size, f->shm.size);
	assert_true(memfd >= 0);
	assert_int_equal(fstat(memfd, &s1), 0);
	assert_int_equal(fstat(f->shm.fd, &s2), 0);
	assert_int_equal(s1.st_ino, s2.st_ino); /* the same memory */
	close(memfd);
	assert_int_equal(ringside_state(rs, &st), 0);
	assert_int_equal(st.backpressure, RINGSIDE_DISCONNECTED);

	new_eventfds(f);
	fake_welcome(f, f->shm.fd);
	(void)ringside_poll(rs, noop, NULL);
	/* topics again, in id order */
	for (uint32_t i = 0; i < 2; i++) {
		struct ringside_msg_topic m;

		assert_int_equal(fake_recv(f->conn, buf, sizeof(buf), NULL),
				 sizeof(m));
		memcpy(&m, buf, sizeof(m));
		assert_int_equal(m.hdr.type, RINGSIDE_MSG_TOPIC);
		assert_memory_equal(m.name, i == 0 ? "a" : "b", 2);
		fake_topic_ok(f, i);
	}
	(void)ringside_poll(rs, noop, NULL);
	{
		struct ringside_msg r;

		assert_int_equal(fake_recv(f->conn, buf, sizeof(buf), NULL),
				 sizeof(r));
		memcpy(&r, buf, sizeof(r));
		assert_int_equal(r.type, RINGSIDE_MSG_RESUME);
	}
	assert_int_equal(ringside_state(rs, &st), 0);
	assert_int_not_equal(st.backpressure, RINGSIDE_DISCONNECTED);
	assert_int_equal(rs->reconnects, 1);
	/* senders keep their descriptor number; it now wakes the new daemon */
	assert_int_equal(rs->doorbell_fd, doorbell_before);
	__atomic_store_n(&f->shm.hdr->flags, RINGSIDE_F_NEED_WAKEUP,
			 __ATOMIC_SEQ_CST);
	assert_int_equal(ringside_send(rs, a, "k", 1, "v3", 2, 3), 0);
	{
		eventfd_t v = 0;

		assert_int_equal(eventfd_read(f->doorbell, &v), 0);
		assert_int_equal(v, 1);
	}
	assert_true(__atomic_load_n(&f->shm.hdr->tail, __ATOMIC_ACQUIRE) >
		    tail_before);
	ringside_close(rs);
	fake_crash(f);
}

static void test_backoff(void **state)
{
	struct fake *f = *state;
	ringside_topic_t *a, *b;
	ringside_t *rs = open_with(f, 0, &a, &b);
	unsigned int hellos = 0;
	int64_t end;

	fake_crash(f);
	wait_disconnected(rs);
	/* a daemon that refuses every session: the library keeps trying,
	 * ever more slowly, and never blocks */
	fake_listen(f);
	end = now_ms() + 400;
	while (now_ms() < end) {
		struct pollfd pfd = { .fd = f->lfd, .events = POLLIN };
		int64_t t = now_ms();

		(void)ringside_poll(rs, noop, NULL);
		assert_true(now_ms() - t < 50);
		if (poll(&pfd, 1, 1) == 1) {
			char buf[RINGSIDE_MSG_MAX];
			int conn = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
			int fd;

			if (fake_recv(conn, buf, sizeof(buf), &fd) > 0)
				hellos++;
			if (fd >= 0)
				close(fd);
			close(conn); /* refused */
		}
	}
	/* at once, then after 50, 100 and 200 ms (one may fall either side
	 * of the 400 ms) */
	assert_true(hellos >= 3 && hellos <= 5);
	ringside_close(rs);
	close(f->lfd);
}

static void test_foreign_memory_refused(void **state)
{
	struct fake *f = *state;
	ringside_topic_t *a, *b;
	ringside_state_t st;
	struct rs_shm other;
	char buf[RINGSIDE_MSG_MAX];
	ringside_t *rs = open_with(f, 0, &a, &b);
	int memfd;

	fake_crash(f);
	wait_disconnected(rs);
	fake_listen(f);
	rs->retry_at_ms = 0;
	(void)ringside_poll(rs, noop, NULL);
	f->conn = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fake_recv(f->conn, buf, sizeof(buf), &memfd) > 0);
	close(memfd);
	/* answer with another memfd of the same size */
	assert_int_equal(rs_shm_create(&other, RINGSIDE_RING_MIN,
				       RINGSIDE_REPLY_MIN, 4096, 77),
			 0);
	new_eventfds(f);
	fake_welcome(f, other.fd);
	(void)ringside_poll(rs, noop, NULL);
	assert_int_equal(ringside_state(rs, &st), 0);
	assert_int_equal(st.backpressure, RINGSIDE_DISCONNECTED);
	/* it hung up and will try again later */
	assert_int_equal(fake_recv(f->conn, buf, sizeof(buf), NULL), 0);
	rs_shm_destroy(&other);
	ringside_close(rs);
	fake_crash(f);
}

/* reserved option space is for later versions: a non-zero word fails the
 * open at once, naming it, before anything is connected */
static void test_options_reserved(void **state)
{
	struct fake *f = *state;
	ringside_options_t o = { .socket_path = f->path, .resv = { 0, 7 } };
	char err[256] = "";

	assert_null(ringside_open_opts(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "resv"));
}

static void test_no_reconnect(void **state)
{
	struct fake *f = *state;
	ringside_topic_t *a, *b;
	ringside_t *rs = open_with(f, RINGSIDE_OPEN_NO_RECONNECT, &a, &b);
	int64_t deadline = now_ms() + 2000;
	int n;

	fake_crash(f);
	do {
		n = ringside_poll(rs, noop, NULL);
		usleep(5000);
	} while (n != RINGSIDE_ENOTCONN && now_ms() < deadline);
	assert_int_equal(n, RINGSIDE_ENOTCONN);
	assert_int_equal(ringside_send(rs, a, "k", 1, "v", 1, 1),
			 RINGSIDE_ENOTCONN);
	ringside_close(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_memory_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_reserved, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_reconnect, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
