"""Benchmark: page a TAXII 2.1 collection through medisac, OpenTAXII and medallion.

Usage: python bench/taxii_paging.py [--objects 100000] [--limit 1000]
       [--only medisac,opentaxii,medallion]

Loads the same generated indicators into each server (see taxii_servers.py),
starts it on 127.0.0.1, and reads the whole collection with one httpx client,
one page after another. The client follows ``next``, or ``added_after`` set
from ``X-TAXII-Date-Added-Last`` where a page has ``more`` but no ``next``.
The servers run one at a time, so they never compete for the CPU. For each it
reports objects per second over the whole page-through (client parsing
included), p50 and p99 page latency (request sent to body received), and
whether every indicator arrived exactly once. It prints a Markdown table and
the ratio medisac / fastest other server, and writes JSON to bench/out/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from taxii_servers import (
    MAX_OBJECTS,
    TAXII_ACCEPT,
    Limits,
    SetupError,
    Target,
    indicator_values,
    log,
    prepare_medallion,
    prepare_medisac,
    prepare_opentaxii,
    stix_indicator,
)

BENCH_DIR = Path(__file__).resolve().parent
SERVERS = ("medisac", "opentaxii", "medallion")
OTHERS = ("opentaxii", "medallion")
TARGET_RATIO = 50.0


@dataclass
class Result:
    """The outcome of one server's page-through, with zeros where it never started."""

    server: str
    version: str = ""
    status: str = "not run"
    objects: int = 0
    distinct_ids: int = 0
    indicators: int = 0
    expected_indicators: int = 0
    pages: int = 0
    seconds: float = 0.0
    response_bytes: int = 0
    follow: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    server_cpu_seconds: float | None = None
    server_peak_rss_mib: float | None = None
    load_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Tell whether the page-through ended with ``more`` false."""
        return self.status == "complete"

    @property
    def exactly_once(self) -> bool:
        """Tell whether every expected indicator arrived once and nothing twice."""
        return (
            self.complete
            and self.distinct_ids == self.objects
            and self.indicators == self.expected_indicators
        )

    @property
    def objects_per_second(self) -> float:
        """Return objects received per second of page-through wall time."""
        return self.objects / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, percent: float) -> float | None:
        """Return a nearest-rank percentile of the page latencies, in ms."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        rank = max(1, math.ceil(percent / 100 * len(ordered)))
        return ordered[rank - 1]


def page_through(target: Target, result: Result, limit: int, limits: Limits) -> None:
    """Read every page of ``target`` into ``result``, within the time limits.

    A page that takes longer than ``limits.page_timeout`` seconds, or a
    page-through longer than ``limits.budget``, ends the run with status
    ``timeout``. An HTTP error or a malformed page ends it with ``error``.
    """
    headers = {
        "Accept": TAXII_ACCEPT,
        # Compression would cost CPU on both ends of a loopback connection.
        "Accept-Encoding": "identity",
        **target.headers,
    }
    timeout = httpx.Timeout(limits.page_timeout, connect=10.0)
    seen: set[str] = set()
    # A server may send as little as one object per page. The budget bounds
    # the time and this bounds the loop.
    max_pages = result.expected_indicators + 100
    with httpx.Client(headers=headers, timeout=timeout, trust_env=False) as client:
        # One request outside the timing opens the connection and warms the
        # app. Discovery is used because OpenTAXII 0.9.3 responds with 500 to
        # GET of a collection, and medallion's object listing is slow.
        client.get(target.discovery_url)
        cpu_before = target.server.cpu_seconds()
        params: dict[str, str | int] = {"limit": limit}
        started = time.perf_counter()
        while result.pages < max_pages:
            if time.perf_counter() - started > limits.budget:
                result.status = f"timeout: budget of {limits.budget:.0f} s used up"
                break
            params = _read_page(client, target, params, limit, result, seen)
            if result.status != "running":
                break
        result.seconds = time.perf_counter() - started
        result.server_cpu_seconds = target.server.cpu_seconds() - cpu_before
        result.server_peak_rss_mib = target.server.peak_rss_mib()
    result.distinct_ids = len(seen)


