/* SPDX-License-Identifier: MIT */
/*
 * acl.c: allow_users / allow_groups. Names are resolved once, when the
 * configuration is loaded, so a check is a few integer compares and never
 * touches NSS on the event loop.
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "log.h"

static int acl_parse_id(const char *tok, unsigned long *id)
{
	char *end;

	if (*tok < '0' || *tok > '9')
		return -1;
	*id = strtoul(tok, &end, 10);
	return *end == '\0' && *id < 0xffffffffUL ? 0 : -1;
}

int rs_acl_add(struct rs_acl *acl, const char *value, int is_groups,
	       const char **bad)
{
	static char tok_copy[256];
	char *copy = strdup(value), *save = NULL, *tok;
	int rc = 0;

	if (copy == NULL)
		fatal("strdup");
	acl->set = 1;
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	     tok = strtok_r(NULL, ", \t", &save)) {
		unsigned long id;

		if (acl_parse_id(tok, &id) < 0) {
			if (is_groups) {
				struct group *gr = getgrnam(tok);

				id = gr != NULL ? gr->gr_gid : 0xffffffffUL;
			} else {
				struct passwd *pw = getpwnam(tok);

				id = pw != NULL ? pw->pw_uid : 0xffffffffUL;
			}
			if (id == 0xffffffffUL) {
				snprintf(tok_copy, sizeof(tok_copy), "%s", tok);
				*bad = tok_copy;
				rc = -1;
				break;
			}
		}
		if (is_groups) {
			acl->gids = realloc(acl->gids,
					    (acl->ngids + 1) * sizeof(gid_t));
			if (acl->gids == NULL)
				fatal("realloc");
			acl->gids[acl->ngids++] = (gid_t)id;
		} else {
			acl->uids = realloc(acl->uids,
					    (acl->nuids + 1) * sizeof(uid_t));
			if (acl->uids == NULL)
				fatal("realloc");
			acl->uids[acl->nuids++] = (uid_t)id;
		}
	}
	free(copy);
	return rc;
}

static int acl_has_gid(const struct rs_acl *acl, gid_t gid)
{
	for (size_t i = 0; i < acl->ngids; i++)
		if (acl->gids[i] == gid)
			return 1;
	return 0;
}

int rs_acl_allows(const struct rs_acl *acl, const struct rs_peer *peer)
{
	if (acl == NULL || !acl->set)
		return 1;
	for (size_t i = 0; i < acl->nuids; i++)
		if (acl->uids[i] == peer->uid)
			return 1;
	if (acl_has_gid(acl, peer->gid))
		return 1;
	for (int i = 0; i < peer->ngroups; i++)
		if (acl_has_gid(acl, peer->groups[i]))
			return 1;
	return 0;
}

void rs_acl_free(struct rs_acl *acl)
{
	free(acl->uids);
	free(acl->gids);
	memset(acl, 0, sizeof(*acl));
}
