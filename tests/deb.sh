#!/bin/sh
# SPDX-License-Identifier: MIT
# deb: the Debian packages as an operator meets them. Builds the .debs
# (dpkg-buildpackage -us -uc -b, in a copy of the tree), checks them with
# lintian (no error, no warning), makes a clean Debian 12 root with
# debootstrap, installs them there, and checks what the maintainer scripts
# did (the ringside user, ringside.ini 0640 root:ringside, the spool's
# directory, the unit not enabled). Then, as an operator would, points
# ringside.ini at a cluster (librdkafka's mock, inside the root), starts
# ringsided there as its user, sends records through ringside-send and
# reads them back from the cluster with kcat; looks up man ringside_send;
# stops the daemon, purges the packages, and checks that nothing they
# brought is left but the ringside user (Debian policy keeps it).
#
# As root, with network access to the Debian mirror the host's apt uses.
# RS_DEB_ROOT=TARBALL reuses a root made before (debootstrap takes a
# minute or two); it is made and kept there if missing.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/rs-deb-XXXXXX)
R=$W/root
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
	fi
	umount "$R/proc" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
fail() {
	echo "FAIL deb: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || fail "run it as root (debootstrap, chroot)"
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

# ---- the packages
mkdir "$W/src"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$src" ls-files -co --exclude-standard | grep -v '^build/' |
		(cd "$src" && tar -T - -cf -) | tar -C "$W/src" -xf -
else
	(cd "$src" && tar --exclude=./build -cf - .) | tar -C "$W/src" -xf -
fi
(cd "$W/src" && dpkg-buildpackage -us -uc -b) >"$W/build.log" 2>&1 || {
	tail -n 40 "$W/build.log" >&2
	fail "dpkg-buildpackage"
}
for p in ringside libringside0 libringside-dev; do
	[ -f "$W/${p}_"*"_$(dpkg --print-architecture).deb" ] ||
		fail "no $p package was built"
done
lintian --fail-on error,warning "$W"/ringside_*.changes >"$W/lintian.log" 2>&1 || {
	cat "$W/lintian.log" >&2
	fail "lintian"
}
echo "deb: built $(ls "$W"/*.deb | grep -vc dbgsym) packages; lintian: no error or warning"

# ---- a clean root
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources \
	2>/dev/null | grep -v security | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' \
	/etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || fail "no Debian mirror in the host's apt sources"
mkdir "$R"
if [ -n "${RS_DEB_ROOT:-}" ] && [ -f "$RS_DEB_ROOT" ]; then
	tar -C "$R" -xf "$RS_DEB_ROOT"
else
	debootstrap --variant=minbase bookworm "$R" "$mirror" >"$W/debootstrap.log" 2>&1 || {
		tail -n 20 "$W/debootstrap.log" >&2
		fail "debootstrap"
	}
	if [ -n "${RS_DEB_ROOT:-}" ]; then
		tar -C "$R" -cf "$RS_DEB_ROOT" .
	fi
fi
cp /etc/resolv.conf "$R/etc/resolv.conf"
mount -t proc proc "$R/proc"
# what the packages depend on, from the archive, before the listing
cp "$W"/ringside_*.deb "$W"/libringside0_*.deb "$W"/libringside-dev_*.deb "$R/tmp/"
in_root apt-get update >"$W/apt.log" 2>&1 || fail "apt-get update in the root"
deps=$(dpkg-deb -f "$W"/ringside_*.deb Depends | tr ',' '\n' |
	sed 's/(.*//; s/|.*//; s/ //g' | grep -v '^libringside0$')
# shellcheck disable=SC2086
in_root apt-get install -y --no-install-recommends $deps >>"$W/apt.log" 2>&1 ||
	{ tail -n 20 "$W/apt.log" >&2; fail "installing the dependencies"; }

# every path of the root but what dpkg, apt and the logs keep for
# themselves, and the copies of the packages
listing() {
	(cd "$R" && find . -xdev \
		\( -path ./proc -o -path ./tmp -o -path ./var/lib/dpkg \
		-o -path ./var/lib/apt -o -path ./var/cache -o -path ./var/log \
		-o -path ./run \) -prune -o -print) | sort
}
listing >"$W/before"

# ---- install
# as the README says: apt install ./the.debs
in_root sh -c 'apt-get install -y /tmp/libringside0_*.deb /tmp/ringside_*.deb \
	/tmp/libringside-dev_*.deb' >"$W/dpkg.log" 2>&1 ||
	{ cat "$W/dpkg.log" >&2; fail "apt-get install of the .debs"; }
in_root getent passwd ringside >/dev/null || fail "no ringside user"
[ "$(in_root stat -c '%a %U %G' /etc/ringside/ringside.ini)" = "640 root ringside" ] ||
	fail "ringside.ini is $(in_root stat -c '%a %U %G' /etc/ringside/ringside.ini)"
[ "$(in_root stat -c '%a %U' /var/lib/ringside)" = "700 ringside" ] ||
	fail "/var/lib/ringside is $(in_root stat -c '%a %U' /var/lib/ringside)"
grep -q '^bootstrap.servers = localhost:9092$' "$R/etc/ringside/ringside.ini" ||
	fail "the shipped ringside.ini does not name a real cluster"
grep -q '^test.mock' "$R/etc/ringside/ringside.ini" &&
	fail "the shipped ringside.ini enables the mock cluster"
[ -z "$(find "$R/etc/systemd" -name 'ringsided.service' 2>/dev/null)" ] ||
	fail "the unit was enabled at install"
[ -z "$(find "$R/usr/lib" -name '*.la')" ] || fail "a .la file was installed"
[ -e "$R/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libringside.so.0" ] ||
	fail "libringside.so.0 is not in the multiarch directory"
in_root ringsidectl --version | grep -q '^ringsidectl ' || fail "ringsidectl --version"
in_root ringsided --version | grep -q '^ringsided ' || fail "ringsided --version"
man -M "$R/usr/share/man" -w ringside_send >/dev/null 2>&1 ||
	fail "man ringside_send finds nothing"
man -M "$R/usr/share/man" ringside_send 2>/dev/null | grep -q 'ringside_send_batch' ||
	fail "man ringside_send does not show ringside(3)"
echo "deb: installed: user, config 0640 root:ringside, spool directory, unit not enabled, man pages"

# ---- run it, as an operator who has named a cluster
sed -i 's/^bootstrap.servers = .*/test.mock.num.brokers = 3/' "$R/etc/ringside/ringside.ini"
in_root install -d -o ringside -g ringside -m 0755 /run/ringside
in_root ringsided --check --config /etc/ringside/ringside.ini >/dev/null ||
	fail "ringsided --check refuses the edited ringside.ini"
chroot --userspec=ringside:ringside "$R" /usr/sbin/ringsided \
	--config /etc/ringside/ringside.ini 2>"$W/ringsided.log" &
pid=$!
i=0
until [ -S "$R/run/ringside/ringside.sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$W/ringsided.log" >&2; fail "ringsided did not listen"; }
	sleep 0.1
done
boot=$(sed -n 's/.*embedded mock Kafka cluster at \([^ ]*\) .*/\1/p' "$W/ringsided.log")
[ -n "$boot" ] || fail "no mock cluster address in the log"
seq 1 1000 | sed 's/^/deb-record-/' >"$W/sent"
in_root ringside-send -t deb-test -q <"$W/sent" || fail "ringside-send"
kcat -C -b "$boot" -t deb-test -o beginning -e -q -f '%s\n' >"$W/read" 2>"$W/kcat.log" ||
	{ cat "$W/kcat.log" >&2; fail "kcat"; }
sort "$W/sent" >"$W/sent.sorted"
sort "$W/read" >"$W/read.sorted"
cmp -s "$W/sent.sorted" "$W/read.sorted" ||
	fail "Kafka holds $(wc -l <"$W/read") records, not the 1000 sent"
in_root ringsidectl status | grep -q 'deb-test' || fail "ringsidectl status"
kill -TERM "$pid"
wait "$pid" || fail "ringsided exited $? on SIGTERM"
pid=
echo "deb: ringsided ran as ringside: 1000 records sent, the same 1000 read back"

# ---- purge
in_root apt-get purge -y libringside-dev ringside libringside0 >"$W/purge.log" 2>&1 ||
	{ cat "$W/purge.log" >&2; fail "apt-get purge"; }
umount "$R/proc"
listing >"$W/after"
# the user stays, and adduser's or sysusers' backups of its files
left=$(comm -13 "$W/before" "$W/after" |
	grep -v -x -e './etc/passwd-' -e './etc/group-' -e './etc/shadow-' \
		-e './etc/gshadow-' || true)
[ -z "$left" ] || fail "left after purge: $left"
gone=$(comm -23 "$W/before" "$W/after")
[ -z "$gone" ] || fail "purge removed what was there before: $gone"
in_root getent passwd ringside >/dev/null || fail "purge removed the ringside user"
echo "deb: purged: nothing left but the ringside user"
