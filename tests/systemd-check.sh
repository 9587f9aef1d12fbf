#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks systemd/ringsided.service the way systemd will read it: the unit
# is generated with the built ringsided in place of the installed one,
# then "systemd-analyze verify" must be silent and "systemd-analyze
# security --offline=true" must rate it 2.0 or lower. Run from a build
# directory; CI runs it.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sed -e "s|@sbindir@|$(pwd)/daemon|g" -e "s|@sysconfdir@|/etc|g" \
	-e "s|@docdir@|/usr/share/doc/ringside|g" \
	"$src/systemd/ringsided.service.in" >"$out/ringsided.service"
verify=$(systemd-analyze verify "$out/ringsided.service" 2>&1 || true)
if [ -n "$verify" ]; then
	echo "systemd-analyze verify:" >&2
	echo "$verify" >&2
	exit 1
fi
if ! systemd-analyze security --offline=true --threshold=20 \
	"$out/ringsided.service" >"$out/security.txt" 2>&1; then
	cat "$out/security.txt" >&2
	echo "systemd-check: exposure above 2.0" >&2
	exit 1
fi
tail -1 "$out/security.txt"
