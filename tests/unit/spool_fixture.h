/* SPDX-License-Identifier: MIT */
/*
 * spool_fixture.h: what the spool's unit tests share: a spool in a fresh
 * directory, records whose contents follow from their number (so a test
 * can check every byte it reads back), and tools to damage the files the
 * way crashes and disks do.
 */
#ifndef RS_SPOOL_FIXTURE_H
#define RS_SPOOL_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/spool.h"

#define FX_MAX_RECORD 4096

struct fx_found {
	uint32_t topic;
	uint64_t records;
	struct rs_spool_pos first;
};

struct fixture {
	char dir[64];
	struct rs_spool_config cfg;
	struct rs_spool *sp;
	struct fx_found found[4];
	unsigned int nfound;
};

/* The start of the spool, for fx_read(). */
extern const struct rs_spool_pos fx_start;

/* cmocka setup and teardown: a fresh directory (base_dir, else /tmp),
 * 16 KiB segments, fsync always; the teardown removes it all. */
int fx_setup(void **state);
int fx_teardown(void **state);
extern const char *fx_base_dir;

void fx_open(struct fixture *fx);
/* rs_spool_open()'s result, for tests that expect it to fail. */
int fx_try_open(struct fixture *fx, char *err, size_t errlen);
void fx_close(struct fixture *fx);

/* Value of record i: its number, then filler, so records differ in size
 * (up to 300 + 12 bytes, or pad more to make them larger). */
size_t fx_value(unsigned int i, char *buf);
/* Appends records [from, to) alternately to topics "a" and "b". */
void fx_append(struct fixture *fx, unsigned int from, unsigned int to);
/* The same with pad more filler bytes per record (buf of 64 KiB). */
void fx_append_padded(struct fixture *fx, unsigned int from, unsigned int to,
		      size_t pad);
/* Reads every record the spool offers for topic from pos; checks each is
 * intact, in order, once. Returns how many; opaques in *seen. */
unsigned int fx_read(struct fixture *fx, const char *topic,
		     const struct rs_spool_pos *pos, unsigned int *seen,
		     unsigned int cap);

unsigned int fx_count_files(const char *dir, const char *suffix);
void fx_seg_path(const struct fixture *fx, uint64_t id, char *buf, size_t len);
off_t fx_file_size(const char *path);
/* Offset of the n-th record of a segment file. */
off_t fx_record_offset(const char *path, unsigned int n);
/* Flips bits of the byte at offset at. */
void fx_flip(const char *path, off_t at, uint8_t bits);
/* Copies the spool directory from to to (both must exist). */
void fx_copy_dir(const char *from, const char *to);

#endif
