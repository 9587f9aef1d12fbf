/* SPDX-License-Identifier: MIT */
/*
 * control.c: the Unix socket. Clients are untrusted: every message is
 * received whole or refused, and descriptors they try to pass are closed
 * before anything else looks at the message.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"

static int stale_socket(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, alive;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST; /* never remove something that is not ours */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strncpy(sun.sun_path, path, sizeof(sun.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	alive = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	if (alive)
		return -EADDRINUSE; /* another ringsided is serving it */
	return unlink(path) < 0 ? -errno : 0;
}

int rs_control_listen(const char *path, unsigned int mode, gid_t gid,
		      int set_group, const char **what)
{
	struct sockaddr_un sun;
	int fd, err;

	*what = "socket path";
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	err = stale_socket(path);
	if (err < 0)
		return err;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	*what = "socket";
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	*what = "bind";
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto fail;
	*what = "chmod";
	if (chmod(path, mode) < 0)
		goto fail;
	*what = "chown";
	if (set_group && chown(path, (uid_t)-1, gid) < 0)
		goto fail;
	*what = "listen";
	if (listen(fd, 128) < 0)
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

int rs_control_accept(int lfd, struct rs_peer *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[RS_PEER_GROUPS_MAX];
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    len != sizeof(cred)) {
		int err = -errno;

		close(fd);
		return err ? err : -EPROTO;
	}
	memset(peer, 0, sizeof(*peer));
	peer->pid = cred.pid;
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	/* the supplementary groups the peer had when it connected; a peer
	 * with more than fit gets only those (ERANGE): fewer rights, never
	 * more */
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		peer->ngroups = (int)(len / sizeof(gid_t));
	else if (errno == ERANGE)
		peer->ngroups = 0;
	memcpy(peer->groups, groups, (size_t)peer->ngroups * sizeof(gid_t));
	return fd;
}

int rs_control_send(int fd, const void *msg, size_t len, const int *fds,
		    int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cbuf;
	struct iovec iov = { .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > 4)
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
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

ssize_t rs_control_recv(int fd, void *buf, size_t len, int *keep)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
		.msg_controllen = sizeof(cbuf.buf),
	};
	ssize_t n;

	int total = 0;

	if (keep != NULL)
		*keep = -1;
	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
	     c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < cnt; i++) {
				int passed;

				memcpy(&passed, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
				if (keep != NULL && total == 0)
					*keep = passed;
				else
					close(passed);
				total++;
			}
		}
	}
	if (total > 1 && keep != NULL && *keep >= 0) {
		/* exactly one or none: a second fd voids the first */
		close(*keep);
		*keep = -1;
		return -EBADMSG;
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (keep != NULL && *keep >= 0) {
			close(*keep);
			*keep = -1;
		}
		return -EMSGSIZE;
	}
	return n;
}
