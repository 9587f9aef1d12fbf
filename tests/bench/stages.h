/* SPDX-License-Identifier: MIT */
/* stages.h: the ring and the spool alone (stages.c). Rates: records/s for
 * the rings, MB/s for the writes. */
#ifndef RS_BENCH_STAGES_H
#define RS_BENCH_STAGES_H

#include <stddef.h>
#include <stdint.h>

/* batch: 0 for ringside_send() per record, else ringside_send_batch()
 * with that many records a call (at most STAGE_BATCH_MAX) */
#define STAGE_BATCH_MAX 256
double stage_ring(uint64_t n, size_t size, size_t batch);
double stage_spsc(uint64_t n, size_t size);
double stage_spool(const char *dir, uint64_t bytes, size_t size);
double stage_raw(const char *dir, uint64_t bytes);

#endif
