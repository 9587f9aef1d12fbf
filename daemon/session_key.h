/* SPDX-License-Identifier: MIT */
/*
 * session_key.h: the secret behind session tokens. A session handed back
 * to a restarted daemon is accepted only with the token the daemon that
 * opened it gave its owner: SipHash-2-4 under this key of the session's
 * id, its owner's uid and its ring's sizes, so a token cannot be guessed,
 * made for another uid, or stretched to a bigger ring. The key lives in
 * spool_dir/session.key (0600, made once), so every later daemon on the
 * same spool knows it.
 */
#ifndef RS_SESSION_KEY_H
#define RS_SESSION_KEY_H

#include <stddef.h>
#include <stdint.h>

#define RS_SESSION_TOKEN_LEN 16

struct rs_session_key {
	uint8_t k[32]; /* two SipHash keys */
};

/* Reads dir's session.key, making it first if there is none. 0, or -1
 * with err (a key file others could read or write is refused). */
int rs_session_key_load(const char *dir, struct rs_session_key *key, char *err,
			size_t errlen);

void rs_session_token(const struct rs_session_key *key, uint64_t id,
		      uint32_t uid, uint32_t ring_size, uint32_t reply_slots,
		      uint8_t out[RS_SESSION_TOKEN_LEN]);

/* 1 if a and b are the same token; takes the same time either way. */
int rs_session_token_equal(const uint8_t *a, const uint8_t *b);

#endif
