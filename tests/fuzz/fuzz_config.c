/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config: the ini loader on any text. It must accept or reject with
 * "file:line: message" lines, never crash or leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rs_config *cfg = NULL;
	char path[64], err[4096];
	int fd;

	if (size > 65536)
		return 0;
	fd = memfd_create("fuzz.ini", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		err[0] = '\0';
		if (rs_config_load(path, &cfg, err, sizeof(err)) == 0)
			rs_config_free(cfg);
		else if (strstr(err, ": ") == NULL)
			abort(); /* a refusal says where and why */
	}
	close(fd);
	return 0;
}
