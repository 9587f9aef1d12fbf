#!/bin/sh
# SPDX-License-Identifier: MIT
# The Java package as a user builds it: mvn package in bindings/java (the
# jar, with its JNI library compiled from libringside's sources), then its
# JUnit 5 suite against the real ringsided and a real Apache Kafka cluster
# (tests/kafka/cluster.sh), reading back with KafkaConsumer. Usage:
# sh tests/java.sh [BUILD_DIR] (default build/normal, built with
# make check TESTS=; an absolute path is taken as it is). With --bench it
# runs the JMH benchmark instead (make bench-java).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
case ${1:-build/normal} in
/*) build=$1 ;;
*) build=$top/${1:-build/normal} ;;
esac
export RINGSIDED="$build/daemon/ringsided"
[ -x "$RINGSIDED" ] || {
	echo "tests/java.sh: $RINGSIDED is not built" >&2
	exit 1
}
cd bindings/java
if [ "${2:-}" = --bench ]; then
	exec sh bench.sh
fi
mvn -q -B verify || {
	for f in target/surefire-reports/*.txt; do
		[ -f "$f" ] && tail -n 60 "$f"
	done
	exit 1
}
grep -h "Tests run" target/surefire-reports/*.txt
