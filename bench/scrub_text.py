"""Benchmark: scrubbing 1 MB of phishing mail and of hostile text.

Usage: python bench/scrub_text.py [--eml-dir PATH] [--repeat N]

Joins the corpus's .eml files (read as UTF-8, invalid bytes replaced) and
cuts the result to 1,000,000 characters. Then reports the best of N runs of
``scrub_text`` over it, without and with three declared indicator values.
It also times 1,000,000 characters of input built to make patterns backtrack,
and inputs dense with cues, which produce one redaction every few characters.
Times are CPU seconds of this process.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from pathlib import Path

from medisac.members.scrub import scrub_text

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EML = ROOT.parent / "shared" / "corpus" / "contrib" / "eml"
SIZE = 1_000_000
KEEP = ["no-reply@access-accsecurity.com", "http://evil.example/x", "192.0.2.1"]


def best_of(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def hostile_inputs() -> dict[str, str]:
    def fill(unit: str) -> str:
        return (unit * (SIZE // len(unit) + 1))[:SIZE]

    return {
        "a@ repeated": fill("a@"),
        "1- repeated": fill("1-"),
        "digits only": fill("7"),
        "a[.] repeated": fill("a[.]"),
        "Patient: repeated": fill("Patient: "),
        "555-123-4567 repeated (one phone per 13 chars)": fill("555-123-4567 "),
        "a@b.cc repeated (one address per 7 chars)": fill("a@b.cc "),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eml-dir", type=Path, default=DEFAULT_EML)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    mails = sorted(args.eml_dir.glob("*.eml"))
    text = "".join(
        path.read_bytes().decode("utf-8", errors="replace") for path in mails
    )
    text = (text * (SIZE // max(len(text), 1) + 1))[:SIZE]
    print(f"python {platform.python_version()} on {platform.machine()}")
    print(f"{len(mails)} mails, {len(text):,} characters")
    redactions = len(scrub_text(text).redactions)
    plain = best_of(args.repeat, lambda: scrub_text(text))
    with_keep = best_of(args.repeat, lambda: scrub_text(text, KEEP))
    print(f"mail text: {plain:.3f} s, {redactions} redactions")
    print(f"mail text with 3 kept values: {with_keep:.3f} s")
    for name, hostile in hostile_inputs().items():
        seconds = best_of(1, lambda hostile=hostile: scrub_text(hostile))
        print(f"{name}: {seconds:.3f} s")


if __name__ == "__main__":
    main()
