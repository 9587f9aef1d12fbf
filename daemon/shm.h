/* SPDX-License-Identifier: MIT */
/*
 * shm.h: one session's shared memory, as the daemon holds it. The sizes and
 * pointers here are the daemon's own copies, never re-read from the header
 * a client can write.
 */
#ifndef RS_SHM_H
#define RS_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "client/ringside_proto.h"

struct rs_shm {
	int fd; /* the memfd, sealed; owned */
	void *base;
	size_t size;
	struct ringside_shm_hdr *hdr;
	uint64_t *bitmap;
	uint8_t *ring;
	struct ringside_reply_slot *reply;
	uint32_t ring_size;
	uint32_t reply_slots;
	uint32_t max_frame;
	uint64_t dev; /* the memfd's identity: one session per memfd */
	uint64_t ino;
};

/* Creates, sizes, seals and maps a memfd, and writes the header. Returns 0
 * or -errno. */
int rs_shm_create(struct rs_shm *shm, uint32_t ring_size, uint32_t reply_slots,
		  uint32_t max_frame, uint64_t session_id);
void rs_shm_destroy(struct rs_shm *shm);

/* Takes over a memfd a client hands back after a daemon restart (fd is
 * owned from here on, closed on failure). It is hostile input: it must be
 * a sealed memfd made by a process of this daemon's uid (a ringsided: no
 * client of another uid can make one), of exactly map_size bytes, whose
 * header describes a layout of that size; the sizes are read once and
 * kept. max_frame is this daemon's limit, written into the header.
 * Returns 0 or a reason. */
int rs_shm_adopt(struct rs_shm *shm, int fd, uint64_t map_size,
		 uint32_t max_frame, const char **why);

#endif
