"""Benchmark: export 550k indicators in every format, each on one core.

Usage: python bench/export_scale.py [--input PATH | --trails N] [--formats ...]

``--input`` defaults to the 550k-line IP list. ``--trails N`` instead takes N
lines spread evenly over the Maltrail static trails (domains, URLs and
addresses), so the domain and URL paths of the writers are measured too.

Loads the input into a fresh SQLite store with `medisac ingest`, then runs
`medisac export --format F --tlp red -o FILE` once per format as a child
process pinned to one CPU (with `taskset`, where it exists), as an operator
would. Reports wall time, CPU time, output size and the exported count for
each format. EDL and Suricata write into a directory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from ingest_scale import DEFAULT_INPUT, ROOT

FORMATS = ("plain", "csv", "edl", "rpz", "stix", "suricata", "zeek", "misp")
DIRECTORY_FORMATS = frozenset({"edl", "suricata", "misp"})
TRAILS = ROOT.parent / "shared" / "corpus" / "scale" / "maltrail_static_trails.tar.gz"


def sample_trails(count: int, target: Path) -> int:
    """Write ``count`` trail lines, spread evenly over every trail file."""
    lines: list[str] = []
    with tarfile.open(TRAILS) as archive:
        for member in archive:
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is None:
                continue
            for raw in handle:
                line = raw.decode("utf-8", "replace").split("#", 1)[0].strip()
                if line:
                    lines.append(line)
    step = max(1, len(lines) // count)
    chosen = lines[::step][:count]
    target.write_text("\n".join(chosen) + "\n")
    return len(chosen)


def medisac(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a medisac command; pin exports to the first CPU when taskset exists."""
    command = [sys.executable, "-m", "medisac", *args]
    taskset = shutil.which("taskset")
    if taskset is not None and args[0] == "export":
        command = [taskset, "-c", "0", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(child.stat().st_size for child in path.iterdir())
    return path.stat().st_size


def export_once(env: dict[str, str], fmt: str, workdir: Path) -> dict[str, float]:
    target = workdir / f"export-{fmt}"
    if fmt in DIRECTORY_FORMATS:
        target.mkdir()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = medisac(env, "export", "--format", fmt, "--tlp", "red", "-o", str(target))
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"export {fmt} failed ({result.returncode}):\n{result.stderr}")
    exported = int(result.stderr.split("exported ")[1].split()[0].replace(",", ""))
    return {
        "seconds": elapsed,
        "cpu_seconds": (after.ru_utime - before.ru_utime)
        + (after.ru_stime - before.ru_stime),
        "bytes": size_of(target),
        "exported": exported,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--trails", type=int, help="sample this many trail lines")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    machine = f"python {platform.python_version()}, {platform.machine()}"

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.trails:
            args.input = workdir / "trails-sample.txt"
            written = sample_trails(args.trails, args.input)
            print(f"sampled {written:,} lines of {TRAILS.name}")
        if not args.input.exists():
            raise SystemExit(f"input not found: {args.input}")
        print(f"input {args.input.name}; {machine}, {os.cpu_count()} CPUs")
        env = {
            **os.environ,
            "MEDISAC_DB": f"sqlite:///{workdir / 'bench.db'}",
            "MEDISAC_OPERATOR_KEY": "bench-key-" + "x" * 30,
            "MEDISAC_DEFAULT_FEEDS": "none",
        }
        medisac(env, "init")
        loaded = medisac(env, "ingest", str(args.input), "--source", "bench")
        if loaded.returncode not in (0, 1):
            raise SystemExit(f"ingest failed:\n{loaded.stderr}")
        stats = medisac(env, "stats")
        print(stats.stdout)

        for fmt in args.formats.split(","):
            stats = export_once(env, fmt, workdir)
            results[fmt] = stats
            print(
                f"{fmt:9} {stats['exported']:>9,} exported in {stats['seconds']:5.1f} s"
                f" (CPU {stats['cpu_seconds']:5.1f} s), {stats['bytes'] / 1e6:7.1f} MB"
            )

    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    name = "export_scale_trails.json" if args.trails else "export_scale.json"
    (out / name).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
