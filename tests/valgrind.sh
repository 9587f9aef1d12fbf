#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the integration tests that exercise the daemon's edges with
# ringsided under valgrind's memcheck (RS_VALGRIND=1 in the harness): any
# invalid access or definite leak makes the daemon exit 99, which fails
# the test. Slow (minutes); not part of make check. Usage, from a build
# directory: sh ../../tests/valgrind.sh
set -eu
status=0
export RINGSIDED=${RINGSIDED:-$(pwd)/daemon/ringsided}
export RS_TEST_CLIENT=${RS_TEST_CLIENT:-$(pwd)/tests/integration/rs_test_client}
export RS_HOSTILE=${RS_HOSTILE:-$(pwd)/tests/integration/rs_hostile}
export RS_SRCDIR=${RS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
export RS_VALGRIND=1
for t in e2e client_exit shutdown hostile acl bad_config; do
	if ./tests/integration/$t >"valgrind-$t.log" 2>&1; then
		echo "valgrind: $t: pass"
	else
		echo "valgrind: $t: FAIL (see valgrind-$t.log)"
		status=1
	fi
done
exit $status
