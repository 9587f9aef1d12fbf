#!/bin/sh
# SPDX-License-Identifier: MIT
# clang-tidy over the daemon and the library with the checked-in
# .clang-tidy; any finding fails. CI runs it.
set -eu
cd "$(dirname "$0")/.."
status=0
for f in daemon/*.c client/*.c; do
	clang-tidy --quiet "$f" -- -std=gnu11 -I. -Iclient -D_GNU_SOURCE \
		-DPACKAGE_VERSION=\"tidy\" -DRS_CONFIG_PATH=\"ringside.ini\" \
		$(pkg-config --cflags rdkafka libevent inih) ||
		status=1
done
exit $status
