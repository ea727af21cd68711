"""Benchmark: hunt about 1 GB of real logs with about 2.3 million indicators loaded.

Usage: python bench/hunt_scale.py [--size-mb 1024] [--no-store | --db URL] [--no-rg]
       python bench/hunt_scale.py --load-only URL

Data: every log of the corpus (``corpus/logs``, gzip files unpacked), each
repeated until all of them together reach ``--size-mb``, in a temporary
folder. One output file per corpus log keeps each file's format. The
indicators are the 550k-IP list and all Maltrail static trails from
``corpus/scale``, ingested into a fresh SQLite store (``--no-store`` builds
the index from the normalised values directly, which skips the minutes of
ingest).

The hunt runs in a child process pinned to one CPU: it loads the index,
then hunts every file and writes the hits as JSON lines to /dev/null.
Reported: load time, scan throughput (MB of log per second of scan), hits,
and the child's peak RSS. Then ``rg -F -c -f VALUES`` runs over the same
files with the same values (every hunted value except networks, which
fixed strings cannot express), pinned to the same CPU with one thread.

Repeating the logs lets the sieve remember each word that matches nothing
after the first copy, so this measures the steady state of logs whose words
recur. Logs where most words are new run slower (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import gzip
import io
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

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
IP_LIST = CORPUS / "scale" / "romainmarcoux_malicious-ip_full.txt.gz"
TRAILS = CORPUS / "scale" / "maltrail_static_trails.tar.gz"


def build_logs(target: Path, size_mb: int) -> list[Path]:
    """Write each corpus log, repeated, until all together reach ``size_mb``."""
    sources = sorted(
        p for p in (CORPUS / "logs").rglob("*") if p.is_file() and p.suffix != ".md"
    )
    contents = []
    for path in sources:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        if not data.endswith(b"\n"):
            data += b"\n"
        contents.append((path, data))
    total = sum(len(data) for _, data in contents)
    copies = max(1, -(-size_mb * 1_000_000 // total))
    written = []
    for number, (path, data) in enumerate(contents):
        out = target / f"{number:02d}-{path.name.removesuffix('.gz')}"
        with out.open("wb") as handle:
            for _ in range(copies):
                handle.write(data)
        written.append(out)
    return written


def trail_lines() -> list[str]:
    """Return every value line of the Maltrail static trails."""
    lines = []
    with tarfile.open(TRAILS) as archive:
        for member in archive:
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is None or not member.name.endswith(".txt"):
                continue
            for raw in handle:
                line = raw.decode("utf-8", "replace").split("#", 1)[0].strip()
                if line:
                    lines.append(line)
    return lines


def load_store(db: str, work: Path) -> float:
    """Ingest the IP list and the trails into a new store; return seconds."""
    from medisac.ingest.pipeline import IngestRequest, ingest
    from medisac.store.engine import begin_write, create_engine
    from medisac.store.migrate import upgrade
    from medisac.store.publish import publish_static

    engine = create_engine(db)
    upgrade(engine)
    with begin_write(engine) as conn:
        publish_static(conn)
    trails = work / "maltrail.txt"
    trails.write_text("\n".join(trail_lines()) + "\n")
    started = time.perf_counter()
    for path, name in ((IP_LIST, "ip-list"), (trails, "maltrail")):
        request = IngestRequest(
            inputs=(path,),
            source=name,
            format="plain",
            max_input_bytes=1 << 30,
        )
        ingest(engine, request)
    engine.dispose()
    return time.perf_counter() - started


def child(db: str | None, files: list[str]) -> None:
    """Load the index and hunt ``files``; print the measurements as JSON."""
    from rich.console import Console

    from medisac.hunt.index import ValueIndex, load_index
    from medisac.hunt.output import HitWriter
    from medisac.hunt.run import HuntRequest, run_hunt
    from medisac.store.engine import create_engine

    started = time.perf_counter()
    if db is not None:
        engine = create_engine(db)
        conn = engine.connect()
        index: ValueIndex = load_index(conn)
    else:
        index = direct_index()
    load_s = time.perf_counter() - started
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with open(os.devnull, "w") as sink:
        writer = HitWriter("json", sink, Console(file=io.StringIO()))
        cpu = time.process_time()
        wall = time.perf_counter()
        result = run_hunt(HuntRequest(inputs=files), index, writer)
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
    stats = result.stats
    print(
        json.dumps(
            {
                "indicators": len(index),
                "load_s": load_s,
                "rss_loaded": rss_loaded,
                "scan_wall_s": wall,
                "scan_cpu_s": cpu,
                "bytes": stats.bytes,
                "lines": stats.lines,
                "hits": stats.hits,
                "hit_lines": stats.hit_lines,
                "malformed": stats.malformed_lines,
            }
        )
    )


def direct_index() -> object:
    """Build the index from normalised values, without a store."""
    from medisac.errors import NormalizationError
    from medisac.hunt.index import IndicatorInfo, ValueIndex
    from medisac.model import TLP
    from medisac.normalize import normalize

    class StorelessIndex(ValueIndex):
        def info(self, slot: int) -> IndicatorInfo:
            return IndicatorInfo(self.ids[slot], "?", None, 50, TLP.GREEN, (), 0)

    index = StorelessIndex()
    seen: set[tuple[str, str]] = set()
    with gzip.open(IP_LIST, "rt") as handle:
        lines = [line.strip() for line in handle if line.strip()[:1] not in ("", "#")]
    for line in lines + trail_lines():
        try:
            values = normalize(line)
        except NormalizationError:
            continue
        for value in values:
            key = (value.type.value, value.value)
            if key not in seen:
                seen.add(key)
                index.add(len(seen), *key)
    return index


def hunted_values(db: str, target: Path) -> int:
    """Write the store's hunted values but networks, one per line; return the count."""
    from medisac.hunt.index import hunted_rows
    from medisac.store.engine import create_engine

    engine = create_engine(db)
    count = 0
    with engine.connect() as conn, target.open("w") as handle:
        for _, kind, value in hunted_rows(conn):
            if kind != "cidr":
                handle.write(value + "\n")
                count += 1
    engine.dispose()
    return count


