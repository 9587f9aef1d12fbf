#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs cppcheck and clang-tidy, then builds ringside twice, out of tree, and
# runs the whole test suite on each: a normal build with warnings as errors
# (plus the real Kafka cluster suite, a bench smoke run and make distcheck),
# and an ASan+UBSan build. Exits non-zero on the first failure.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc)

if [ -f Makefile ]; then
	echo "check-all: the source tree is configured; run 'make distclean'" >&2
	exit 2
fi
autoreconf -fi

run_suite() {
	name=$1
	shift
	echo "== $name: configure $* ($(($(date +%s) - start)) s in)"
	rm -rf "build/$name"
	mkdir -p "build/$name"
	(
		cd "build/$name"
		"$top/configure" --quiet --enable-werror "$@"
		make -j"$jobs" --quiet
		# the tests one at a time: several of them time ringsided
		# (many_clients' STATUS bound, the outage test's slow sends),
		# and a neighbour test on the same 2 cores is not ringside's
		make -j"$jobs" --quiet check TESTS=
		if ! make check; then
			cat test-suite.log
			exit 1
		fi
	)
}

start=$(date +%s)
echo "== cppcheck, clang-tidy, include cycles, static names"
sh tests/cppcheck.sh
sh tests/clang-tidy.sh
python3 tests/include-cycles.py
python3 tests/static-names.py
run_suite normal
echo "== real Kafka cluster (tests/kafka), $(($(date +%s) - start)) s in"
(cd build/normal && make --quiet check-kafka) || {
	echo "check-all: make check-kafka failed" >&2
	exit 1
}
echo "== Python package (bindings/python), $(($(date +%s) - start)) s in"
sh tests/python.sh build/normal || {
	echo "check-all: tests/python.sh failed" >&2
	exit 1
}
echo "== Java package (bindings/java), $(($(date +%s) - start)) s in"
sh tests/java.sh build/normal || {
	echo "check-all: tests/java.sh failed" >&2
	exit 1
}
echo "== systemd unit"
(cd build/normal && sh ../../tests/systemd-check.sh)
# make bench at a twentieth of its counts: it builds, runs every
# comparison end to end, and its figures go to a scratch file
echo "== bench smoke, $(($(date +%s) - start)) s in"
(cd build/normal &&
	RS_BENCH_SCALE=0.05 RS_BENCH_OUT="$(mktemp /tmp/rs-bench-XXXXXX.md)" \
		make --quiet bench >/dev/null) || {
	echo "check-all: make bench (smoke) failed" >&2
	exit 1
}
# ASan makes ringsided several times slower: the outage test sends a
# fifth of its million records there, at a fifth of the rate, and
# many_clients sends at a quarter of its rates and allows the control
# socket a second (the bound that matters is the normal build's
# 150 ms; under ASan, 128 clients at 375 records/s each had STATUS
# answered within 605 ms, 64 at 1,000 within 183 ms)
RS_OUTAGE_RECORDS=${RS_OUTAGE_RECORDS:-200000} \
	RS_MANY_RATE_SCALE=${RS_MANY_RATE_SCALE:-0.25} \
	RS_MANY_STATUS_MS=${RS_MANY_STATUS_MS:-1000} run_suite sanitizers \
	--enable-sanitizers
echo "== distcheck, $(($(date +%s) - start)) s in"
# the tarball builds, installs, uninstalls and passes the suite, but for
# the two load tests that both builds above ran (outage, many_clients:
# 2 minutes, and a third run of timing bounds is not a packaging check)
dist_tests=$(cd build/normal && make -s print-tests | tr ' ' '\n' |
	grep -v -e '^tests/integration/outage$' -e '^tests/integration/many_clients$' |
	tr '\n' ' ')
# its output goes to a file; on failure the failed tests' logs are shown
(cd build/normal && make --quiet distcheck TESTS="$dist_tests" \
	>distcheck.log 2>&1) || {
	echo "check-all: make distcheck failed; build/normal/distcheck.log:" >&2
	grep -E '^(FAIL|ERROR)' build/normal/distcheck.log >&2 || true
	for f in $(find build/normal -path '*_build*' -name '*.log' \
		-newer build/normal/Makefile 2>/dev/null); do
		if grep -q '^FAIL' "$f" 2>/dev/null; then
			echo "---- $f" >&2
			tail -n 40 "$f" >&2
		fi
	done
	tail -n 40 build/normal/distcheck.log >&2
	exit 1
}
echo "== Debian packages, $(($(date +%s) - start)) s in"
sh tests/deb.sh || {
	echo "check-all: tests/deb.sh failed" >&2
	exit 1
}
echo "check-all: all suites passed in $(($(date +%s) - start)) s"
