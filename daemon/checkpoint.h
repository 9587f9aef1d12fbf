/* SPDX-License-Identifier: MIT */
/*
 * checkpoint.h: the spool's checkpoint file: for each topic, the sequence
 * below which every record is delivered (or failed for good and
 * reported), and the next sequence the spool will hand out. Text, one
 * topic per line, ended by a CRC-32C of everything before it:
 *
 *   ringside-spool-checkpoint 1
 *   next_seq N
 *   topic NAME SEQ            (one per topic; NAME is a Kafka topic name)
 *   crc XXXXXXXX              (always the last line)
 *
 * Replaced by write, fdatasync, rename, directory fsync, so a crash leaves
 * the old file or the new one, never a mix. The file is untrusted at
 * start-up: any size, any bytes; a file that does not check out as a whole
 * is refused as a whole (the spool then replays everything: duplicates,
 * never losses).
 */
#ifndef RS_CHECKPOINT_H
#define RS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define RS_CHECKPOINT_NAME "checkpoint"
#define RS_CHECKPOINT_TMP "checkpoint.tmp"
/* Larger than any checkpoint the daemon writes (a line per topic with
 * records on disk): a file past it is not ours. */
#define RS_CHECKPOINT_MAX (64U << 20)

struct rs_checkpoint_entry {
	const char *name;
	uint64_t seq;
};

/* Called for each topic line of a valid file, in file order. */
typedef void (*rs_checkpoint_topic_fn)(void *arg, const char *name,
				       uint64_t seq);

/*
 * Reads dirfd's checkpoint. 0 with *next_seq and one call per topic;
 * 1 if there is none (a new spool); -1 if it is unreadable or invalid
 * (nothing is reported then: a half-trusted checkpoint is worse than
 * none).
 */
int rs_checkpoint_read(int dirfd, uint64_t *next_seq, rs_checkpoint_topic_fn fn,
		       void *arg);

/*
 * Writes a new checkpoint into CHECKPOINT_TMP and syncs it; the caller
 * renames it into place. 0, or -1 with errno.
 */
int rs_checkpoint_write_tmp(int dirfd, uint64_t next_seq,
			    const struct rs_checkpoint_entry *v, size_t n);

/* Encodes the checkpoint text; *out is malloc'd. Exposed for the tests. */
size_t rs_checkpoint_encode(uint64_t next_seq,
			    const struct rs_checkpoint_entry *v, size_t n,
			    char **out);

/* Decodes text; -1 if it is not a whole, valid checkpoint. */
int rs_checkpoint_decode(const char *text, size_t len, uint64_t *next_seq,
			 rs_checkpoint_topic_fn fn, void *arg);

#endif
