"""CSAF and KEV as feeds: HTTP on loopback and files, through the feed runner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from medisac.feeds.registry import FeedSpec, add_feed
from medisac.feeds.runner import run_feed
from medisac.store.engine import begin_write
from medisac.vulns.store import get_vulnerability
from tests.conftest import Store
from tests.feeds.feedserver import FeedServer, Route
from tests.vulns.support import KEV_CSV, branch_tree, csaf


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.stop()


def add(store: Store, name: str, location: str, fmt: str | None) -> None:
    spec = FeedSpec(
        name=name, location=location, format=fmt, options={"retries": 0, "timeout": 2.0}
    )
    with begin_write(store.engine) as conn:
        add_feed(conn, spec)


def test_csaf_feed_over_http(store: Store, feed_server: FeedServer) -> None:
    advisory = csaf(
        branch_tree("Example Devices", "Monitor M", {"P1": "vers:generic/<2.0"}),
        [{"cve": "CVE-2099-5000", "product_status": {"known_affected": ["P1"]}}],
        tracking_id="EXD-2099-01",
    )
    feed_server.routes["/advisory.json"] = Route(
        json.dumps(advisory).encode(), content_type="application/json"
    )
    add(store, "vendor-csaf", feed_server.url("/advisory.json"), "csaf")
    run = run_feed(store.engine, "vendor-csaf")
    assert run.error is None
    assert run.new == 1
    with store.engine.connect() as conn:
        record = get_vulnerability(conn, "CVE-2099-5000")
    assert record is not None
    assert [d.document for d in record.documents] == ["EXD-2099-01"]


def test_kev_csv_feed_detected(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "kev.csv"
    path.write_text(KEV_CSV, encoding="utf-8")
    add(store, "kev", str(path), None)
    run = run_feed(store.engine, "kev")
    assert run.error is None
    assert run.new == 1
    with store.engine.connect() as conn:
        record = get_vulnerability(conn, "CVE-2099-4000")
    assert record is not None
    assert record.kev is True
    assert record.ransomware is True
    assert record.description == "A flaw, with a comma."
    assert record.cwes == ("CWE-20", "CWE-79")
    assert record.references == ("https://example.com/a", "https://example.com/b")


def test_kev_feed_format_accepted(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "kev.csv"
    path.write_text(KEV_CSV, encoding="utf-8")
    add(store, "kev-named", str(path), "kev")
    run = run_feed(store.engine, "kev-named")
    assert run.error is None
    assert run.new == 1
