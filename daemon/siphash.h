/* SPDX-License-Identifier: MIT */
/*
 * siphash.h: SipHash-2-4 (Aumasson and Bernstein), a keyed pseudorandom
 * function for short inputs: the session tokens are two of it under the
 * two halves of a secret key (session.c).
 */
#ifndef RS_SIPHASH_H
#define RS_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t rs_siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
