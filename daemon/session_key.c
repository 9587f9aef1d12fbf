/* SPDX-License-Identifier: MIT */
/*
 * session_key.c: see session_key.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "session_key.h"
#include "siphash.h"

#define KEY_NAME "session.key"
#define KEY_TMP "session.key.tmp"

static int session_key_make(int dirfd, struct rs_session_key *key)
{
	size_t got = 0;
	int fd, ok;

	while (got < sizeof(key->k)) {
		ssize_t n = getrandom(key->k + got, sizeof(key->k) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	fd = openat(dirfd, KEY_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -1;
	ok = write(fd, key->k, sizeof(key->k)) == (ssize_t)sizeof(key->k) &&
	     fsync(fd) == 0;
	close(fd);
	if (!ok || renameat(dirfd, KEY_TMP, dirfd, KEY_NAME) < 0 ||
	    fsync(dirfd) < 0)
		return -1;
	log_info("made a new session key (sessions of an earlier ringsided "
		 "on this spool_dir, if any, cannot be handed back)");
	return 0;
}

int rs_session_key_load(const char *dir, struct rs_session_key *key, char *err,
			size_t errlen)
{
	struct stat st;
	int dirfd, fd, rc = -1;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	fd = openat(dirfd, KEY_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		rc = session_key_make(dirfd, key);
		if (rc < 0)
			snprintf(err, errlen, "%s/%s: cannot make it: %s", dir,
				 KEY_NAME, strerror(errno));
		close(dirfd);
		return rc;
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s/%s: %s", dir, KEY_NAME,
			 strerror(errno));
	} else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		   st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		snprintf(err, errlen,
			 "%s/%s must be a file of ringsided's uid that no one "
			 "else may read (mode 0600)",
			 dir, KEY_NAME);
	} else if (st.st_size != (off_t)sizeof(key->k) ||
		   read(fd, key->k, sizeof(key->k)) !=
			   (ssize_t)sizeof(key->k)) {
		log_warnx("%s/%s is damaged: making a new one", dir, KEY_NAME);
		rc = session_key_make(dirfd, key);
		if (rc < 0)
			snprintf(err, errlen, "%s/%s: cannot make it: %s", dir,
				 KEY_NAME, strerror(errno));
	} else {
		rc = 0;
	}
	if (fd >= 0)
		close(fd);
	close(dirfd);
	return rc;
}

void rs_session_token(const struct rs_session_key *key, uint64_t id,
		      uint32_t uid, uint32_t ring_size, uint32_t reply_slots,
		      uint8_t out[RS_SESSION_TOKEN_LEN])
{
	uint8_t msg[24];
	uint64_t a, b;

	/* the fields in a fixed order and width, the key's halves apart */
	memcpy(msg, &id, 8);
	memcpy(msg + 8, &uid, 4);
	memcpy(msg + 12, &ring_size, 4);
	memcpy(msg + 16, &reply_slots, 4);
	memset(msg + 20, 0, 4);
	a = rs_siphash24(key->k, msg, sizeof(msg));
	b = rs_siphash24(key->k + 16, msg, sizeof(msg));
	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}

int rs_session_token_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (int i = 0; i < RS_SESSION_TOKEN_LEN; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}