def _read_page(
    client: httpx.Client,
    target: Target,
    params: dict[str, str | int],
    limit: int,
    result: Result,
    seen: set[str],
) -> dict[str, str | int]:
    """Fetch one page, record it, and return the parameters of the next one."""
    sent = time.perf_counter()
    try:
        response = client.get(target.objects_url, params=params)
    except httpx.TimeoutException:
        result.status = (
            f"timeout: page {result.pages + 1} took over {client.timeout.read:.0f} s"
        )
        return params
    except httpx.TransportError as exc:
        result.status = f"error: page {result.pages + 1}: {exc!r}"
        return params
    result.latencies_ms.append((time.perf_counter() - sent) * 1000)
    result.pages += 1
    result.response_bytes += len(response.content)
    if response.status_code != 200:
        result.status = (
            f"error: page {result.pages} returned HTTP {response.status_code}: "
            f"{response.text[:200]}"
        )
        return params
    try:
        envelope = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        result.status = f"error: page {result.pages} is not JSON: {exc}"
        return params
    for obj in envelope.get("objects", []):
        result.objects += 1
        seen.add(obj["id"])
        if obj.get("type") == "indicator":
            result.indicators += 1
    return _next_params(envelope, response, limit, result)


def _next_params(
    envelope: dict[str, Any], response: httpx.Response, limit: int, result: Result
) -> dict[str, str | int]:
    if envelope.get("next"):
        _note_follow(result, "next")
        return {"limit": limit, "next": envelope["next"]}
    if envelope.get("more"):
        last = response.headers.get("X-TAXII-Date-Added-Last")
        if not last:
            result.status = (
                f"error: page {result.pages} has more but neither next nor "
                "X-TAXII-Date-Added-Last"
            )
            return {}
        _note_follow(result, "added_after")
        return {"limit": limit, "added_after": last}
    result.status = "complete"
    return {}


def _note_follow(result: Result, how: str) -> None:
    if how not in result.follow:
        result.follow.append(how)


def run_server(
    name: str, workdir: Path, count: int, limit: int, limits: Limits
) -> Result:
    """Set up, page through and stop one server; never raises for its failures."""
    result = Result(server=name, expected_indicators=count)
    values = indicator_values(count)
    target: Target | None = None
    try:
        if name == "medisac":
            target = prepare_medisac(workdir, values)
        else:
            objects = [stix_indicator(value, i) for i, value in enumerate(values)]
            if name == "opentaxii":
                target = prepare_opentaxii(workdir, objects, limits)
            else:
                target = prepare_medallion(workdir, objects, limits, limit)
        result.version = target.version
        result.load_seconds = target.load_seconds
        result.notes = target.notes
        result.status = "running"
        log(f"{name}: paging {target.objects_url}")
        page_through(target, result, limit, limits)
    except (SetupError, httpx.HTTPError, OSError, ValueError) as exc:
        result.status = f"setup failed: {exc}"
    finally:
        if target is not None:
            if not result.complete:
                log(f"{name}: server log ends:\n{target.server.log_tail()}")
            target.server.stop()
    log(
        f"{name}: {result.status}; {result.objects:,} objects in {result.seconds:.1f} s"
    )
    return result


def ratio_summary(results: dict[str, Result]) -> dict[str, Any]:
    """Return medisac's objects/s divided by the fastest complete other server."""
    others = [results[n] for n in OTHERS if n in results and results[n].exactly_once]
    excluded = {
        n: results[n].status
        for n in OTHERS
        if n in results and not results[n].exactly_once
    }
    medisac = results.get("medisac")
    summary: dict[str, Any] = {"ratio": None, "against": None, "excluded": excluded}
    if medisac is None or not medisac.exactly_once or not others:
        return summary
    fastest = max(others, key=lambda r: r.objects_per_second)
    summary["against"] = fastest.server
    summary["ratio"] = medisac.objects_per_second / fastest.objects_per_second
    summary["target"] = TARGET_RATIO
    summary["meets_target"] = summary["ratio"] >= TARGET_RATIO
    return summary


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _one_line(text: str, width: int = 120) -> str:
    # A table cell holds one line; the JSON file keeps the whole message.
    first = text.splitlines()[0] if text else ""
    if len(first) > width:
        first = first[: width - 3] + "..."
    return first.replace("|", "\\|")


