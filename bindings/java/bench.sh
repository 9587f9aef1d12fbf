#!/bin/sh
# SPDX-License-Identifier: MIT
# The JMH benchmark (src/test/java/io/ringside/bench/SendBench.java):
# RingsideProducer against KafkaProducer in one run, on one real Apache
# Kafka cluster (tests/kafka/cluster.sh), healthy and with every broker
# stopped. Needs $RINGSIDED; JMH options can be given as arguments
# (default: one fork, 2 warm-up and 5 measured iterations of 1 s each).
# Results: target/jmh.json and what it prints. make bench-java runs it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
: "${RINGSIDED:?set RINGSIDED to the ringsided binary}"
mvn -q -B test-compile
mvn -q -B dependency:build-classpath -Dmdep.outputFile=target/bench-cp.txt \
	-Dmdep.includeScope=test >/dev/null
work=$(mktemp -d /tmp/rs-jmh-XXXXXX)
cluster_sh=$here/../../tests/kafka/cluster.sh
cleanup() {
	# the daemon may be gone already (the end of the run stops it): that
	# must not fail the run, nor leave the directory behind
	if [ -f "$work/ringsided.pid" ]; then
		kill "$(cat "$work/ringsided.pid")" 2>/dev/null || true
	fi
	sh "$cluster_sh" stop "$work/kafka" || true
	sleep 1
	rm -rf "$work"
}
trap cleanup EXIT
sh "$cluster_sh" start "$work/kafka" $$ >/dev/null
bootstrap=$(cat "$work/kafka/bootstrap")
cat >"$work/ringside.ini" <<EOC
[ringside]
socket = $work/rs.sock
spool_dir = $work/spool
ring_size = 64M
[kafka]
bootstrap.servers = $bootstrap
linger.ms = 5
[topic:*]
acks = all
EOC
"$RINGSIDED" --config "$work/ringside.ini" >"$work/ringsided.log" 2>&1 &
echo $! >"$work/ringsided.pid"
i=0
until grep -q "listening on" "$work/ringsided.log"; do
	i=$((i + 1))
	[ $i -lt 300 ] || { cat "$work/ringsided.log"; exit 1; }
	sleep 0.1
done
[ $# -gt 0 ] || set -- -f 1 -wi 2 -w 1s -i 5 -r 1s
RS_BOOTSTRAP=$bootstrap RS_SOCKET=$work/rs.sock RS_CLUSTER_DIR=$work/kafka \
	RS_CLUSTER_SH=$cluster_sh \
	java -cp "target/classes:target/test-classes:$(cat target/bench-cp.txt)" \
	org.openjdk.jmh.Main SendBench -rf json -rff target/jmh.json "$@"
echo "ringsided's log: $(grep -c . "$work/ringsided.log") lines; its totals:"
kill "$(cat "$work/ringsided.pid")"
rm -f "$work/ringsided.pid"
sleep 2
grep "totals:" "$work/ringsided.log" || true
