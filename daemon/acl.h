/* SPDX-License-Identifier: MIT */
/*
 * acl.h: who may use ringsided: allow_users and allow_groups lists, in
 * [ringside] for opening a session and in topic sections for sending to a
 * topic, checked against the peer's credentials from SO_PEERCRED and
 * SO_PEERGROUPS. An empty list set allows nobody but those named; a list
 * never set allows everyone who can reach the socket. Root is not special.
 */
#ifndef RS_ACL_H
#define RS_ACL_H

#include <stddef.h>
#include <sys/types.h>

struct rs_acl {
	int set; /* allow_users or allow_groups appeared */
	uid_t *uids;
	size_t nuids;
	gid_t *gids;
	size_t ngids;
};

#define RS_PEER_GROUPS_MAX 64

/* Who is on the other end of a control socket. */
struct rs_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t groups[RS_PEER_GROUPS_MAX]; /* supplementary, at connect */
	int ngroups;
};

/* Adds the users (groups with is_groups) listed in value, separated by
 * commas or spaces, by name or number. 0, or -1 with *bad pointing at the
 * name that does not exist (valid until the next call). */
int rs_acl_add(struct rs_acl *acl, const char *value, int is_groups,
	       const char **bad);
int rs_acl_allows(const struct rs_acl *acl, const struct rs_peer *peer);
void rs_acl_free(struct rs_acl *acl);

#endif
