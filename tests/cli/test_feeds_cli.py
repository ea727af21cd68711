"""``medisac feeds`` as an operator uses it: output, secrets and exit codes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medisac.cli import main
from tests.cli.test_cli import medisac
from tests.conftest import Store
from tests.feeds.feedserver import FeedServer, Route
from tests.helpers import record

TOKEN = "tok-3f9a1c7e5b2d4a6f8e0c1b3d5f7a9e2c"
PASSWORD = "pw-8d6b4f2a0e9c7a5b3d1f"
GOOD_FILE = "indicators/text/amnesty/uzbekistan_ips.txt"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.stop()


@dataclass
class Outcome:
    """What one in-process command run printed, and its exit code."""

    returncode: int
    stdout: str
    stderr: str


def invoke(*args: str, db: str, env: dict[str, str] | None = None) -> Outcome:
    """Run ``medisac ARGS`` in this process, through the real entry point.

    Starting a child process costs about a second of imports, so only the
    tests of what a separate process does use :func:`medisac`.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    argv = sys.argv
    runner = CliRunner()
    code = 0
    settings = {"MEDISAC_DB": db, "COLUMNS": "200", **(env or {})}
    with runner.isolation(env=settings) as (out, err, _):
        sys.argv = ["medisac", *args]
        try:
            main.run()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.argv = argv
            root.handlers, root.level = handlers, level
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return Outcome(code, stdout, stderr)


def run_ok(*args: str, store: Store) -> str:
    result = invoke(*args, db=store.url)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_secrets_never_shown(
    store: Store, corpus_dir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/list.txt"] = Route((corpus_dir / GOOD_FILE).read_bytes())
    feed_server.routes["/denied"] = Route(b"denied", status=403)
    url = feed_server.url("/list.txt")
    run_ok(
        "feeds", "add", "bearer", url, "--token", TOKEN, "--retries", "0", store=store
    )
    run_ok(
        "feeds", "add", "basic", feed_server.url("/denied"),
        "--username", "reader", "--password", PASSWORD, "--retries", "0",
        store=store,
    )  # fmt: skip

    listed = run_ok("feeds", "list", store=store)
    shown = run_ok("feeds", "show", "bearer", store=store)
    shown_basic = run_ok("feeds", "show", "basic", store=store)
    ran = medisac("-vv", "feeds", "run", db=store.url)

    assert "token set" in listed
    assert "token set" in shown
    assert "user reader, password set" in shown_basic
    assert ran.returncode == 1
    assert "HTTP 403 Forbidden" in ran.stderr
    authorization = feed_server.requests_to("/list.txt")[0].headers["Authorization"]
    assert authorization == f"Bearer {TOKEN}"
    for text in (listed, shown, shown_basic, ran.stdout, ran.stderr):
        assert TOKEN not in text
        assert PASSWORD not in text


def test_run_exit_codes(
    store: Store, corpus_dir: Path, feed_server: FeedServer, tmp_path: Path
) -> None:
    feed_server.routes["/list.txt"] = Route((corpus_dir / GOOD_FILE).read_bytes())
    feed_server.routes["/broken"] = Route(b"oops", status=500)
    run_ok("feeds", "add", "good", feed_server.url("/list.txt"), store=store)
    run_ok(
        "feeds", "add", "broken", feed_server.url("/broken"), "--retries", "0",
        "--every", "1h",
        store=store,
    )  # fmt: skip

    both = invoke("feeds", "run", db=store.url)
    good = invoke("feeds", "run", "good", db=store.url)
    shown = run_ok("feeds", "show", "broken", store=store)

    assert both.returncode == 1
    assert "feed broken: failed:" in both.stderr
    assert "HTTP 500 Internal Server Error" in both.stderr
    assert "good" in both.stdout
    assert good.returncode == 0, good.stderr
    assert "not-modified" in good.stdout
    first_line = (corpus_dir / GOOD_FILE).read_text().split()[0]
    assert record(store.engine, "ipv4", first_line) is not None
    assert "failed" in shown
    assert "1h" in shown
    assert "never" in shown  # no successful run yet


def test_manage_feeds(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("198.51.100.60\n")
    run_ok("feeds", "add", "local", str(path), "--every", "15m", store=store)

    disabled = run_ok("feeds", "disable", "local", store=store)
    listed = run_ok("feeds", "list", store=store)
    nothing = run_ok("feeds", "run", store=store)
    enabled = run_ok("feeds", "enable", "local", store=store)
    ran = run_ok("feeds", "run", "--due", store=store)
    removed = run_ok("feeds", "remove", "local", store=store)
    unknown = invoke("feeds", "run", "local", db=store.url)
    bad_every = invoke("feeds", "add", "x", str(path), "--every", "5s", db=store.url)

    assert "disabled" in disabled
    assert "15m" in listed
    assert "no feed to run" in nothing
    assert "enabled" in enabled
    assert "local" in ran
    assert "removed" in removed
    assert unknown.returncode == 2
    assert "no feed named 'local'" in " ".join(unknown.stderr.split())
    assert bad_every.returncode == 2
    assert "shorter than 60 s" in " ".join(bad_every.stderr.split())
    # The values the feed brought stay after it is removed.
    assert record(store.engine, "ipv4", "198.51.100.60") is not None


def test_catalogue_and_enable(store: Store) -> None:
    listed = run_ok("feeds", "catalogue", store=store)
    enabled = run_ok("feeds", "enable", "tor-exit-nodes", store=store)
    kev = invoke("feeds", "enable", "cisa-kev", db=store.url)
    shown = run_ok("feeds", "show", "tor-exit-nodes", store=store)

    assert "urlhaus-online" in listed
    assert "(no parser)" not in listed
    assert "enabled" in enabled
    # The KEV catalogue is read as vulnerabilities, so its feed can be enabled.
    assert kev.returncode == 0, kev.stderr
    assert "https://check.torproject.org/torbulkexitlist" in shown


def test_stats_renders_quality(store: Store, tmp_path: Path) -> None:
    pytest.importorskip("medisac.store.quality")
    (tmp_path / "a.txt").write_text("198.51.100.61\n198.51.100.62\n")
    (tmp_path / "b.txt").write_text("198.51.100.61\n")
    run_ok("feeds", "add", "first", str(tmp_path / "a.txt"), store=store)
    run_ok("feeds", "add", "second", str(tmp_path / "b.txt"), store=store)
    run_ok("feeds", "run", "first", store=store)
    run_ok("feeds", "run", "second", store=store)

    stats = run_ok("feeds", "stats", store=store)

    rows = {
        cells[0]: cells[1:]
        for line in stats.splitlines()
        if len(cells := [c.strip() for c in line.split("│")[1:-1]]) == 5
    }
    assert rows["first"][:3] == ["2", "50%", "0%"]
    assert rows["second"][:3] == ["1", "0%", "0%"]
    # The first feed reported the shared value earlier, so its lead is negative.
    assert rows["first"][3].startswith("-")
    assert not rows["second"][3].startswith("-")
    assert rows["second"][3].endswith(" s")
