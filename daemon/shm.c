/* SPDX-License-Identifier: MIT */
/*
 * shm.c: creates a session's memfd. It is sealed against shrinking and
 * growing before any client sees it, so a client can never make the
 * daemon's mapping fault (SIGBUS) by truncating the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

int rs_shm_create(struct rs_shm *shm, uint32_t ring_size, uint32_t reply_slots,
		  uint32_t max_frame, uint64_t session_id)
{
	struct ringside_shm_layout l;
	struct ringside_shm_hdr *h;
	int err;

	memset(shm, 0, sizeof(*shm));
	shm->fd = -1;
	ringside_shm_layout(ring_size, reply_slots, &l);
	shm->fd = memfd_create("ringside", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (shm->fd < 0)
		return -errno;
	if (ftruncate(shm->fd, (off_t)l.map_size) < 0 ||
	    fcntl(shm->fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	shm->base = mmap(NULL, l.map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 shm->fd, 0);
	if (shm->base == MAP_FAILED) {
		shm->base = NULL;
		goto fail;
	}
	{
		struct stat st;

		if (fstat(shm->fd, &st) < 0)
			goto fail;
		shm->dev = (uint64_t)st.st_dev;
		shm->ino = (uint64_t)st.st_ino;
	}
	shm->size = l.map_size;
	shm->ring_size = ring_size;
	shm->reply_slots = reply_slots;
	shm->max_frame = max_frame;
	shm->hdr = shm->base;
	shm->bitmap = (uint64_t *)((char *)shm->base + l.bitmap_off);
	shm->ring = (uint8_t *)shm->base + l.ring_off;
	shm->reply =
		(struct ringside_reply_slot *)((char *)shm->base + l.reply_off);
	h = shm->hdr;
	h->magic = RINGSIDE_PROTO_MAGIC;
	h->version = RINGSIDE_PROTO_VERSION;
	h->ring_size = ring_size;
	h->reply_slots = reply_slots;
	h->max_frame = max_frame;
	h->bitmap_off = l.bitmap_off;
	h->ring_off = l.ring_off;
	h->reply_off = l.reply_off;
	h->map_size = l.map_size;
	h->session_id = session_id;
	return 0;
fail:
	err = -errno;
	rs_shm_destroy(shm);
	return err;
}

static void shm_set_pointers(struct rs_shm *shm,
			     const struct ringside_shm_layout *l)
{
	shm->size = l->map_size;
	shm->hdr = shm->base;
	shm->bitmap = (uint64_t *)((char *)shm->base + l->bitmap_off);
	shm->ring = (uint8_t *)shm->base + l->ring_off;
	shm->reply = (struct ringside_reply_slot *)((char *)shm->base +
						    l->reply_off);
}

int rs_shm_adopt(struct rs_shm *shm, int fd, uint64_t map_size,
		 uint32_t max_frame, const char **why)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	struct ringside_shm_layout l;
	struct ringside_shm_hdr *h;
	uint32_t ring_size, reply_slots;
	struct stat st;
	int got;

	memset(shm, 0, sizeof(*shm));
	shm->fd = fd;
	got = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || got < 0 ||
	    (got & seals) != seals) {
		*why = "handed back a descriptor that is not a sealed memfd";
		goto fail;
	}
	if (st.st_uid != geteuid()) {
		*why = "handed back a memfd no ringsided made";
		goto fail;
	}
	if ((uint64_t)st.st_size != map_size || map_size < RINGSIDE_PAGE ||
	    map_size > ((uint64_t)1 << 32)) {
		*why = "handed back a memfd of the wrong size";
		goto fail;
	}
	shm->dev = (uint64_t)st.st_dev;
	shm->ino = (uint64_t)st.st_ino;
	shm->base =
		mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shm->base == MAP_FAILED) {
		shm->base = NULL;
		*why = "cannot map the handed-back memfd";
		goto fail;
	}
	shm->size = map_size;
	h = shm->base;
	/* each read once; the copies are what the daemon uses */
	ring_size = rs_load_relaxed(&h->ring_size);
	reply_slots = rs_load_relaxed(&h->reply_slots);
	if (rs_load_relaxed(&h->magic) != RINGSIDE_PROTO_MAGIC ||
	    rs_load_relaxed(&h->version) != RINGSIDE_PROTO_VERSION ||
	    !ringside_is_pow2(ring_size) || ring_size < RINGSIDE_RING_MIN ||
	    ring_size > RINGSIDE_RING_MAX || !ringside_is_pow2(reply_slots) ||
	    reply_slots < RINGSIDE_REPLY_MIN ||
	    reply_slots > RINGSIDE_REPLY_MAX) {
		*why = "handed-back memfd: bad header";
		goto fail;
	}
	ringside_shm_layout(ring_size, reply_slots, &l);
	if (l.map_size != map_size) {
		*why = "handed-back memfd: header and size disagree";
		goto fail;
	}
	shm_set_pointers(shm, &l);
	if (max_frame > ring_size / 2)
		max_frame = ring_size / 2; /* config changed since */
	shm->ring_size = ring_size;
	shm->reply_slots = reply_slots;
	shm->max_frame = max_frame;
	h->max_frame = max_frame;
	return 0;
fail:
	rs_shm_destroy(shm);
	return -1;
}

void rs_shm_destroy(struct rs_shm *shm)
{
	if (shm->base != NULL)
		munmap(shm->base, shm->size);
	if (shm->fd >= 0)
		close(shm->fd);
	shm->base = NULL;
	shm->fd = -1;
}
