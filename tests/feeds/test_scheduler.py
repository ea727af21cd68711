"""The scheduler inside ``medisac serve`` runs due feeds in the background."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from medisac.feeds.registry import FeedSpec, add_feed, get_feed, last_runs
from medisac.feeds.scheduler import FeedScheduler, _expire_function
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store.engine import begin_write
from tests.conftest import Store
from tests.feeds.feedserver import FeedServer, Route
from tests.helpers import record


def wait_for_run(store: Store, name: str, count: int = 1) -> None:
    deadline = time.monotonic() + 20
    while True:
        with store.engine.connect() as conn:
            runs = last_runs(conn, get_feed(conn, name).id, count)
        if len(runs) >= count:
            return
        assert time.monotonic() < deadline, f"feed {name} did not run within 20 s"
        time.sleep(0.05)


def add_hourly(store: Store, name: str, location: str) -> None:
    spec = FeedSpec(
        name=name,
        location=location,
        format="plain",
        every_seconds=3600,
        options={"retries": 0, "timeout": 5.0},
    )
    with begin_write(store.engine) as conn:
        add_feed(conn, spec)


def test_scheduler_runs_due_feed(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("198.51.100.50\n198.51.100.51\n")
    add_hourly(store, "hourly", str(path))
    scheduler = FeedScheduler(store.engine, poll_seconds=3600)

    scheduler.start()
    try:
        wait_for_run(store, "hourly")
        # Ran once; no longer due, so a poll starts nothing.
        assert scheduler.poll() == []
    finally:
        scheduler.shutdown(wait=True)

    assert record(store.engine, "ipv4", "198.51.100.51") is not None


def test_slow_feed_not_started_twice(
    store: Store, feed_server: FeedServer, tmp_path: Path
) -> None:
    # The hanging feed is still running when the next poll comes.
    feed_server.routes["/slow"] = Route(hang=True)
    add_hourly(store, "slow", feed_server.url("/slow"))
    scheduler = FeedScheduler(store.engine, poll_seconds=3600)

    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while not feed_server.requests_to("/slow"):
            assert time.monotonic() < deadline, "the first poll did not run the feed"
            time.sleep(0.02)
        again = scheduler.poll()
    finally:
        feed_server.release.set()
        scheduler.shutdown(wait=True)

    assert again == []
    assert len(feed_server.requests_to("/slow")) == 1


def test_serve_lifespan_starts_scheduler(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("198.51.100.52\n")
    add_hourly(store, "hourly", str(path))
    app = create_app(store.engine, Settings(db=store.url), run_feeds=True)

    with TestClient(app) as client:
        wait_for_run(store, "hourly")
        # Requests are served while feeds run in their own threads.
        assert client.get("/taxii2/").status_code in (200, 401)
    assert threading.active_count() < 50


def test_serve_without_scheduler(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("198.51.100.53\n")
    add_hourly(store, "hourly", str(path))
    app = create_app(store.engine, Settings(db=store.url))

    with TestClient(app):
        time.sleep(0.3)

    with store.engine.connect() as conn:
        assert last_runs(conn, get_feed(conn, "hourly").id) == []


def test_expire_function_found() -> None:
    expire = _expire_function()

    assert expire is not None
    assert expire.__name__ == "expire_due"
