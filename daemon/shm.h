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
};

/* Creates, sizes, seals and maps a memfd, and writes the header. Returns 0
 * or -errno. */
int rs_shm_create(struct rs_shm *shm, uint32_t ring_size, uint32_t reply_slots,
		  uint32_t max_frame, uint64_t session_id);
void rs_shm_destroy(struct rs_shm *shm);

#endif
