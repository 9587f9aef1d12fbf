#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds libringside_jni.so into DIR: the JNI layer with libringside's
# sources compiled in, so the jar needs nothing installed. Run by Maven
# (process-classes); RINGSIDE_SRC names the ringside tree (default: the one
# this file is in), CC the compiler.
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
tree=${RINGSIDE_SRC:-$(cd "$here/../../../../.." && pwd)}
client=$tree/client
[ -f "$client/ringside.h" ] || {
	echo "build.sh: no libringside sources in $client (set RINGSIDE_SRC)" >&2
	exit 1
}
jh=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
version=$(sed -n 's/^AC_INIT(\[ringside\], \[\([^]]*\)\].*/\1/p' \
	"$tree/configure.ac")
mkdir -p "$out"
# shellcheck disable=SC2086
${CC:-cc} -std=gnu11 -O2 -g -fPIC -shared -fvisibility=hidden \
	-D_GNU_SOURCE -DPACKAGE_VERSION="\"$version\"" \
	-Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-missing-field-initializers \
	-I"$client" -I"$jh/include" -I"$jh/include/linux" \
	"$here/ringside_jni.c" "$client/conn.c" "$client/poll.c" \
	"$client/reconnect.c" "$client/ringside.c" "$client/send.c" \
	"$client/strerror.c" -pthread -o "$out/libringside_jni.so"
