# SPDX-License-Identifier: MIT
"""Checks a /metrics page with the Prometheus project's own parser.

Usage: prom_check.py FILE

Every sample must belong to a family with a TYPE; counters are named
*_total; histograms have cumulative buckets ending in +Inf, equal to their
_count; names start with ringside_ or process_. Prints one line per family
and exits 1 on the first problem.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families


def fail(msg: str) -> None:
    print(f"prom_check: {msg}")
    sys.exit(1)


def check(text: str) -> int:
    if not text.endswith("\n"):
        fail("the page does not end with a newline")
    families = list(text_string_to_metric_families(text))
    for fam in families:
        if not fam.name.startswith(("ringside_", "process_")):
            fail(f"{fam.name}: not a ringside_ or process_ name")
        if fam.type not in ("counter", "gauge", "histogram"):
            fail(f"{fam.name}: type {fam.type}")
        if fam.type == "histogram":
            by_labels: dict = {}
            for s in fam.samples:
                key = tuple(sorted((k, v) for k, v in s.labels.items()
                                   if k != "le"))
                by_labels.setdefault(key, []).append(s)
            for key, samples in by_labels.items():
                buckets = [s for s in samples if s.name.endswith("_bucket")]
                count = [s.value for s in samples if s.name.endswith("_count")]
                if not buckets or buckets[-1].labels["le"] != "+Inf":
                    fail(f"{fam.name}{key}: no +Inf bucket last")
                values = [b.value for b in buckets]
                if values != sorted(values):
                    fail(f"{fam.name}{key}: buckets not cumulative")
                if count != [values[-1]]:
                    fail(f"{fam.name}{key}: +Inf {values[-1]} != count {count}")
        print(f"{fam.type:9} {fam.name} ({len(fam.samples)} samples)")
    return len(families)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        n = check(f.read())
    print(f"prom_check: {n} families parsed")


if __name__ == "__main__":
    main()
