"""Benchmark: known-benign lookups over the 550,000-address scale list.

Usage: python bench/benign_match.py [--input PATH] [--repeat N]

Measures, in one process, the time to import the matcher and to build each
part of its index (networks, host names, hashes) from the warning lists
that pymispwarninglists ships. Then measures the cost of
``KnownBenign.match`` per value over every line of the input, an IPv4 list
by default, and prints how many values matched, by list. The store is not
touched: the matcher is built with the shipped lists and the healthcare
allow list only.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = (
    ROOT.parent
    / "shared"
    / "corpus"
    / "scale"
    / "romainmarcoux_malicious-ip_full.txt.gz"
)


def read_values(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.input.exists():
        raise SystemExit(f"input not found: {args.input}")
    values = read_values(args.input)

    started = time.perf_counter()
    from medisac.enrich.benign import (
        KnownBenign,
        healthcare_entries,
        shared_warning_lists,
    )
    from medisac.enrich.warninglists import DISABLED_BY_DEFAULT
    from medisac.model import IndicatorType

    imported = time.perf_counter()
    lists = shared_warning_lists(DISABLED_BY_DEFAULT)
    matcher = KnownBenign(healthcare_entries(), warning_lists=lists)
    parts = {}
    for name, kind, sample in (
        ("networks", IndicatorType.IPV4, "192.0.2.1"),
        ("hosts", IndicatorType.DOMAIN, "host.example.net"),
        ("hashes", IndicatorType.MD5, "0" * 32),
    ):
        begin = time.perf_counter()
        matcher.match(kind, sample)
        parts[name] = time.perf_counter() - begin

    runs = []
    hits: collections.Counter[str] = collections.Counter()
    for run in range(args.repeat):
        hits.clear()
        begin = time.perf_counter()
        for value in values:
            name = matcher.match(IndicatorType.IPV4, value)
            if name is not None:
                hits[name] += 1
        runs.append(time.perf_counter() - begin)
        print(f"run {run + 1}: {len(values):,} values in {runs[-1]:.3f} s")
    best = min(runs)
    result = {
        "input": args.input.name,
        "values": len(values),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "import_seconds": imported - started,
        "index_seconds": parts,
        "best_seconds": best,
        "microseconds_per_value": best / len(values) * 1e6,
        "matches": dict(hits.most_common()),
    }
    print(
        f"import {result['import_seconds']:.2f} s; index "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in parts.items())
    )
    print(f"{result['microseconds_per_value']:.2f} µs per value (best of {len(runs)})")
    for name, count in hits.most_common():
        print(f"  {count:>7,}  {name}")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "benign_match.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
