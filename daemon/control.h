/* SPDX-License-Identifier: MIT */
/*
 * control.h: the daemon's Unix socket: listening, accepting with the peer's
 * credentials, and moving one message (and descriptors) at a time.
 */
#ifndef RS_CONTROL_H
#define RS_CONTROL_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "acl.h"

/* Binds path (replacing a stale socket), sets mode and group, listens.
 * Returns the fd or -errno; *what names the step that failed. */
int rs_control_listen(const char *path, unsigned int mode, gid_t gid,
		      int set_group, const char **what);

/* Accepts one connection, non-blocking, with its SO_PEERCRED and
 * SO_PEERGROUPS. */
int rs_control_accept(int lfd, struct rs_peer *peer);

/* Sends one message with nfds descriptors; never blocks. Returns 0 or
 * -errno. */
int rs_control_send(int fd, const void *msg, size_t len, const int *fds,
		    int nfds);

/* Receives one message. With keep, the one descriptor a message may carry
 * (a memfd handed back) is returned there, else -1; every other
 * descriptor is closed at once. Returns the length, 0 at EOF, or -errno
 * (-EMSGSIZE when truncated, -EBADMSG for more than one descriptor). */
ssize_t rs_control_recv(int fd, void *buf, size_t len, int *keep);

#endif
