# SPDX-License-Identifier: MIT
"""Builds ringside._ringside, the C extension over libringside.

libringside's sources are compiled into the extension when they are found
(this directory inside the ringside tree, or $RINGSIDE_SRC naming the
tree), so the wheel needs nothing installed; otherwise the extension links
the installed libringside (libringside-dev: pkg-config ringside).
"""
import os
import re
import shutil
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.environ.get("RINGSIDE_SRC", os.path.join(HERE, "..", ".."))
CLIENT = os.path.join(TREE, "client")
SOURCES = ["conn.c", "poll.c", "reconnect.c", "ringside.c", "send.c",
           "strerror.c"]


def tree_version() -> str:
    with open(os.path.join(TREE, "configure.ac"), encoding="utf-8") as f:
        m = re.search(r"AC_INIT\(\[ringside\], \[([^\]]+)\]", f.read())
    return m.group(1) if m else "0.0.0"


def pkg_config(flag: str) -> list:
    out = subprocess.run(["pkg-config", flag, "ringside"], check=True,
                         capture_output=True, text=True).stdout
    return out.split()


ext_args = dict(extra_compile_args=["-std=gnu11", "-fvisibility=hidden",
                                    "-Wall", "-Wextra", "-Wno-unused-parameter",
                                    "-Wno-missing-field-initializers"])
def copy_client() -> str:
    """libringside's sources copied under build/ (setuptools takes only
    paths inside this directory); returns that directory, relative."""
    rel = os.path.join("build", "libringside")
    dst = os.path.join(HERE, rel)
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(CLIENT):
        if name.endswith((".c", ".h")):
            shutil.copyfile(os.path.join(CLIENT, name),
                            os.path.join(dst, name))
    return rel


if all(os.path.exists(os.path.join(CLIENT, s)) for s in SOURCES):
    lib = copy_client()
    ext = Extension(
        "ringside._ringside",
        sources=["src/ringside/_ringside.c"]
        + [os.path.join(lib, s) for s in SOURCES],
        include_dirs=[lib],
        define_macros=[("_GNU_SOURCE", "1"),
                       ("PACKAGE_VERSION", '"%s"' % tree_version())],
        extra_link_args=["-pthread"],
        **ext_args)
else:
    cflags = pkg_config("--cflags")
    ext = Extension(
        "ringside._ringside",
        sources=["src/ringside/_ringside.c"],
        include_dirs=[f[2:] for f in cflags if f.startswith("-I")],
        library_dirs=[f[2:] for f in pkg_config("--libs") if f.startswith("-L")],
        libraries=["ringside"],
        **ext_args)

setup(ext_modules=[ext])
