#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds ringside, starts ringsided on librdkafka's embedded mock cluster
# (the shipped conf/ringside.ini, with the socket and the spool moved to a
# scratch directory and bootstrap.servers replaced by
# test.mock.num.brokers = 3), sends demo records through ringside-send showing each report,
# reads them back from the cluster with kcat, shows ringsidectl status,
# reloads a changed config with SIGHUP, and stops the daemon.
set -eu
cd "$(dirname "$0")/.."
src=$(pwd)
[ -x configure ] || autoreconf -fi >/dev/null 2>&1 ||
	{ echo "demo: autoreconf failed" >&2; exit 1; }
mkdir -p build/demo
cd build/demo
[ -f Makefile ] || "$src/configure" --quiet
make -j"$(nproc)" --quiet >/dev/null
top=$(pwd)

demo=$(mktemp -d /tmp/ringside-demo.XXXXXX)
sed -e "s#^socket = .*#socket = $demo/ringside.sock#" \
	-e "s#^spool_dir = .*#spool_dir = $demo/spool#" \
	-e "s#^bootstrap.servers = .*#test.mock.num.brokers = 3#" \
	"$src/conf/ringside.ini" >"$demo/ringside.ini"
grep -q '^test.mock.num.brokers = 3$' "$demo/ringside.ini" ||
	{ echo "demo: no bootstrap.servers line in conf/ringside.ini" >&2; exit 1; }
"$top/daemon/ringsided" --config "$demo/ringside.ini" 2>"$demo/ringsided.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$demo"' EXIT
i=0
until [ -S "$demo/ringside.sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$demo/ringsided.log"; exit 1; }
	sleep 0.1
done

echo "== ringsided is up; sending 5 records to topic 'orders' (acks=all):"
printf 'alice:1 book\nbob:2 pens\nalice:3 lamp\ncarol:1 desk\nbob:5 ink\n' |
	"$top/client/ringside-send" -s "$demo/ringside.sock" -t orders \
		-K : -H source=demo -v

echo "== and 3 to 'metrics' (acks=1, reports=errors: only failures report):"
printf 'cpu 0.42\nmem 0.77\ndisk 0.13\n' |
	"$top/client/ringside-send" -s "$demo/ringside.sock" -t metrics

boot=$(sed -n 's/.*embedded mock Kafka cluster at \([^ ]*\).*/\1/p' \
	"$demo/ringsided.log")
if command -v kcat >/dev/null; then
	echo "== read back from the mock cluster ($boot) with kcat:"
	kcat -C -b "$boot" -t orders -o beginning -e -q \
		-f '  orders [%p] @%o key=%k value=%s headers=%h\n'
fi

sleep 1 # librdkafka's first statistics: the brokers' state
echo "== ringsidectl status:"
"$top/client/ringsidectl" -s "$demo/ringside.sock" status | sed 's/^/  /'

echo "== [topic:metrics] acks = all, then SIGHUP: the daemon reloads live"
sed -i '/^\[topic:metrics\]/,/^acks/s/^acks = 1/acks = all/' "$demo/ringside.ini"
kill -HUP $pid
sleep 0.5
printf 'cpu 0.40\n' |
	"$top/client/ringside-send" -s "$demo/ringside.sock" -t metrics -q
"$top/client/ringsidectl" -s "$demo/ringside.sock" status --json |
	grep '"name": "metrics"' | sed 's/^/  /'

kill -TERM $pid
wait $pid && status=0 || status=$?
echo "== ringsided stopped with status $status; its log:"
sed 's/^/  /' "$demo/ringsided.log"
# the demo succeeds when ringsided stopped cleanly
exit "$status"
