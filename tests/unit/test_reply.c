/* SPDX-License-Identifier: MIT */
/*
 * test_reply.c: the daemon's reply writer (daemon/reply.c) against the
 * client's reader (client/poll.c) over a real memfd: ordering, a full ring
 * spilling into the bounded backlog, drops counted, the wake-up protocol,
 * and a hostile reply head.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "client/internal.h"
#include "daemon/reply.h"
#include "daemon/shm.h"

#define SLOTS 64U
#define BACKLOG 100U

struct fixture {
	struct rs_shm shm;
	struct rs_reply reply;
	struct ringside *rs;
	int wake_fd;
	uint64_t got[1024];
	size_t ngot;
};

/*
 * The daemon's wake-up write, taken over: when racing is set, the client
 * polls right then, as a client thread can at that moment on another CPU.
 */
static struct fixture *racing;
static void collect(const ringside_report_t *r, void *ctx);

int eventfd_write(int fd, eventfd_t value)
{
	if (racing != NULL) {
		struct fixture *f = racing;

		racing = NULL;
		(void)ringside_poll(f->rs, collect, f);
	}
	return write(fd, &value, sizeof(value)) == (ssize_t)sizeof(value)
		       ? 0
		       : -1;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_int_equal(rs_shm_create(&f->shm, 64 * 1024, SLOTS, 1024, 1), 0);
	f->wake_fd = eventfd(0, EFD_NONBLOCK);
	rs_reply_init(&f->reply, &f->shm, BACKLOG, f->wake_fd);
	f->rs = calloc(1, sizeof(*f->rs));
	f->rs->sock = f->rs->doorbell_fd = f->rs->epoll_fd = -1;
	f->rs->reply_fd = f->wake_fd;
	/* the liveness check would look at a socket; push it far away */
	f->rs->next_liveness_ms = INT64_MAX;
	assert_int_equal(rs_client_attach(f->rs, f->shm.fd, f->shm.size), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rs_client_detach(f->rs);
	free(f->rs);
	rs_reply_free(&f->reply);
	close(f->wake_fd);
	rs_shm_destroy(&f->shm);
	free(f);
	return 0;
}

static void collect(const ringside_report_t *r, void *ctx)
{
	struct fixture *f = ctx;

	f->got[f->ngot++] = r->opaque;
}

static void push(struct fixture *f, uint64_t opaque)
{
	struct ringside_reply_slot s = { .opaque = opaque, .offset = -1 };
	const char *why;

	assert_int_equal(rs_reply_push(&f->reply, &s, &why), 0);
}

static void flush(struct fixture *f)
{
	const char *why;

	assert_int_equal(rs_reply_flush(&f->reply, &why), 0);
}

static void test_order(void **state)
{
	struct fixture *f = *state;

	for (uint64_t i = 0; i < 10; i++)
		push(f, i);
	/* nothing is visible before the flush */
	assert_int_equal(ringside_poll(f->rs, collect, f), 0);
	flush(f);
	assert_int_equal(ringside_poll(f->rs, collect, f), 10);
	for (uint64_t i = 0; i < 10; i++)
		assert_int_equal(f->got[i], i);
}

static void test_backlog_and_drops(void **state)
{
	struct fixture *f = *state;
	ringside_state_t st;
	size_t total = SLOTS + BACKLOG + 10;

	for (uint64_t i = 0; i < total; i++)
		push(f, i);
	flush(f);
	assert_int_equal(f->reply.backlog_len, BACKLOG);
	assert_int_equal(f->shm.hdr->reports_backlog, BACKLOG);
	assert_int_equal(f->reply.dropped, 10);
	assert_int_equal(ringside_state(f->rs, &st), 0);
	assert_int_equal(st.reports_dropped, 10);
	/* the client reads; the backlog moves in, in order */
	while (f->ngot < SLOTS + BACKLOG) {
		int n = ringside_poll(f->rs, collect, f);

		assert_true(n >= 0);
		flush(f);
	}
	for (uint64_t i = 0; i < SLOTS + BACKLOG; i++)
		assert_int_equal(f->got[i], i);
	assert_int_equal(f->reply.backlog_len, 0);
	assert_int_equal(f->shm.hdr->reports_backlog, 0);
}

static void test_wakeup(void **state)
{
	struct fixture *f = *state;
	eventfd_t v;

	/* an idle poll asks to be woken */
	assert_int_equal(ringside_poll(f->rs, collect, f), 0);
	assert_true(f->shm.hdr->reply_flags & RINGSIDE_RF_WANT_WAKEUP);
	push(f, 1);
	flush(f);
	assert_false(f->shm.hdr->reply_flags & RINGSIDE_RF_WANT_WAKEUP);
	assert_int_equal(eventfd_read(f->wake_fd, &v), 0);
	assert_int_equal(v, 1);
	/* nobody asked: no write */
	push(f, 2);
	flush(f);
	assert_int_not_equal(eventfd_read(f->wake_fd, &v), 0);
	assert_int_equal(ringside_poll(f->rs, collect, f), 2);
}

static int fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/*
 * The client polls while the daemon wakes it. The daemon used to clear
 * the client's flag, then write the eventfd: a poll between the two saw
 * the flag clear, read an empty eventfd, and the write that followed was
 * never consumed, so ringside_fd() stayed readable with nothing to read
 * (an idle loop woke 613,904 times in a second). After any interleaving
 * the fd must be quiet once the reports are read.
 */
static void test_wakeup_race(void **state)
{
	struct fixture *f = *state;

	for (uint64_t round = 0; round < 100; round++) {
		size_t before = f->ngot;

		/* idle: the client arms */
		assert_int_equal(ringside_poll(f->rs, collect, f), 0);
		assert_true(f->shm.hdr->reply_flags & RINGSIDE_RF_WANT_WAKEUP);
		push(f, round);
		racing = f;
		flush(f);
		assert_null(racing);
		/* the client reads what is there, as an event loop would
		 * once the fd is readable */
		for (int i = 0; i < 10 && (fd_readable(f->wake_fd) ||
					    f->ngot == before);
		     i++)
			(void)ringside_poll(f->rs, collect, f);
		assert_int_equal(f->ngot, before + 1);
		assert_int_equal(f->got[before], round);
		/* and nothing is left to wake anyone */
		(void)ringside_poll(f->rs, collect, f);
		assert_false(fd_readable(f->wake_fd));
		f->ngot = 0;
	}
}

static void test_hostile_head(void **state)
{
	struct fixture *f = *state;
	struct ringside_reply_slot s = { .opaque = 99 };
	const char *why = NULL;

	for (uint64_t i = 0; i < SLOTS; i++)
		push(f, i);
	flush(f);
	/* the client claims to have read more than was written; the ring is
	 * full, so the next push must look at head */
	f->shm.hdr->reply_head = SLOTS + 5;
	assert_int_equal(rs_reply_push(&f->reply, &s, &why), -1);
	assert_non_null(strstr(why, "reply head"));
	/* and a head that moves backwards, noticed when room runs out */
	f->shm.hdr->reply_head = 10;
	push(f, 100); /* ring full: reads head 10, legal */
	f->shm.hdr->reply_head = 3;
	why = NULL;
	for (uint64_t i = 0; i < 9; i++)
		push(f, 101 + i); /* the 9 free slots */
	assert_int_equal(rs_reply_push(&f->reply, &s, &why), -1);
	assert_non_null(strstr(why, "reply head"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backlog_and_drops, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wakeup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wakeup_race, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_head, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
