#!/bin/sh
# SPDX-License-Identifier: MIT
# The Python package as a user installs it: pip install ./bindings/python
# into a fresh virtual environment, then its pytest suite against the real
# ringsided and a mock cluster in a process of its own (rs_mock), reading
# back with kcat. Usage: sh tests/python.sh [BUILD_DIR] (default
# build/normal, which must be built with make check TESTS=).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
build=$top/${1:-build/normal}
venv=$(mktemp -d /tmp/rs-venv-XXXXXX)
trap 'rm -rf "$venv" "$top/bindings/python/build"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
	./bindings/python pytest
cd bindings/python
RINGSIDED=$build/daemon/ringsided RS_MOCK=$build/tests/integration/rs_mock \
	"$venv/bin/python" -m pytest -q -p no:cacheprovider tests
