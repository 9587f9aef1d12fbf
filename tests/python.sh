#!/bin/sh
# SPDX-License-Identifier: MIT
# The Python package as a user installs it: pip install ./bindings/python
# into a fresh virtual environment, then its pytest suite against the real
# ringsided: a mock cluster in a process of its own (rs_mock), and a real
# Apache Kafka cluster (tests/kafka/cluster.sh; Java and Maven, topics made
# with confluent-kafka's AdminClient), reading back with kcat. Usage:
# sh tests/python.sh [BUILD_DIR] (default build/normal, which must be built
# with make check TESTS=; an absolute path is taken as it is).
# RS_KAFKA_REAL=0 leaves the real cluster's tests out. With --bench [N]
# it runs bench.py against the real cluster instead (make bench-python):
# ringside, confluent-kafka and kafka-python in one run.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
case ${1:-build/normal} in
/*) build=$1 ;;
*) build=$top/${1:-build/normal} ;;
esac
bench=
if [ "${2:-}" = --bench ]; then
	bench=${3:-300000}
fi
venv=$(mktemp -d /tmp/rs-venv-XXXXXX)
trap 'rm -rf "$venv" "$top/bindings/python/build"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
	./bindings/python pytest confluent-kafka ${bench:+kafka-python}
cd bindings/python
if [ -n "$bench" ]; then
	RINGSIDED=$build/daemon/ringsided \
		RS_MOCK=$build/tests/integration/rs_mock \
		"$venv/bin/python" bench.py "$bench" --real
	exit 0
fi
RS_KAFKA_REAL=${RS_KAFKA_REAL:-1} RINGSIDED=$build/daemon/ringsided \
	RS_MOCK=$build/tests/integration/rs_mock \
	"$venv/bin/python" -m pytest -q -p no:cacheprovider -rs tests
