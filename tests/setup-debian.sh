#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what building, testing and the demo need on Debian 12 (as root).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
	build-essential autoconf automake libtool pkg-config \
	librdkafka-dev libevent-dev libinih-dev libcmocka-dev libjson-c-dev strace \
	kcat cppcheck clang-tidy systemd
# the metrics test has /metrics parsed by the Prometheus project's parser
apt-get install -y --no-install-recommends python3 python3-prometheus-client
# tests/python.sh installs the Python package into a venv of its own
apt-get install -y --no-install-recommends python3-venv
# the Debian packages (tests/deb.sh): build, lint, a clean root to install
# them in
apt-get install -y --no-install-recommends debhelper lintian debootstrap \
	fakeroot man-db
# the real-cluster suite (tests/kafka): Java 17, Maven and Python's
# socket module for free ports; then Apache Kafka's jars into the cache.
# The JDK, not only the JRE: tests/java.sh compiles bindings/java, and its
# JNI layer needs jni.h
apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven \
	python3
sh "$(dirname "$0")/kafka/cluster.sh" fetch
