#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""static-names.py: prints every static function name that more than one
file of daemon/ and client/ defines, so a backtrace or a grep names one
function, and exits 1 if there is one. Run from the top of the tree:
python3 tests/static-names.py"""
import collections
import glob
import re
import sys

DEF = re.compile(r'^static\s+(?:inline\s+)?(?:const\s+)?'
                 r'(?:struct\s+\w+|enum\s+\w+|unsigned\s+\w+|\w+)[\s*]+'
                 r'(\w+)\(', re.M)


def main() -> int:
    where = collections.defaultdict(set)
    for path in sorted(glob.glob('daemon/*.c') + glob.glob('client/*.c')):
        with open(path, encoding='utf-8') as f:
            for m in DEF.finditer(f.read()):
                where[m.group(1)].add(path)
    twice = {n: sorted(p) for n, p in where.items() if len(p) > 1}
    for name, paths in sorted(twice.items()):
        print(f'{name}: defined static in {", ".join(paths)}')
    if not where:
        print('static-names: no static function found; run from the top '
              'of the tree', file=sys.stderr)
        return 2
    return 1 if twice else 0


if __name__ == '__main__':
    sys.exit(main())
