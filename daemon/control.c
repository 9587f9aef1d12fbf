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

#include "client/ringside_fdpass.h"
#include "control.h"

static int control_stale_socket(const char *path)
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
	err = control_stale_socket(path);
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
	return rs_fdpass_send(fd, msg, len, fds, nfds);
}

ssize_t rs_control_recv(int fd, void *buf, size_t len, int *keep)
{
	int kept = -1, nkept, passed;
	ssize_t n = rs_fdpass_recv(fd, buf, len, &kept, keep != NULL ? 1 : 0,
				   &nkept, &passed);

	if (keep != NULL)
		*keep = -1;
	if (n < 0)
		return n;
	if (keep != NULL && passed > 1) {
		/* exactly one or none: a second fd voids the first */
		if (nkept > 0)
			close(kept);
		return -EBADMSG;
	}
	if (keep != NULL && nkept > 0)
		*keep = kept;
	return n;
}
