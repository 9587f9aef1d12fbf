#!/bin/sh
# SPDX-License-Identifier: MIT
# install: "make install" into a DESTDIR, as a packager would. Checks the
# tree (daemon, tools, library, header, .pc, config, unit, sysusers, man
# pages, docs), that the library exports only ringside_* and a program
# builds and runs against the installed header and library, that a second
# install keeps an edited ringside.ini, and that uninstall leaves only it.
set -eu
: "${RS_BUILDDIR:?}"
unset MAKEFLAGS MFLAGS MAKELEVEL
MAKE=${MAKE:-make}
D=$(mktemp -d /tmp/rs-install-XXXXXX)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL install: $*" >&2; exit 1; }

$MAKE -s -C "$RS_BUILDDIR" install DESTDIR="$D/root" >"$D/install.log" 2>&1 ||
	{ cat "$D/install.log" >&2; fail "make install"; }

# one installed path ending in $1
path() {
	p=$(find "$D/root" -path "*/$1" | head -n 1)
	[ -n "$p" ] || fail "nothing installed at */$1"
	echo "$p"
}
for f in sbin/ringsided bin/ringsidectl bin/ringside-send \
	include/ringside.h pkgconfig/ringside.pc etc/ringside/ringside.ini \
	systemd/system/ringsided.service sysusers.d/ringside.conf \
	man8/ringsided.8 man5/ringside.ini.5 man1/ringsidectl.1 \
	man1/ringside-send.1 man3/ringside.3 man3/ringside_send.3 \
	doc/ringside/README.md \
	doc/ringside/protocol.md; do
	path "$f" >/dev/null
done
so=$(path 'libringside.so.0')
[ -z "$(find "$D/root" -name 'libringside-core*' -o -name 'libringsided*')" ] ||
	fail "an internal library was installed"
other=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDBR]/ && $3 !~ /^ringside_/ && $3 !~ /^_/ {print $3}')
[ -z "$other" ] || fail "libringside exports more than ringside_*: $other"
# the ABI: each symbol with its version node, as on record (a change to it
# is a change to debian/libringside0.symbols and client/libringside.map)
: "${RS_SRCDIR:?}"
nm -D --defined-only --with-symbol-versions "$so" |
	awk '{ sub("@@", "@", $3); if ($3 !~ /@/) $3 = $3 "@" $3; print $3 }' |
	sort >"$D/abi.have"
sed -n 's/^ \([^ ]*\) .*/\1/p' "$RS_SRCDIR/debian/libringside0.symbols" |
	sort >"$D/abi.want"
diff -u "$D/abi.want" "$D/abi.have" >&2 || fail "the ABI changed (above)"
# every call the header declares is exported
for f in $(sed -n 's/^[a-z].*[ *]\(ringside_[a-z_]*\)(.*/\1/p' \
	"$RS_SRCDIR/client/ringside.h"); do
	grep -qx "$f@RINGSIDE_0" "$D/abi.have" ||
		fail "ringside.h declares $f, the library does not export it"
done

# the unit starts the installed daemon, at its installed path
sbin=$(path sbin/ringsided)
grep -q "^ExecStart=${sbin#"$D/root"} " "$(path systemd/system/ringsided.service)" ||
	fail "ExecStart does not name ${sbin#"$D/root"}"
"$sbin" --version | grep -q '^ringsided ' || fail "ringsided --version"
# --check also looks at the socket's and the spool's directories: here
# they are the test's, not /run/ringside and /var/lib/ringside
sed -e "s#^socket = .*#socket = $D/s.sock#" -e "s#^spool_dir = .*#spool_dir = $D/spool#" \
	"$(path etc/ringside/ringside.ini)" >"$D/check.ini"
"$sbin" --check --config "$D/check.ini" >/dev/null ||
	fail "the installed ringside.ini does not pass --check"

# a program against the installed header and library
inc=$(dirname "$(path include/ringside.h)")
cat >"$D/prog.c" <<'PROG'
#include <ringside.h>
#include <stdio.h>
int main(void)
{
	puts(ringside_strerror(RINGSIDE_EFULL));
	puts(ringside_version());
	return 0;
}
PROG
# shellcheck disable=SC2086
${RS_CC:-cc} ${RS_SAN_CFLAGS:-} -I"$inc" -o "$D/prog" "$D/prog.c" \
	-L"$(dirname "$so")" -lringside ||
	fail "a program does not build against the installed library"
ASAN_OPTIONS=verify_asan_link_order=0 LD_LIBRARY_PATH="$(dirname "$so")" \
	"$D/prog" >"$D/prog.out" && grep -qi 'full' "$D/prog.out" &&
	grep -qx "$(sed -n 's/^AC_INIT(\[ringside\], \[\([^]]*\)\].*/\1/p' \
		"$RS_SRCDIR/configure.ac")" "$D/prog.out" ||
	fail "the program did not run (or ringside_version() is wrong)"

# an operator's edits survive a second install; uninstall keeps them only
ini=$(path etc/ringside/ringside.ini)
echo '# edited by the operator' >>"$ini"
$MAKE -s -C "$RS_BUILDDIR" install DESTDIR="$D/root" >"$D/install.log" 2>&1 ||
	fail "second make install"
grep -q 'edited by the operator' "$ini" || fail "install overwrote ringside.ini"
$MAKE -s -C "$RS_BUILDDIR" uninstall DESTDIR="$D/root" >"$D/install.log" 2>&1 ||
	fail "make uninstall"
left=$(find "$D/root" -type f | sed "s|^$D/root||")
[ "$left" = "${ini#"$D/root"}" ] || fail "after uninstall: $left"
echo "install: the tree, exports, a program against the library, kept config, uninstall: ok"