def markdown_table(results: list[Result]) -> str:
    """Return one Markdown table row per server, with a header."""
    lines = [
        "| server | objects | distinct ids | exactly once | pages | seconds "
        "| objects/s | p50 ms | p99 ms | first page ms | bytes/object "
        "| server CPU s | status |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        first = r.latencies_ms[0] if r.latencies_ms else None
        per_object = f"{r.response_bytes / r.objects:,.0f}" if r.objects else "-"
        cpu = "-" if r.server_cpu_seconds is None else f"{r.server_cpu_seconds:,.1f}"
        lines.append(
            f"| {r.version or r.server} | {r.objects:,} | {r.distinct_ids:,} "
            f"| {'yes' if r.exactly_once else 'no'} | {r.pages:,} | {r.seconds:,.1f} "
            f"| {r.objects_per_second:,.0f} | {_ms(r.latency_ms(50))} "
            f"| {_ms(r.latency_ms(99))} | {_ms(first)} | {per_object} | {cpu} "
            f"| {_one_line(r.status)} |"
        )
    return "\n".join(lines)


def ratio_line(summary: dict[str, Any]) -> str:
    """Return the ratio sentence printed under the table."""
    excluded = "; ".join(
        f"{name}: {_one_line(why)}" for name, why in summary["excluded"].items()
    )
    left_out = (
        f" Left out (did not page every object exactly once): {excluded}."
        if excluded
        else ""
    )
    if summary["ratio"] is None:
        return f"No ratio: medisac or every other server did not complete.{left_out}"
    verdict = "meets" if summary["meets_target"] else "misses"
    return (
        f"medisac / {summary['against']} = {summary['ratio']:,.1f}x objects/s; "
        f"{verdict} the target of {TARGET_RATIO:.0f}x.{left_out}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--objects", type=int, default=100_000, help="indicators to load"
    )
    parser.add_argument("--limit", type=int, default=1000, help="objects per page")
    parser.add_argument(
        "--only",
        default=",".join(SERVERS),
        help="comma-separated servers to run, from: " + ", ".join(SERVERS),
    )
    parser.add_argument(
        "--page-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for one page before the server's run ends",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=1800.0,
        help="seconds one server's whole page-through may take",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=BENCH_DIR / "out" / "taxii_paging.json",
        help="JSON file to write",
    )
    parser.add_argument(
        "--keep-workdir",
        action="store_true",
        help="keep the databases, configs and server logs; prints where",
    )
    args = parser.parse_args(argv)
    args.servers = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.servers) - set(SERVERS))
    if unknown:
        parser.error(
            f"--only: unknown server {', '.join(unknown)}; use {', '.join(SERVERS)}"
        )
    if args.objects < 1 or args.limit < 1:
        parser.error("--objects and --limit must be at least 1")
    if args.objects > MAX_OBJECTS:
        parser.error(f"--objects must be at most {MAX_OBJECTS:,}")
    return args


def machine_info() -> dict[str, Any]:
    """Return the facts about this machine that the numbers depend on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the bench; return 0 when every chosen server completed exactly once."""
    args = parse_args(argv)
    limits = Limits(page_timeout=args.page_timeout, budget=args.budget)
    info = machine_info()
    log(
        f"{args.objects:,} indicators, limit={args.limit}; python {info['python']}, "
        f"{info['cpus']} CPUs, load {info['load_average'][0]:.2f}"
    )
    results: dict[str, Result] = {}
    workdir = Path(tempfile.mkdtemp(prefix="medisac-taxii-bench-"))
    try:
        for name in args.servers:
            results[name] = run_server(name, workdir, args.objects, args.limit, limits)
    finally:
        if args.keep_workdir:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    ordered = [results[name] for name in args.servers]
    summary = ratio_summary(results)
    print(markdown_table(ordered))
    print()
    print(ratio_line(summary))
    _write_json(args, info, ordered, summary)
    return 0 if all(r.exactly_once for r in ordered) else 1


def _write_json(
    args: argparse.Namespace,
    info: dict[str, Any],
    results: list[Result],
    summary: dict[str, Any],
) -> None:
    records = []
    for r in results:
        record = asdict(r)
        record.update(
            exactly_once=r.exactly_once,
            objects_per_second=r.objects_per_second,
            p50_ms=r.latency_ms(50),
            p99_ms=r.latency_ms(99),
        )
        records.append(record)
    document = {
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "objects": args.objects,
        "limit": args.limit,
        "page_timeout": args.page_timeout,
        "budget": args.budget,
        "machine": info,
        "results": records,
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
