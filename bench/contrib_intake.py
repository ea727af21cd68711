"""Benchmark: contributing the corpus's phishing e-mails and reports.

Usage: python bench/contrib_intake.py [--corpus PATH] [--repeat N]

Creates a fresh SQLite store in a temporary folder and stores every .eml
file and every report of the corpus's contrib/ folder as a contribution,
through ``medisac.contrib.service``. Reports the wall time per file kind:
the first file pays for loading the known-benign lists and the galaxy
names, so the median and maximum per file are shown without it. Then it
times reading alone (parse and draft, no store) for the same files, best of
N runs.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from medisac.contrib.draft import draft_email, draft_report
from medisac.contrib.mail import read_email
from medisac.contrib.reports import read_report
from medisac.contrib.service import submit_email, submit_report
from medisac.store.engine import begin_write, create_engine
from medisac.store.migrate import upgrade
from medisac.store.publish import publish_static

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "contrib"


def timed(files: list[Path], run: Callable[[Path], object]) -> list[float]:
    times = []
    for path in files:
        start = time.perf_counter()
        run(path)
        times.append(time.perf_counter() - start)
    return times


def describe(label: str, times: list[float]) -> str:
    rest = times[1:] or times
    return (
        f"{label}: {len(times)} files, {sum(times):.2f} s in all, first "
        f"{times[0]:.2f} s, then median {statistics.median(rest) * 1000:.0f} ms, "
        f"max {max(rest) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    emails = sorted((args.corpus / "eml").glob("*.eml"))
    reports = sorted(
        path
        for path in (args.corpus / "reports").iterdir()
        if path.name != "SOURCES.md"
    )
    print(f"python {platform.python_version()} on {platform.machine()}")

    with tempfile.TemporaryDirectory(prefix="medisac-bench-") as folder:
        engine = create_engine(f"sqlite:///{folder}/bench.db")
        upgrade(engine)
        with begin_write(engine) as conn:
            publish_static(conn)
        email_times = timed(
            emails,
            lambda path: submit_email(
                engine, path.read_bytes(), filename=path.name, org_id=None
            ),
        )
        report_times = timed(
            reports,
            lambda path: submit_report(
                engine, path.read_bytes(), filename=path.name, org_id=None
            ),
        )
        engine.dispose()
    print(describe("store e-mails", email_times))
    print(describe("store reports", report_times))

    best_email = min(
        sum(
            timed(emails, lambda path: draft_email(read_email(path.read_bytes()), None))
        )
        for _ in range(args.repeat)
    )
    best_report = min(
        sum(
            timed(
                reports,
                lambda path: draft_report(
                    read_report(path.read_bytes(), path.name), None
                ),
            )
        )
        for _ in range(args.repeat)
    )
    print(
        f"read and draft only, best of {args.repeat}: e-mails {best_email:.2f} s, "
        f"reports {best_report:.2f} s"
    )


if __name__ == "__main__":
    main()
