/* SPDX-License-Identifier: MIT */
/*
 * ringside_fdpass.h: one control message and the descriptors it carries
 * (SCM_RIGHTS), sent and received the same way by the client library and
 * the daemon. Not installed. Neither call blocks or raises SIGPIPE; every
 * received descriptor is close-on-exec, and one the caller did not ask
 * for is closed before the message is returned, so a hostile peer cannot
 * leave descriptors behind in its receiver.
 */
#ifndef RINGSIDE_FDPASS_H
#define RINGSIDE_FDPASS_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define RS_FDPASS_SEND_MAX 4  /* descriptors one message may carry */
#define RS_FDPASS_RECV_MAX 16 /* read per message; more: truncated */

/* Sends msg, with nfds descriptors (0 to RS_FDPASS_SEND_MAX). 0, or
 * -EMSGSIZE if only part of it went, or -errno. */
static inline int rs_fdpass_send(int sock, const void *msg, size_t len,
				 const int *fds, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * RS_FDPASS_SEND_MAX)];
	} cbuf;
	struct iovec iov = { .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds < 0 || nfds > RS_FDPASS_SEND_MAX)
		return -EINVAL;
	/* sendmsg takes a non-const iovec but only reads it */
	memcpy(&iov.iov_base, &msg, sizeof(msg));
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

/*
 * Receives one message into buf, without waiting. The first maxfds
 * descriptors passed are kept in fds (*nkept of them); the others are
 * closed, and *passed counts them all, for a caller whose protocol allows
 * fewer. A message or control part that did not fit: every descriptor
 * closed (their slots -1), *nkept 0, -EMSGSIZE. Else the message's length (0:
 * the peer closed), or -errno.
 */
static inline ssize_t rs_fdpass_recv(int sock, void *buf, size_t len, int *fds,
				     int maxfds, int *nkept, int *passed)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * RS_FDPASS_RECV_MAX)];
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
		.msg_controllen = sizeof(cbuf.buf),
	};
	ssize_t n;

	*nkept = 0;
	*passed = 0;
	do
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
	     c = CMSG_NXTHDR(&mh, c)) {
		size_t cnt;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
			       sizeof(int));
			if (*nkept < maxfds)
				fds[(*nkept)++] = fd;
			else
				close(fd);
			(*passed)++;
		}
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		for (int i = 0; i < *nkept; i++) {
			close(fds[i]);
			fds[i] = -1;
		}
		*nkept = 0;
		return -EMSGSIZE;
	}
	return n;
}

#endif
