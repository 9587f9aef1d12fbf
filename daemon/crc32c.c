/* SPDX-License-Identifier: MIT */
/*
 * crc32c.c: CRC-32C with the SSE4.2 crc32 instruction where the CPU has it,
 * and a table otherwise. Small enough that a dependency would not pay.
 */
#include <string.h>

#include "client/ringside_proto.h"
#include "crc32c.h"

#define POLY 0x82f63b78U /* reflected Castagnoli polynomial */

static uint32_t table[256];

static void crc32c_init_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[i] = c;
	}
}

static uint32_t crc32c_crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	static int ready;

	/* pairs with the release store below: a thread that sees ready
	 * sees the whole table */
	if (!rs_load_acquire(&ready)) {
		crc32c_init_table(); /* idempotent: racing threads write equal
				      * values
				      */
		rs_store_release(&ready, 1);
	}
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#endif

uint32_t rs_crc32c(uint32_t crc, const void *buf, size_t len)
{
	crc = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_hw(crc, buf, len);
#endif
	return ~crc32c_crc_sw(crc, buf, len);
}
