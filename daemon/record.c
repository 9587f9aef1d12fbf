/* SPDX-License-Identifier: MIT */
/*
 * record.c: the start and end of a record's life. A record can be held by
 * several owners at once (its ring list, librdkafka, a topic list, the
 * spool's commit list); the last one to let go frees it.
 *
 * The daemon allocates one record per send and frees it a few
 * milliseconds later, hundreds of thousands a second, in nearly the order
 * they came: malloc and free were a quarter of its CPU under an outage,
 * half of it in page faults as the heap grew and shrank. Freed records
 * therefore wait in a free list per 64-byte size class (records up to
 * 4 KiB), bounded to RS_RECORD_CACHE_BYTES in all, and the next record of
 * that class takes one. Larger records, and any beyond the bound, go
 * straight back to malloc.
 */
#include <stdlib.h>
#include <string.h>

#include "record.h"

#ifdef __SANITIZE_ADDRESS__
/* AddressSanitizer sees a use after free only in memory it holds in its
 * own quarantine: under it, every freed record goes back to free() */
#define CACHE_BYTES 0u
#else
#define CACHE_BYTES RS_RECORD_CACHE_BYTES
#endif
#define CLASS_BYTES 64u
#define CLASSES 64u /* records up to CLASSES * CLASS_BYTES bytes in all */

struct free_block {
	struct free_block *next;
};

static struct free_block *record_free_list[CLASSES];
static size_t record_cached_bytes;

/* The size class of a record of total bytes, or CLASSES for none. */
static unsigned int record_class(size_t total)
{
	size_t c = (total + CLASS_BYTES - 1) / CLASS_BYTES;

	return c <= CLASSES ? (unsigned int)c - 1 : CLASSES;
}

/* The bytes of a block of class c: room for any record of that class. */
static size_t record_class_bytes(unsigned int c)
{
	return (size_t)(c + 1) * CLASS_BYTES;
}

struct rs_record *rs_record_alloc(uint32_t size)
{
	size_t total = sizeof(struct rs_record) + size;
	unsigned int c = record_class(total);
	struct rs_record *rec;

	if (c < CLASSES && record_free_list[c] != NULL) {
		struct free_block *b = record_free_list[c];

		record_free_list[c] = b->next;
		record_cached_bytes -= record_class_bytes(c);
		rec = (struct rs_record *)(void *)b;
	} else {
		rec = malloc(c < CLASSES ? record_class_bytes(c) : total);
		if (rec == NULL)
			return NULL;
	}
	memset(rec, 0, sizeof(*rec));
	rec->size = size;
	return rec;
}

void rs_record_free(struct rs_record *rec)
{
	unsigned int c = record_class(sizeof(*rec) + rec->size);
	size_t bytes = record_class_bytes(c);
	struct free_block *b;

	if (c >= CLASSES || record_cached_bytes + bytes > CACHE_BYTES) {
		free(rec);
		return;
	}
	b = (struct free_block *)(void *)rec;
	b->next = record_free_list[c];
	record_free_list[c] = b;
	record_cached_bytes += bytes;
}

void rs_record_release(struct rs_record *rec)
{
	if (rec->in_ring || rec->in_kafka || rec->in_wait ||
	    rec->list != RS_LIST_NONE)
		return;
	rs_record_free(rec);
}

void rs_record_cache_drop(void)
{
	for (unsigned int c = 0; c < CLASSES; c++)
		while (record_free_list[c] != NULL) {
			struct free_block *b = record_free_list[c];

			record_free_list[c] = b->next;
			free(b);
		}
	record_cached_bytes = 0;
}
