#!/bin/sh
# SPDX-License-Identifier: MIT
#
# cluster.sh: a real Apache Kafka 4.x cluster on loopback for ringside's
# tests and benchmarks. One KRaft controller and three brokers, each its
# own JVM with its own log dir and a bounded heap, on free ports.
#
#   cluster.sh fetch            the broker's jars into the cache (Maven)
#   cluster.sh start DIR [PID]  format and start a cluster in DIR; with
#                               PID, a watchdog stops it when PID exits
#   cluster.sh stop DIR         kill -9 every process of the cluster
#   cluster.sh kill DIR N       kill -9 broker N (1, 2 or 3)
#   cluster.sh term DIR N       SIGTERM broker N and wait for it to exit
#   cluster.sh pause DIR N      SIGSTOP broker N
#   cluster.sh resume DIR N     SIGCONT broker N
#   cluster.sh restart DIR N    start broker N again on its ports and data
#
# After start, DIR/bootstrap holds the PLAINTEXT bootstrap servers (no
# authentication; its principal, ANONYMOUS, is a super user) and
# DIR/sasl_bootstrap the SASL_PLAINTEXT ones (PLAIN; users in DIR/users,
# checked against Kafka ACLs). Node logs are DIR/nodeN.log. The cache is
# $RS_KAFKA_CACHE, by default ~/.cache/ringside-kafka; the version is the
# one in pom.xml beside this file.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' \
	"$here/pom.xml")
cache=${RS_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringside-kafka}
libs=$cache/$version/libs
heap=${RS_KAFKA_HEAP:-512m}

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

fetch() {
	[ -f "$libs/kafka_2.13-$version.jar" ] && return 0
	command -v mvn >/dev/null || die "mvn is not installed"
	mkdir -p "$libs.part"
	mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$libs.part" ||
		die "cannot fetch Apache Kafka $version with Maven"
	rm -rf "$libs"
	mv "$libs.part" "$libs"
}

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# the JVM of node N: the controller is node 0, the brokers 1 to 3
node_start() {
	dir=$1
	n=$2
	# shellcheck disable=SC2086
	setsid java -Xms64m -Xmx"$heap" -XX:+UseSerialGC \
		-Djava.awt.headless=true \
		-Dorg.slf4j.simpleLogger.defaultLogLevel=info \
		-Dorg.slf4j.simpleLogger.showDateTime=true \
		-Dorg.slf4j.simpleLogger.log.kafka.request.logger=warn \
		-Dorg.slf4j.simpleLogger.log.state.change.logger=warn \
		-cp "$libs/*" kafka.Kafka "$dir/node$n.properties" \
		</dev/null >>"$dir/node$n.log" 2>&1 &
	echo $! >"$dir/node$n.pid"
}

node_pid() {
	[ -f "$1/node$2.pid" ] || die "$1: no node $2"
	cat "$1/node$2.pid"
}

broker_arg() {
	case $1 in
	1 | 2 | 3) ;;
	*) die "broker $1: brokers are 1, 2 and 3" ;;
	esac
}

common_props() {
	cat <<EOF
controller.quorum.voters=0@127.0.0.1:$cport
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin
allow.everyone.if.no.acl.found=false
log.dirs=$dir/data$n
EOF
}

