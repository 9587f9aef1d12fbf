/* SPDX-License-Identifier: MIT */
#ifndef RS_CHECK_H
#define RS_CHECK_H

#include <stdio.h>

struct rs_config;

/* ringsided --check: what start-up needs beyond a file that parses (see
 * check.c). Prints each problem on out; returns how many. */
int rs_check_start(const struct rs_config *cfg, FILE *out);

#endif
