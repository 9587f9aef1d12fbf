#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""static-names.py: prints every static function name that more than one
file of daemon/ and client/ defines, and every one that does not begin
with its module's prefix, so that a backtrace or a grep names one
function in one place; exits 1 if there is one. Run from the top of the tree:
python3 tests/static-names.py"""
import collections
import glob
import os
import re
import sys

DEF = re.compile(r'^static\s+(?:inline\s+)?(?:const\s+)?'
                 r'(?:struct\s+\w+|enum\s+\w+|unsigned\s+\w+|\w+)[\s*]+'
                 r'(\w+)\(', re.M)


# a file's static functions begin with its module's name and an
# underscore (or rs_), except these, whose module is named otherwise
PREFIX = {'spool_read': 'spool_', 'spool_recover': 'spool_',
          'spool_retire': 'spool_', 'producer_topic': 'producer_',
          'config_ringside': 'config_',
          'ringside': 'client_', 'ringside-send': 'rsend_',
          'ringsidectl': 'ctl_'}


def main() -> int:
    where = collections.defaultdict(set)
    unprefixed = []
    for path in sorted(glob.glob('daemon/*.c') + glob.glob('client/*.c')):
        mod = os.path.basename(path)[:-2]
        prefix = PREFIX.get(mod, mod + '_')
        with open(path, encoding='utf-8') as f:
            for m in DEF.finditer(f.read()):
                where[m.group(1)].add(path)
                if not m.group(1).startswith((prefix, 'rs_')):
                    unprefixed.append(f'{path}: {m.group(1)} is not '
                                      f'{prefix}*')
    twice = {n: sorted(p) for n, p in where.items() if len(p) > 1}
    for name, paths in sorted(twice.items()):
        print(f'{name}: defined static in {", ".join(paths)}')
    for line in unprefixed:
        print(line)
    if not where:
        print('static-names: no static function found; run from the top '
              'of the tree', file=sys.stderr)
        return 2
    return 1 if twice or unprefixed else 0


if __name__ == '__main__':
    sys.exit(main())