start() {
	dir=$1
	owner=${2:-}
	fetch
	command -v java >/dev/null || die "java is not installed"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ ! -f "$dir/node0.pid" ] || die "$dir: a cluster was started there"
	cport=$(free_port)
	# Kafka's own ids never start with "-": kafka-storage would read one
	# that does as an option (1 start in 64 failed so)
	cluster_id=$(python3 -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break')
	n=0
	{
		common_props
		cat <<EOF
process.roles=controller
node.id=0
listeners=CONTROLLER://127.0.0.1:$cport
EOF
	} >"$dir/node0.properties"
	bootstrap=
	sasl=
	printf 'admin admin-secret\nalice alice-secret\nbob bob-secret\n' \
		>"$dir/users"
	chmod 600 "$dir/users"
	for n in 1 2 3; do
		port=$(free_port)
		sport=$(free_port)
		bootstrap=${bootstrap:+$bootstrap,}127.0.0.1:$port
		sasl=${sasl:+$sasl,}127.0.0.1:$sport
		{
			common_props
			cat <<EOF
process.roles=broker
node.id=$n
listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sport
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";
auto.create.topics.enable=false
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
group.initial.rebalance.delay.ms=0
unclean.leader.election.enable=false
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
replica.lag.time.max.ms=5000
num.network.threads=2
num.io.threads=4
log.flush.interval.messages=9223372036854775807
EOF
		} >"$dir/node$n.properties"
	done
	echo "$bootstrap" >"$dir/bootstrap"
	echo "$sasl" >"$dir/sasl_bootstrap"
	for n in 0 1 2 3; do
		java -Xmx256m -cp "$libs/*" kafka.tools.StorageTool format \
			-t "$cluster_id" -c "$dir/node$n.properties" \
			>>"$dir/format.log" 2>&1 &
	done
	wait || true
	for n in 0 1 2 3; do
		[ -f "$dir/data$n/meta.properties" ] ||
			die "formatting node $n failed: $(tail -3 "$dir/format.log")"
	done
	for n in 0 1 2 3; do
		node_start "$dir" $n
	done
	if [ -n "$owner" ]; then
		# stops the cluster when its owner is gone, however it ended
		setsid sh -c "while kill -0 $owner 2>/dev/null && \
			[ -f '$dir/node0.pid' ]; do sleep 1; done; \
			'$here/cluster.sh' stop '$dir'" \
			</dev/null >/dev/null 2>&1 &
	fi
	wait_ready "$dir" 3
}

# until every broker is registered with the controller and answers
wait_ready() {
	dir=$1
	want=$2
	i=0
	while [ $i -lt 240 ]; do
		seen=$(grep -l "Transitioning from RECOVERY to RUNNING\|Kafka Server started" \
			"$dir"/node[123].log 2>/dev/null | wc -l)
		if [ "$seen" -ge "$want" ]; then
			return 0
		fi
		for n in 0 1 2 3; do
			if [ -f "$dir/node$n.pid" ] &&
				! kill -0 "$(cat "$dir/node$n.pid")" 2>/dev/null; then
				die "node $n exited: $(tail -5 "$dir/node$n.log")"
			fi
		done
		sleep 0.25
		i=$((i + 1))
	done
	die "the cluster in $dir did not start within 60 s"
}

stop() {
	dir=$1
	for n in 1 2 3 0; do
		if [ -f "$dir/node$n.pid" ]; then
			pid=$(cat "$dir/node$n.pid")
			kill -CONT "$pid" 2>/dev/null || true
			kill -KILL "$pid" 2>/dev/null || true
			rm -f "$dir/node$n.pid"
		fi
	done
}

[ $# -ge 1 ] || die "usage: cluster.sh fetch|start|stop|kill|term|pause|resume|restart ..."
cmd=$1
shift
case $cmd in
fetch) fetch ;;
start)
	[ $# -ge 1 ] || die "usage: cluster.sh start DIR [OWNER_PID]"
	start "$@"
	;;
stop)
	[ $# -eq 1 ] || die "usage: cluster.sh stop DIR"
	stop "$1"
	;;
kill | term | pause | resume | restart)
	[ $# -eq 2 ] || die "usage: cluster.sh $cmd DIR BROKER"
	broker_arg "$2"
	pid=$(node_pid "$1" "$2")
	case $cmd in
	kill) kill -KILL "$pid" ;;
	pause) kill -STOP "$pid" ;;
	resume) kill -CONT "$pid" ;;
	term)
		kill -TERM "$pid"
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 120 ]; do
			sleep 0.25
			i=$((i + 1))
		done
		kill -0 "$pid" 2>/dev/null && die "broker $2 did not exit"
		;;
	restart)
		kill -KILL "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
		echo "== restart" >>"$1/node$2.log"
		node_start "$(cd "$1" && pwd)" "$2"
		;;
	esac
	;;
*) die "unknown command $cmd" ;;
esac
