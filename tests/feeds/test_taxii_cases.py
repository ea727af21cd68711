"""The TAXII client hard cases B14 and B16, replayed by a scripted server.

Each case script lists the requests the client must send, run by run, and the
replies; the server fails any other request. The stored-domain expectations
run through ``pull_and_ingest`` into a store on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from medisac.feeds import TaxiiCursor, TaxiiFeed, TaxiiIngest, pull, pull_and_ingest
from tests.conftest import Store
from tests.feeds.conftest import StartServer
from tests.feeds.helpers import provenance_counts, stored_values
from tests.feeds.mock_taxii import MockTaxiiServer, script_from_case

CURSOR_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
OBJECTS_PATH = "/api1/collections/9f1c2a64-5d0e-4b3a-9c7e-1f2d3e4a5b6c/objects/"


def load_case(cases_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((cases_dir / name).read_text("utf-8"))
    return data


def start_case(
    case: dict[str, Any], mock_taxii: StartServer
) -> tuple[MockTaxiiServer, TaxiiFeed]:
    server = mock_taxii(*script_from_case(case))
    settings = case.get("client_settings", {})
    feed = TaxiiFeed(
        case["collection_url"].format(port=server.port),
        page_size=settings.get("limit"),
    )
    return server, feed


def run_feed(
    server: MockTaxiiServer,
    store: Store,
    feed: TaxiiFeed,
    cursor: TaxiiCursor,
    run: int,
) -> TaxiiIngest:
    """Run the feed once as run ``run`` and check the script was followed."""
    server.run = run
    result = pull_and_ingest(store.engine, feed, "taxii-case-feed", cursor)
    assert server.failures == []
    assert server.unanswered(run) == [], "the client skipped expected requests"
    assert result.error is None
    assert result.cursor.added_after is not None
    assert CURSOR_FORM.match(result.cursor.added_after)
    return result


def domains(store: Store) -> set[str]:
    return {value for kind, value in stored_values(store.engine) if kind == "domain"}


def feed_items(*numbers: int) -> set[str]:
    return {f"feed-item-{n:03d}.example.org" for n in numbers}


def test_b14_pages_repeat_original_filters(
    store: Store, cases_dir: Path, mock_taxii: StartServer
) -> None:
    case = load_case(cases_dir, "B14-taxii-next-keeps-filters.json")
    server, feed = start_case(case, mock_taxii)
    cursor = TaxiiCursor(case["client_state_before"]["added_after"])

    first = run_feed(server, store, feed, cursor, run=1)
    # 1. Three requests in order; pages 2 and 3 keep added_after and limit.
    start = "2024-06-01T00:00:00.000000Z"
    assert [(r.path, r.query) for r in server.requests_of(1)] == [
        (OBJECTS_PATH, {"added_after": start, "limit": "2"}),
        (OBJECTS_PATH, {"added_after": start, "limit": "2", "next": "b14-page-2"}),
        (OBJECTS_PATH, {"added_after": start, "limit": "2", "next": "b14-page-3"}),
    ]
    # 3. Five domains stored; cursor from the last page's header.
    assert domains(store) == feed_items(1, 2, 3, 4, 5)
    assert first.cursor == TaxiiCursor("2024-06-01T00:00:05.000005Z")
    assert first.pages == 3

    second = run_feed(server, store, feed, first.cursor, run=2)
    # 4. One request from the new cursor without next; nothing stored.
    assert [r.query for r in server.requests_of(2)] == [
        {"added_after": "2024-06-01T00:00:05.000005Z", "limit": "2"}
    ]
    assert second.cursor == first.cursor
    assert second.summary.merge.new == 0
    assert second.summary.merge.updated == 0
    assert domains(store) == feed_items(1, 2, 3, 4, 5)

    # 2. Nothing forbidden was sent (run_feed checked failures after each run).
    assert server.failures == []
    # 5. Both runs succeed, with counts 5 and 0.
    assert first.summary.complete
    assert first.summary.merge.new == 5
    assert second.summary.complete
    assert second.summary.inputs == 0
    assert second.cursor.added_after == case["client_state_after"]["added_after"]
    assert set(provenance_counts(store.engine, "taxii-case-feed").values()) == {1}


def test_b14_pull_without_store(cases_dir: Path, mock_taxii: StartServer) -> None:
    case = load_case(cases_dir, "B14-taxii-next-keeps-filters.json")
    server, feed = start_case(case, mock_taxii)

    result = pull(feed, TaxiiCursor(case["client_state_before"]["added_after"]))

    assert server.failures == []
    assert result.pages == 3
    assert [item["name"] for item in result.objects] == [
        f"taxii-{n}" for n in range(1, 6)
    ]
    assert result.cursor == TaxiiCursor("2024-06-01T00:00:05.000005Z")
    assert result.warnings == []


def test_b16_cursor_keeps_microseconds(
    store: Store,
    cases_dir: Path,
    mock_taxii: StartServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = load_case(cases_dir, "B16-taxii-date-added-precision.json")
    server, feed = start_case(case, mock_taxii)
    kept = "2025-02-13T19:41:56.302472Z"
    caplog.set_level(logging.WARNING, logger="medisac")

    first = run_feed(server, store, feed, TaxiiCursor("2025-02-13T00:00:00.000000Z"), 1)
    # 1. Two domains, and the header's microseconds in the cursor.
    assert domains(store) == feed_items(21, 22)
    assert first.cursor.added_after == kept

    second = run_feed(server, store, feed, first.cursor, run=2)
    # 2. Microseconds sent back; the empty envelope is a normal empty result.
    assert [r.query for r in server.requests_of(2)] == [{"added_after": kept}]
    assert second.cursor.added_after == kept
    assert second.summary.complete
    assert second.summary.warnings == []
    assert feed_warnings(caplog) == []

    third = run_feed(server, store, feed, second.cursor, run=3)
    # 3. Stored, one warning naming the headers and values, cursor unchanged.
    assert domains(store) == feed_items(21, 22, 23)
    assert third.cursor.added_after == kept
    warnings = feed_warnings(caplog)
    assert len(warnings) == 1
    assert "X-TAXII-Date-Added-Last is 'undefined'" in warnings[0]
    date_string = "Thu Feb 13 2025 19:41:57 GMT+0000 (Coordinated Universal Time)"
    assert f"X-TAXII-Date-Added-First is '{date_string}'" in warnings[0]
    assert f"the cursor stays at {kept}" in warnings[0]
    assert third.summary.warnings == warnings
    assert third.cursor.added_after == case["client_state_after"]["added_after"]


def feed_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("medisac.feeds") and record.levelno >= logging.WARNING
    ]
