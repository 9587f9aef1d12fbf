/* SPDX-License-Identifier: MIT */
/*
 * fuzz_frame: rs_frame_parse() on any bytes, as a client could write them
 * into its ring. It must refuse or decode without reading outside the
 * frame; a decoded frame's fields must lie inside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rs_frame f;
	const char *why = NULL;
	uint8_t *buf;

	if (size > (1U << 20))
		return 0;
	/* the daemon parses an 8-byte aligned private copy */
	buf = malloc(size + 8);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	if (rs_frame_parse(buf, (uint32_t)size, &f, &why) == 0) {
		const uint8_t *end = buf + size;

		if ((f.key != NULL &&
		     ((const uint8_t *)f.key < buf ||
		      (const uint8_t *)f.key + f.key_len > end)) ||
		    (f.value != NULL &&
		     ((const uint8_t *)f.value < buf ||
		      (const uint8_t *)f.value + f.value_len > end)))
			abort();
	} else if (why == NULL) {
		abort(); /* every refusal names its rule */
	}
	free(buf);
	return 0;
}
