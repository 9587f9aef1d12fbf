#!/bin/sh
# SPDX-License-Identifier: MIT
# Static analysis, as CI runs it: cppcheck over the daemon, the library,
# the tests, the fuzz targets and the benchmark; any finding fails. tests/cppcheck.h spells
# out sys/queue.h's iteration macro so that cppcheck can follow the loops.
set -eu
cd "$(dirname "$0")/.."
exec cppcheck --quiet --error-exitcode=1 --inline-suppr --std=c11 \
	--enable=warning,portability,performance \
	-I. -Iclient -Itests/integration -D__GNUC__ --include=tests/cppcheck.h \
	daemon client tests/unit tests/integration tests/kafka tests/fuzz tests/bench
