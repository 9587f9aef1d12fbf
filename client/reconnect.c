/* SPDX-License-Identifier: MIT */
/*
 * reconnect.c: hands a session to the next daemon after the last one went
 * away (crashed, killed, restarted). Driven by ringside_poll(), one step at
 * a time and never waiting: connect, HELLO with the session's memfd,
 * WELCOME with new eventfds, each topic resolved again in id order (the
 * ring's frames name topics by id), then RESUME. Sends go on into the ring
 * meanwhile; the new daemon reads it from release, so records the old one
 * had read but not finished are read again (at least once).
 *
 * Retries back off from 50 ms to 1 s; a timerfd in ringside_fd()'s epoll
 * set makes the fd readable when the next try is due.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "ringside_clock.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
#define HANDSHAKE_MS 5000

static void reconnect_arm_timer(struct ringside *rs, int ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000L },
	};

	if (rs->timer_fd >= 0)
		(void)timerfd_settime(rs->timer_fd, 0, &its, NULL);
}

static void reconnect_drop_socket(struct ringside *rs)
{
	pthread_mutex_lock(&rs->topic_lock);
	if (rs->sock >= 0) {
		(void)epoll_ctl(rs->epoll_fd, EPOLL_CTL_DEL, rs->sock, NULL);
		close(rs->sock);
		rs->sock = -1;
	}
	pthread_mutex_unlock(&rs->topic_lock);
}

static void reconnect_retry_later(struct ringside *rs)
{
	reconnect_drop_socket(rs);
	rs->conn_state = RS_CONN_DOWN;
	rs->backoff_ms = rs->backoff_ms == 0 ? BACKOFF_MIN_MS
			 : rs->backoff_ms * 2 > BACKOFF_MAX_MS
				 ? BACKOFF_MAX_MS
				 : rs->backoff_ms * 2;
	rs->retry_at_ms = rs_now_ms() + rs->backoff_ms;
	reconnect_arm_timer(rs, rs->backoff_ms);
}

void rs_reconnect_lost(struct ringside *rs)
{
	rs_store_release(&rs->disconnected, 1);
	rs->backoff_ms = 0;
	reconnect_drop_socket(rs);
	rs->conn_state = RS_CONN_DOWN;
	rs->retry_at_ms = rs_now_ms(); /* the first try at once */
}

