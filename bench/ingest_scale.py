"""Benchmark: ingest the 550k-line IP list into a fresh SQLite store.

Usage: python bench/ingest_scale.py [--input PATH] [--repeat N]

Runs `medisac init` and `medisac ingest` as child processes, as an operator
would, and reports wall time, indicators per second and the peak resident
memory of the ingest process. The default input is the scale list of the
shared corpus beside the checkout.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
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


def count_lines(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        return sum(1 for _ in handle)


def run_once(path: Path, workdir: Path) -> dict[str, float]:
    db = f"sqlite:///{workdir / 'bench.db'}"
    env = {
        **os.environ,
        "MEDISAC_DB": db,
        "MEDISAC_OPERATOR_KEY": "bench-key-" + "x" * 30,
    }
    subprocess.run(
        [sys.executable, "-m", "medisac", "init"],
        env=env,
        check=True,
        capture_output=True,
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "medisac",
            "ingest",
            str(path),
            "--source",
            "bench",
            "--rejects-ok",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in (0, 1):
        raise SystemExit(f"ingest failed ({result.returncode}):\n{result.stderr}")
    with sqlite3.connect(workdir / "bench.db") as conn:
        stored = conn.execute("SELECT count(*) FROM indicators").fetchone()[0]
        published = conn.execute("SELECT count(*) FROM stix_objects").fetchone()[0]
    return {
        "seconds": elapsed,
        "indicators": stored,
        "stix_objects": published,
        "per_second": stored / elapsed,
        "peak_rss_mib": max(after.ru_maxrss, before.ru_maxrss) / 1024,
        "cpu_seconds": (after.ru_utime - before.ru_utime)
        + (after.ru_stime - before.ru_stime),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if not args.input.exists():
        raise SystemExit(f"input not found: {args.input}")
    lines = count_lines(args.input)
    machine = f"python {platform.python_version()}, {platform.machine()}"
    print(f"input {args.input.name}: {lines:,} lines; {machine}, {os.cpu_count()} CPUs")
    results = []
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            stats = run_once(args.input, Path(tmp))
        results.append(stats)
        print(
            f"run {run + 1}: {stats['indicators']:,} indicators "
            f"in {stats['seconds']:.1f} s = {stats['per_second']:,.0f}/s; "
            f"peak RSS {stats['peak_rss_mib']:.0f} MiB; "
            f"CPU {stats['cpu_seconds']:.1f} s"
        )
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest_scale.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
