/* SPDX-License-Identifier: MIT */
/*
 * records.h: the deterministic records integration clients send, so a test
 * can regenerate exactly what a consumed record should contain from the
 * identity written at the start of its value.
 */
#ifndef RS_RECORDS_H
#define RS_RECORDS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define REC_VALUE_MAX 512
#define REC_KEY_MAX 64

struct rec_id {
	unsigned int w; /* writer process */
	unsigned int t; /* thread */
	unsigned int s; /* sequence within the thread */
};

static inline uint64_t rec_opaque(const struct rec_id *id)
{
	return ((uint64_t)id->w << 40) | ((uint64_t)id->t << 32) | id->s;
}

static inline void rec_from_opaque(uint64_t o, struct rec_id *id)
{
	id->w = (unsigned int)(o >> 40);
	id->t = (unsigned int)((o >> 32) & 0xff);
	id->s = (unsigned int)(o & 0xffffffffU);
}

static inline unsigned int rec_key_index(const struct rec_id *id,
					 unsigned int nkeys)
{
	return (id->s * 2654435761U) % nkeys;
}

static inline size_t rec_key(const struct rec_id *id, unsigned int nkeys,
			     char *buf)
{
	return (size_t)snprintf(buf, REC_KEY_MAX, "w%u-t%u-k%u", id->w, id->t,
				rec_key_index(id, nkeys));
}

static inline size_t rec_value(const struct rec_id *id, char *buf)
{
	int n = snprintf(buf, REC_VALUE_MAX, "w%u-t%u-s%u:", id->w, id->t,
			 id->s);
	unsigned int fill = (id->s * 7919U + id->w * 31U + id->t * 17U) % 300U;

	for (unsigned int i = 0; i < fill; i++)
		buf[n + (int)i] = (char)('a' + (i + id->s) % 26U);
	return (size_t)n + fill;
}

static inline int rec_parse_value(const char *v, size_t len, struct rec_id *id)
{
	char tmp[64];

	if (v == NULL)
		return -1;
	if (len >= sizeof(tmp))
		len = sizeof(tmp) - 1;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	return sscanf(tmp, "w%u-t%u-s%u:", &id->w, &id->t, &id->s) == 3 ? 0
									: -1;
}

/* Every record has a "seq" header; every fifth one also a "nil" header
 * with a null value. */
static inline int rec_has_nil_header(const struct rec_id *id)
{
	return id->s % 5 == 0;
}

#endif
