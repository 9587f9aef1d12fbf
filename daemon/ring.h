/* SPDX-License-Identifier: MIT */
/*
 * ring.h: the daemon's reader of one client's send ring. Its cursors are the
 * daemon's truth; the header's copies are for the client to read.
 */
#ifndef RS_RING_H
#define RS_RING_H

#include <stdint.h>

#include "shm.h"

struct rs_ring {
	struct ringside_shm_hdr *hdr;
	uint64_t *bitmap;
	const uint8_t *ring;
	uint32_t size;
	uint32_t mask;
	uint32_t max_frame;
	/* frames up to this, but over max_frame, are records accepted under
	 * an older, larger limit (a ring handed back after a restart): each
	 * is failed as too large, not taken as a violation */
	uint32_t oversize_frame;
	uint64_t head;	  /* next position to read */
	uint64_t release; /* everything before it is finished */
	uint64_t tail;	  /* last tail read and validated */
	int armed;	  /* NEED_WAKEUP is set in the header */
};

enum rs_ring_next {
	RS_RING_VIOLATION = -1, /* *why says which rule the client broke */
	RS_RING_EMPTY = 0,	/* nothing committed at head */
	RS_RING_RECORD = 1,	/* a record of *size bytes is at head */
	RS_RING_PAD = 2,	/* padding of *size bytes is at head */
	RS_RING_OVERSIZE = 3,	/* a record over max_frame (see above) */
};

void rs_ring_init(struct rs_ring *r, const struct rs_shm *shm);

/* Looks at the frame at head without moving: reads tail, the commit bit and
 * the frame's first word once each and bounds-checks them. */
int rs_ring_peek(struct rs_ring *r, uint32_t *size, const char **why);

/* A resumed ring: frames up to half the ring (the most any client library
 * ever accepts) may have been committed under an older limit. */
void rs_ring_allow_oversize(struct rs_ring *r);

/* Copies the frame at head (size bytes, as peeked) into dst. */
void rs_ring_copy(const struct rs_ring *r, void *dst, uint32_t size);

/* Moves head past size bytes. */
void rs_ring_advance(struct rs_ring *r, uint32_t size);

/* Frees [release, pos) for the client: clears its commit bits, then
 * publishes release. pos must lie in [release, head]. */
void rs_ring_release(struct rs_ring *r, uint64_t pos);

/* For a ring handed back after a daemon restart: reads release (finishing
 * a release the last daemon began) and starts reading there again, so
 * records it had read but not finished are read once more. 0, or
 * RS_RING_VIOLATION with *why. */
int rs_ring_resume(struct rs_ring *r, const char **why);

/* Sets NEED_WAKEUP, then looks again: returns 1 if a committed frame is
 * already waiting (do not sleep), 0 if the client will ring the doorbell. */
int rs_ring_arm(struct rs_ring *r);
void rs_ring_disarm(struct rs_ring *r);

/* For a session whose client is gone: moves head over reserved space that
 * was never committed, to the next committed frame or to tail. Returns the
 * bytes skipped. */
uint64_t rs_ring_skip_gap(struct rs_ring *r);

/* Reads tail now; returns it, or head if the client broke the rules. */
uint64_t rs_ring_snapshot_tail(struct rs_ring *r);

/* 1 while the last tail seen is ahead of head. */
int rs_ring_unread(const struct rs_ring *r);

#endif
