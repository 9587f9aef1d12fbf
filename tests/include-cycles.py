#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""include-cycles.py: the daemon's modules (daemon/NAME.c with its NAME.h)
and the modules each one includes, from its .c and its .h; prints every
include cycle (a strongly connected set of modules) and exits 1 if there
is one. Run from the top of the tree: python3 tests/include-cycles.py"""
import glob
import os
import re
import sys

INCLUDE = re.compile(r'#include "([a-z_0-9]+)\.h"')


def graph(top: str) -> dict:
    mods = {os.path.basename(f)[:-2] for f in glob.glob(top + '/*.c')}
    edges = {}
    for m in mods:
        seen = set()
        for ext in ('.c', '.h'):
            path = os.path.join(top, m + ext)
            if os.path.exists(path):
                with open(path, encoding='utf-8') as f:
                    seen |= set(INCLUDE.findall(f.read()))
        edges[m] = {x for x in seen if x in mods and x != m}
    return edges


def cycles(edges: dict) -> list:
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    edges = graph('daemon')
    found = cycles(edges)
    for comp in found:
        print('include cycle:', ' '.join(comp))
        for m in comp:
            print('  %s includes %s' % (m, ' '.join(
                sorted(x for x in edges[m] if x in comp))))
    print('%d modules, %d cycles' % (len(edges), len(found)))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
