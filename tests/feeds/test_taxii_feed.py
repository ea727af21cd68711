"""TAXII feeds run by the feed runner: the cursor in the store, health, resuming.

The hard case B14 runs as a registered feed twice. A second store pulls the
indicator collection of a real ``medisac serve`` (a child process on
127.0.0.1) a few pages per run, and after the runs contains exactly the
upstream's indicators.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from medisac.feeds.registry import (
    Credentials,
    FeedSpec,
    add_feed,
    get_feed,
    last_runs,
    save_fetch_state,
)
from medisac.feeds.runner import run_feed
from medisac.ingest.pipeline import IngestRequest, ingest
from medisac.settings import Secret
from medisac.stix import STATIC_OBJECTS
from medisac.store.engine import begin_write, create_engine
from medisac.store.keys import create_key
from medisac.store.migrate import upgrade
from medisac.store.publish import publish_static
from medisac.taxii.collections import COLLECTIONS
from tests.conftest import Store
from tests.feeds.conftest import StartServer
from tests.feeds.helpers import provenance_counts, stored_values
from tests.feeds.mock_taxii import script_from_case
from tests.feeds.test_taxii_live import seed_lines

INDICATORS = next(c.id for c in COLLECTIONS if c.alias == "indicators")
PAGE_SIZE = 25


def add_taxii_feed(
    store: Store, name: str, url: str, cursor: str | None = None, **options: object
) -> int:
    with begin_write(store.engine) as conn:
        feed_id = add_feed(
            conn, FeedSpec(name=name, location=url, format="taxii", options=options)
        )
        if cursor is not None:
            save_fetch_state(conn, feed_id, {"added_after": cursor})
    return feed_id


def test_b14_as_feed(store: Store, cases_dir: Path, mock_taxii: StartServer) -> None:
    case = json.loads((cases_dir / "B14-taxii-next-keeps-filters.json").read_text())
    server = mock_taxii(*script_from_case(case))
    feed_id = add_taxii_feed(
        store,
        "b14",
        case["collection_url"].format(port=server.port),
        case["client_state_before"]["added_after"],
        page_size=case["client_settings"]["limit"],
    )

    first = run_feed(store.engine, "b14")
    server.run = 2
    second = run_feed(store.engine, "b14")

    assert server.failures == []
    assert server.unanswered(1) == []
    assert server.unanswered(2) == []
    assert (first.outcome, first.new) == ("ok", 5)
    assert (second.outcome, second.new, second.updated) == ("ok", 0, 0)
    with store.engine.connect() as conn:
        feed = get_feed(conn, "b14")
        runs = last_runs(conn, feed_id, 5)
    assert feed.fetch_state == case["client_state_after"]
    assert feed.last_success is not None
    # 5. Health shows both runs as successful, with counts 5 and 0.
    assert [(run.outcome, run.new) for run in runs] == [("ok", 0), ("ok", 5)]


def test_b16_cursor_in_store(
    store: Store, cases_dir: Path, mock_taxii: StartServer
) -> None:
    case = json.loads((cases_dir / "B16-taxii-date-added-precision.json").read_text())
    server = mock_taxii(*script_from_case(case))
    add_taxii_feed(
        store,
        "b16",
        case["collection_url"].format(port=server.port),
        case["client_state_before"]["added_after"],
    )

    outcomes = []
    for run in (1, 2, 3):
        server.run = run
        outcomes.append(run_feed(store.engine, "b16").outcome)

    assert server.failures == []
    assert outcomes == ["ok", "ok", "ok"]
    with store.engine.connect() as conn:
        state = get_feed(conn, "b16").fetch_state
    assert state == case["client_state_after"]


def test_failed_pull_keeps_cursor(store: Store, mock_taxii: StartServer) -> None:
    from tests.feeds.mock_taxii import Exchange, Reply

    path = "/api1/collections/c1/objects/"
    server = mock_taxii([Exchange(path, {"added_after": START}, Reply(status=503))])
    add_taxii_feed(
        store, "down", f"http://127.0.0.1:{server.port}/api1/collections/c1/", START
    )

    run = run_feed(store.engine, "down")

    assert run.outcome == "failed"
    assert "HTTP 503" in (run.error or "")
    with store.engine.connect() as conn:
        feed = get_feed(conn, "down")
    assert feed.fetch_state == {"added_after": START}
    assert feed.last_success is None


START = "2024-06-01T00:00:00.000000Z"


# -- a real medisac serve ---------------------------------------------------


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[str, str]:
    """A SQLite store seeded by ingest; return its URL and operator key."""
    url = f"sqlite:///{tmp_path / 'upstream.db'}"
    engine = create_engine(url)
    upgrade(engine)
    with begin_write(engine) as conn:
        publish_static(conn)
        key = create_key(conn, "operator", "read,submit,admin")
    seed = tmp_path / "seed.txt"
    seed.write_text("\n".join(seed_lines()) + "\n", encoding="utf-8")
    summary = ingest(engine, IngestRequest(inputs=(seed,), source="seed"))
    assert summary.complete, summary.rejections
    engine.dispose()
    return url, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(upstream: tuple[str, str], tmp_path: Path) -> Iterator[str]:
    """Run `medisac serve --no-scheduler` over the upstream store; yield its URL."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "MEDISAC_DB": upstream[0]}
    with log.open("w") as handle:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "medisac", "serve", "--no-scheduler"),
                *("--host", "127.0.0.1", "--port", str(port)),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    httpx.get(f"{base}/taxii2/", timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "serve did not start in 30 s"
                    time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_pull_from_serve_resumes(
    store: Store, upstream: tuple[str, str], served: str
) -> None:
    url, key = upstream
    expected = stored_values(create_engine(url))
    published = len(STATIC_OBJECTS) + len(expected)
    pages = math.ceil(published / PAGE_SIZE)
    per_run = math.ceil(pages / 2)
    with begin_write(store.engine) as conn:
        add_feed(
            conn,
            FeedSpec(
                name="upstream",
                location=f"{served}/taxii2/api/collections/{INDICATORS}/",
                format="taxii",
                credentials=Credentials(token=Secret(key)),
                options={"page_size": PAGE_SIZE, "max_pages": per_run},
            ),
        )

    first = run_feed(store.engine, "upstream")
    halfway = stored_values(store.engine)
    second = run_feed(store.engine, "upstream")
    third = run_feed(store.engine, "upstream")

    assert first.outcome == "ok"
    assert 0 < len(halfway) < len(expected)
    assert first.new == len(halfway)
    assert second.outcome == "ok"
    assert first.new + second.new == len(expected)
    assert stored_values(store.engine) == expected
    assert provenance_counts(store.engine, "upstream") == dict.fromkeys(expected, 1)
    # Nothing is left: the third run finds no object after the cursor.
    assert (third.new, third.updated, third.unchanged) == (0, 0, 0)
    with store.engine.connect() as conn:
        feed = get_feed(conn, "upstream")
    assert feed.fetch_state["added_after"] is not None
    assert feed.last_success is not None
