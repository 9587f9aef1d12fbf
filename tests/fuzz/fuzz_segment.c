/* SPDX-License-Identifier: MIT */
/*
 * fuzz_segment: the spool's decoders on any bytes, as a damaged disk could
 * leave them: a segment header, then records one after another, the way
 * recovery scans a file.
 */
#include <stdint.h>
#include <stdlib.h>

#include "daemon/segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	size_t off = 0;

	if (size >= RS_SEG_HDR_SIZE) {
		struct rs_seg_hdr h;

		__builtin_memcpy(&h, data, sizeof(h));
		if (rs_seg_hdr_check(&h, &why) < 0 && why == NULL)
			abort();
		off = RS_SEG_HDR_SIZE;
	}
	while (off < size) {
		struct rs_srec r;
		int k = rs_srec_decode(data + off, size - off, 1U << 16, &r,
				       &why);

		if (k != RS_SREC_OK && k != RS_SREC_HOLE)
			break;
		if (r.size == 0 || r.size > size - off)
			abort(); /* it must never claim what is not there */
		off += r.size;
	}
	return 0;
}
