/* SPDX-License-Identifier: MIT */
/*
 * reply.h: the daemon's writer of one session's reply ring. A full reply
 * ring never stalls the daemon: reports wait in a bounded backlog, and what
 * does not fit there is dropped and counted.
 */
#ifndef RS_REPLY_H
#define RS_REPLY_H

#include <stdint.h>

#include "shm.h"

struct rs_reply {
	struct ringside_shm_hdr *hdr;
	struct ringside_reply_slot *slots;
	uint32_t mask;
	uint64_t tail;	    /* next slot to write; the daemon's truth */
	uint64_t published; /* tail as last stored in the header */
	uint64_t head;	    /* client's head, last validated */
	int wake_fd;	    /* the client's reply eventfd; not owned */

	struct ringside_reply_slot *backlog; /* owned; grows to backlog_cap */
	uint32_t backlog_cap;
	uint32_t backlog_alloc;
	uint32_t backlog_first;
	uint32_t backlog_len;
	uint64_t dropped;
};

void rs_reply_init(struct rs_reply *r, const struct rs_shm *shm,
		   uint32_t backlog_cap, int wake_fd);
void rs_reply_free(struct rs_reply *r);
/* For a reply ring handed back after a restart: continues after the last
 * report the old daemon published. -1 if the cursors are out of range. */
int rs_reply_resume(struct rs_reply *r);

/* Queues one report. Returns 0, or -1 with *why if the client's head is
 * invalid. Nothing is visible to the client before rs_reply_flush(). */
int rs_reply_push(struct rs_reply *r, const struct ringside_reply_slot *s,
		  const char **why);

/* Moves the backlog into the ring, publishes tail, and writes the client's
 * eventfd if it asked to be woken. Returns 0 or -1 with *why. */
int rs_reply_flush(struct rs_reply *r, const char **why);

/* Counts a report that could not be written at all. */
void rs_reply_drop(struct rs_reply *r);

#endif
