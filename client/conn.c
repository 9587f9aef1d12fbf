/* SPDX-License-Identifier: MIT */
/*
 * conn.c: the client's side of the control socket: connect, one request and
 * its answer (with the file descriptors a WELCOME carries), and a liveness
 * check. Blocking with a deadline; never used by ringside_send().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "ringside_clock.h"
#include "ringside_fdpass.h"

int rs_conn_connect(const char *path, int timeout_ms, int *sockp)
{
	struct sockaddr_un sun;
	int fd;

	(void)timeout_ms; /* connect on a Unix socket does not wait */
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	*sockp = fd;
	return 0;
}

static int conn_wait_readable(int sock, int64_t deadline)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };

	for (;;) {
		int64_t left = deadline - rs_now_ms();
		int n;

		if (left < 0)
			return RINGSIDE_ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			return RINGSIDE_ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static void conn_close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* Receives one message and up to nfds descriptors (ringside_fdpass.h). */
static ssize_t conn_recv_msg(int sock, void *buf, size_t len, int *fds,
			     int nfds, int *nrecv)
{
	int passed;
	ssize_t n = rs_fdpass_recv(sock, buf, len, fds, nfds, nrecv, &passed);

	return n == -EMSGSIZE ? RINGSIDE_EPROTO : n;
}

int rs_conn_request(int sock, int timeout_ms, const void *req, size_t reqlen,
		    void *resp, size_t resplen, int *fds, int nfds,
		    char *errbuf, size_t errlen)
{
	char buf[RINGSIDE_MSG_MAX];
	const struct ringside_msg *hdr = (const struct ringside_msg *)buf;
	int64_t deadline = rs_now_ms() + timeout_ms;
	ssize_t n;
	int nrecv, err;

	for (int i = 0; i < nfds; i++)
		fds[i] = -1;
	do
		n = send(sock, req, reqlen, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		err = errno;
		snprintf(errbuf, errlen, "send to ringsided: %s",
			 strerror(err));
		if (err != EPIPE && err != ECONNRESET)
			return -err;
		/* the daemon may have answered before it closed (a refusal
		 * at accept): its ERROR is still queued, and says why */
		deadline = rs_now_ms();
	}
	err = conn_wait_readable(sock, deadline);
	if (err < 0 && n < 0)
		return RINGSIDE_ENOTCONN;
	if (err < 0) {
		snprintf(errbuf, errlen, "ringsided did not answer in %d ms",
			 timeout_ms);
		return err;
	}
	n = conn_recv_msg(sock, buf, sizeof(buf), fds, nfds, &nrecv);
	if (n == 0 || n == -EAGAIN) {
		snprintf(errbuf, errlen, "ringsided closed the connection");
		return RINGSIDE_ENOTCONN;
	}
	if (n < 0) {
		snprintf(errbuf, errlen, "receive from ringsided: %s",
			 ringside_strerror((int)n));
		return (int)n;
	}
	if ((size_t)n < sizeof(*hdr) || hdr->len != (uint32_t)n)
		goto proto;
	if (hdr->type == RINGSIDE_MSG_ERROR) {
		const struct ringside_msg_error *e = (const void *)buf;

		conn_close_fds(fds, nrecv);
		if ((size_t)n != sizeof(*e))
			goto proto;
		snprintf(errbuf, errlen, "ringsided: %.*s",
			 (int)sizeof(e->text), e->text);
		return e->code < 0 ? e->code : RINGSIDE_EPROTO;
	}
	if ((size_t)n != resplen ||
	    hdr->type != ((const struct ringside_msg *)resp)->type ||
	    nrecv != nfds)
		goto proto;
	memcpy(resp, buf, resplen);
	return 0;
proto:
	conn_close_fds(fds, nrecv);
	snprintf(errbuf, errlen, "ringsided answered with a malformed message");
	return RINGSIDE_EPROTO;
}

ssize_t rs_conn_recv_nowait(int sock, void *buf, size_t len, int *fds, int nfds,
			    int *nrecv)
{
	return conn_recv_msg(sock, buf, len, fds, nfds, nrecv);
}

int rs_conn_send_nowait(int sock, const void *msg, size_t len, int fd)
{
	return rs_fdpass_send(sock, msg, len, &fd, fd >= 0 ? 1 : 0);
}

/* Returns 1 while the daemon holds the socket open, 0 once it has gone. */
int rs_conn_alive(int sock)
{
	char c;
	ssize_t n = recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0)
		return 0;
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		return 0;
	return 1;
}