def pinned(command: list[str]) -> list[str]:
    """Prefix ``command`` with taskset to run it on the first CPU, where it exists."""
    taskset = shutil.which("taskset")
    return [taskset, "-c", "0", *command] if taskset else command


def run_rg(values: Path, files: list[Path]) -> dict[str, float] | None:
    """Time ``rg -F -c -f VALUES FILES`` on one thread; None without rg."""
    rg = shutil.which("rg")
    if rg is None:
        return None
    command = pinned([rg, "-F", "-c", "-j", "1", "--no-filename", "-f", str(values)])
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [*command, *map(str, files)], capture_output=True, text=True, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter() - started
    lines = sum(int(n) for n in done.stdout.split() if n.isdigit())
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime + after.ru_stime)
        - (before.ru_utime + before.ru_stime),
        "matching_lines": lines,
        "peak_rss": after.ru_maxrss * 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--no-store", action="store_true")
    parser.add_argument(
        "--db", help="use this store, already loaded by an earlier run, and skip ingest"
    )
    parser.add_argument("--load-only", help="ingest into this new store, then stop")
    parser.add_argument("--no-rg", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        db = None if args.child[0] == "-" else args.child[0]
        child(db, args.child[1:])
        return
    if args.load_only:
        with tempfile.TemporaryDirectory(prefix="medisac-hunt-bench-") as folder:
            print(f"ingest: {load_store(args.load_only, Path(folder)):.1f} s")
        return
    with tempfile.TemporaryDirectory(prefix="medisac-hunt-bench-") as folder:
        work = Path(folder)
        files = build_logs(work, args.size_mb)
        size = sum(p.stat().st_size for p in files)
        print(f"logs: {len(files)} files, {size / 1e6:,.0f} MB", flush=True)
        db = None
        if args.db:
            db = args.db
        elif not args.no_store:
            db = f"sqlite:///{work / 'bench.db'}"
            print(f"ingest: {load_store(db, work):.1f} s", flush=True)
        command = [sys.executable, __file__, "--child", db or "-", *map(str, files)]
        done = subprocess.run(pinned(command), capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"the hunt failed:\n{done.stderr}")
        hunt = json.loads(done.stdout.splitlines()[-1])
        hunt["peak_rss"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        print(json.dumps(hunt, indent=2), flush=True)
        mb = hunt["bytes"] / 1e6
        print(
            f"medisac hunt: {mb / hunt['scan_cpu_s']:.1f} MB/s per CPU second, "
            f"{mb / hunt['scan_wall_s']:.1f} MB/s wall, peak RSS "
            f"{hunt['peak_rss'] / 2**20:,.0f} MiB, {hunt['indicators']:,} indicators"
        )
        if not args.no_rg and db is not None:
            values = work / "values.txt"
            count = hunted_values(db, values)
            rg = run_rg(values, files)
            if rg is None:
                print("rg not found; install ripgrep to compare")
            else:
                rate = mb / rg["wall_s"]
                print(
                    f"rg -F: {rate:.1f} MB/s wall, {rg['cpu_s']:.1f} CPU s, "
                    f"{count:,} values, {rg['matching_lines']:,} matching lines, "
                    f"peak RSS {rg['peak_rss'] / 2**20:,.0f} MiB"
                )
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