static int reconnect_start(struct ringside *rs)
{
	struct ringside_msg_hello h;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, rs->path, sizeof(rs->path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	memset(&h, 0, sizeof(h));
	h.hdr.type = RINGSIDE_MSG_HELLO;
	h.hdr.len = sizeof(h);
	h.magic = RINGSIDE_PROTO_MAGIC;
	h.version = RINGSIDE_PROTO_VERSION;
	h.flags = RINGSIDE_HELLO_F_RESUME;
	h.pid = (uint32_t)getpid();
	h.session_id = rs->session_id;
	h.map_size = rs->map_size;
	memcpy(h.token, rs->token, sizeof(h.token));
	memcpy(h.name, rs->name, sizeof(h.name));
	if (rs_conn_send_nowait(fd, &h, sizeof(h), rs->memfd) < 0) {
		close(fd);
		return -1;
	}
	ev.data.fd = fd;
	pthread_mutex_lock(&rs->topic_lock);
	rs->sock = fd;
	(void)epoll_ctl(rs->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
	pthread_mutex_unlock(&rs->topic_lock);
	rs->conn_state = RS_CONN_WELCOME;
	rs->handshake_deadline_ms = rs_now_ms() + HANDSHAKE_MS;
	return 0;
}

/* The memfd in a WELCOME must be ours: the same file. */
static int reconnect_same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Installs the new daemon's eventfds under the numbers senders use, so a
 * sending thread never writes to a closed (or reused) descriptor. */
static int reconnect_take_eventfds(struct ringside *rs, int doorbell, int reply)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ok;

	(void)epoll_ctl(rs->epoll_fd, EPOLL_CTL_DEL, rs->reply_fd, NULL);
	ok = dup3(doorbell, rs->doorbell_fd, O_CLOEXEC) >= 0 &&
	     dup3(reply, rs->reply_fd, O_CLOEXEC) >= 0;
	close(doorbell);
	close(reply);
	ev.data.fd = rs->reply_fd;
	(void)epoll_ctl(rs->epoll_fd, EPOLL_CTL_ADD, rs->reply_fd, &ev);
	rs->reply_armed = 0;
	return ok ? 0 : -1;
}

static int reconnect_on_welcome(struct ringside *rs)
{
	struct ringside_msg_welcome w;
	char buf[RINGSIDE_MSG_MAX];
	int fds[3] = { -1, -1, -1 }, nrecv;
	ssize_t n;

	n = rs_conn_recv_nowait(rs->sock, buf, sizeof(buf), fds, 3, &nrecv);
	if (n == -EAGAIN || n == -EWOULDBLOCK)
		return rs_now_ms() < rs->handshake_deadline_ms ? 0 : -1;
	if (n != (ssize_t)sizeof(w) || nrecv != 3) {
		for (int i = 0; i < nrecv; i++)
			close(fds[i]);
		return -1; /* EOF, an ERROR, or nonsense */
	}
	memcpy(&w, buf, sizeof(w));
	if (w.hdr.type != RINGSIDE_MSG_WELCOME || w.hdr.len != sizeof(w) ||
	    w.map_size != rs->map_size ||
	    !reconnect_same_file(fds[0], rs->memfd)) {
		for (int i = 0; i < 3; i++)
			close(fds[i]);
		return -1;
	}
	close(fds[0]);
	if (reconnect_take_eventfds(rs, fds[1], fds[2]) < 0)
		return -1;
	rs->session_id = w.session_id;
	memcpy(rs->token, w.token, sizeof(rs->token));
	/* the new daemon's limit may be lower; it wrote it into the header.
	 * Senders read rs->max_frame concurrently: one atomic store (a
	 * frame checked against the old limit just before is failed by the
	 * daemon as too large, not taken as a violation) */
	{
		uint32_t mf = rs_load_relaxed(&rs->shm->max_frame);

		if (mf > rs->ring_size / 2)
			mf = rs->ring_size / 2;
		rs_store_relaxed(&rs->max_frame, mf);
	}
	rs->topics_sent = rs->topics_ok = 0;
	rs->conn_state = RS_CONN_TOPICS;
	return 1;
}

static int reconnect_send_topics(struct ringside *rs)
{
	uint32_t n = rs_load_acquire(&rs->ntopics);

	while (rs->topics_sent < n) {
		const struct ringside_topic *t = rs->topics[rs->topics_sent];
		struct ringside_msg_topic m;
		int err;

		memset(&m, 0, sizeof(m));
		m.hdr.type = RINGSIDE_MSG_TOPIC;
		m.hdr.len = sizeof(m);
		m.name_len = (uint32_t)strlen(t->name);
		memcpy(m.name, t->name, m.name_len);
		err = rs_conn_send_nowait(rs->sock, &m, sizeof(m), -1);
		if (err == -EAGAIN || err == -EWOULDBLOCK)
			return 0;
		if (err < 0)
			return -1;
		rs->topics_sent++;
	}
	return 0;
}

/* 1 when every topic has its old id again and RESUME is sent. */
static int reconnect_on_topics(struct ringside *rs)
{
	uint32_t n = rs_load_acquire(&rs->ntopics);

	if (reconnect_send_topics(rs) < 0)
		return -1;
	while (rs->topics_ok < n) {
		struct ringside_msg_topic_ok ok;
		char buf[RINGSIDE_MSG_MAX];
		int nrecv;
		ssize_t got = rs_conn_recv_nowait(rs->sock, buf, sizeof(buf),
						  NULL, 0, &nrecv);

		if (got == -EAGAIN || got == -EWOULDBLOCK)
			return rs_now_ms() < rs->handshake_deadline_ms ? 0 : -1;
		if (got != (ssize_t)sizeof(ok))
			return -1; /* EOF, or an ERROR: the topic is refused */
		memcpy(&ok, buf, sizeof(ok));
		if (ok.hdr.type != RINGSIDE_MSG_TOPIC_OK ||
		    ok.topic != rs->topics_ok)
			return -1;
		rs->topics_ok++;
	}
	{
		struct ringside_msg r = { .type = RINGSIDE_MSG_RESUME,
					  .len = sizeof(r) };

		if (rs_conn_send_nowait(rs->sock, &r, sizeof(r), -1) < 0)
			return -1;
	}
	return 1;
}

int rs_reconnect_step(struct ringside *rs)
{
	int rc = 0;

	if (rs->conn_state == RS_CONN_UP)
		return 1;
	if (rs->timer_fd >= 0) {
		uint64_t expirations;

		(void)!read(rs->timer_fd, &expirations, sizeof(expirations));
	}
	if (rs->conn_state == RS_CONN_DOWN) {
		if (rs_now_ms() < rs->retry_at_ms) {
			reconnect_arm_timer(
				rs, (int)(rs->retry_at_ms - rs_now_ms()) + 1);
			return 0;
		}
		if (reconnect_start(rs) < 0) {
			reconnect_retry_later(rs);
			return 0;
		}
	}
	if (rs->conn_state == RS_CONN_WELCOME) {
		rc = reconnect_on_welcome(rs);
		if (rc <= 0) {
			if (rc < 0)
				reconnect_retry_later(rs);
			return 0;
		}
	}
	rc = reconnect_on_topics(rs);
	if (rc < 0) {
		reconnect_retry_later(rs);
		return 0;
	}
	if (rc == 0)
		return 0;
	rs->conn_state = RS_CONN_UP;
	rs->backoff_ms = 0;
	rs->next_liveness_ms = 0;
	rs_add_relaxed(&rs->reconnects, 1);
	rs_store_release(&rs->disconnected, 0);
	return 1;
}
