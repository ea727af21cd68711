"""The feed registry: settings, durations, credentials, and the run lock."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medisac.errors import ConfigError
from medisac.feeds.guard import feed_lock
from medisac.feeds.registry import (
    MIN_INTERVAL_SECONDS,
    Credentials,
    FeedSpec,
    add_feed,
    check_reliability,
    format_duration,
    get_feed,
    kind_of,
    list_feeds,
    parse_duration,
    remove_feed,
    set_enabled,
)
from medisac.feeds.runner import due_feeds, run_feed
from medisac.model.time import now_us
from medisac.settings import Secret
from medisac.store.engine import begin_write
from tests.conftest import Store
from tests.helpers import ingest_text, provenance_of


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("1h", 3600), ("1d", 86400), ("2W", 1_209_600), ("90", 90)],
)
def test_duration_units(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "1y", "-5m", "1.5h", "10s", "1 hour"])
def test_duration_invalid(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


@given(st.integers(min_value=MIN_INTERVAL_SECONDS, max_value=10**8))
def test_duration_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("grade", ["a", "B", " f "])
def test_reliability_grades(grade: str) -> None:
    assert check_reliability(grade) == grade.strip().upper()


@pytest.mark.parametrize("grade", ["G", "AB", "", "1"])
def test_reliability_invalid(grade: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_reliability(grade)
    assert "Admiralty" in str(error.value)


def test_kind_from_location() -> None:
    assert kind_of("https://example.org/list.txt", "plain") == "http"
    assert kind_of("HTTP://example.org/list.txt", None) == "http"
    assert kind_of("https://example.org/taxii/c/", "taxii") == "taxii"
    assert kind_of("/srv/feeds/misp", "misp-feed") == "misp-feed"
    assert kind_of("/srv/feeds/list.txt", None) == "file"


def test_credentials_round_trip() -> None:
    token = Credentials(token=Secret("t0ken"))
    basic = Credentials(username="reader", password=Secret("pa55"))

    assert Credentials.from_json(token.to_json()) == token
    assert Credentials.from_json(basic.to_json()) == basic
    assert Credentials.from_json(None).empty
    assert token.summary() == "token set"
    assert basic.summary() == "user reader, password set"
    assert "t0ken" not in repr(token)
    assert "pa55" not in repr(basic)
    with pytest.raises(ConfigError):
        Credentials(token=Secret("a"), password=Secret("b"))
    with pytest.raises(ConfigError):
        Credentials(username="reader")


def test_add_list_remove(store: Store, tmp_path: Path) -> None:
    spec = FeedSpec(
        name="local",
        location=str(tmp_path / "list.txt"),
        format="plain",
        every_seconds=3600,
        reliability="b",
    )
    with begin_write(store.engine) as conn:
        add_feed(conn, spec)
        with pytest.raises(ConfigError) as duplicate:
            add_feed(conn, spec)
        set_enabled(conn, "local", False)
        feed = get_feed(conn, "local")
    assert "already exists" in str(duplicate.value)
    assert (feed.kind, feed.reliability, feed.enabled) == ("file", "B", False)

    with begin_write(store.engine) as conn:
        remove_feed(conn, "local")
        assert list_feeds(conn) == []
        with pytest.raises(ConfigError) as missing:
            get_feed(conn, "local")
    assert "no feed named 'local'" in str(missing.value)


@pytest.mark.parametrize(
    "spec",
    [
        FeedSpec(name="bad name", location="/x"),
        FeedSpec(name="x", location="/x", format="yaml"),
        FeedSpec(name="x", location="/x", confidence=101),
        FeedSpec(name="x", location="/srv/x", format="taxii"),
        FeedSpec(name="x", location="/x", credentials=Credentials(token=Secret("t"))),
        FeedSpec(name="x", location="https://user:pw@example.org/list.txt"),
        FeedSpec(name="x", location="https://example.org/c/?limit=5", format="taxii"),
        FeedSpec(name="x", location="https://example.org/list.txt#top"),
    ],
)
def test_invalid_specs(store: Store, spec: FeedSpec) -> None:
    with begin_write(store.engine) as conn, pytest.raises(ConfigError):
        add_feed(conn, spec)


def test_http_url_keeps_query(store: Store) -> None:
    url = "https://example.org/blocklist/?download=ipblocklist"
    with begin_write(store.engine) as conn:
        add_feed(conn, FeedSpec(name="query", location=url))
        feed = get_feed(conn, "query")

    assert (feed.kind, feed.location) == ("http", url)


def test_feed_adopts_ingest_source(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "198.51.100.40\n", source="shared")
    with begin_write(store.engine) as conn:
        add_feed(conn, FeedSpec(name="shared", location=str(tmp_path / "input.txt")))

    run = run_feed(store.engine, "shared")

    assert run.outcome == "ok"
    assert run.unchanged == 1
    assert list(provenance_of(store.engine, "ipv4", "198.51.100.40")) == ["shared"]


def test_due_feeds(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("198.51.100.41\n")
    with begin_write(store.engine) as conn:
        add_feed(conn, FeedSpec(name="hourly", location=str(path), every_seconds=3600))
        add_feed(conn, FeedSpec(name="manual", location=str(path)))
        add_feed(
            conn,
            FeedSpec(name="off", location=str(path), every_seconds=60, enabled=False),
        )

    assert due_feeds(store.engine) == ["hourly"]
    run_feed(store.engine, "hourly")
    assert due_feeds(store.engine) == []
    assert due_feeds(store.engine, now_us() + 3601 * 1_000_000) == ["hourly"]


LOCK_PROBE = """
import sys
from medisac.feeds.guard import feed_lock
from medisac.store.engine import create_engine
engine = create_engine(sys.argv[1])
with feed_lock(engine, int(sys.argv[2])) as held:
    print(held)
"""


def test_lock_excludes_second_run(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("198.51.100.42\n")
    with begin_write(store.engine) as conn:
        feed_id = add_feed(conn, FeedSpec(name="locked", location=str(path)))

    with feed_lock(store.engine, feed_id) as held:
        assert held
        busy = run_feed(store.engine, "locked")
        # Another process meets the store's own lock (flock or advisory lock).
        probe = subprocess.run(
            [sys.executable, "-c", LOCK_PROBE, store.url, str(feed_id)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.strip() == "False"
    free = run_feed(store.engine, "locked")

    assert busy.outcome == "busy"
    assert free.outcome == "ok"


def test_lock_released_after_error(store: Store) -> None:
    with begin_write(store.engine) as conn:
        feed_id = add_feed(conn, FeedSpec(name="x", location="/nonexistent/list.txt"))
    results: list[bool] = []

    def take() -> None:
        with feed_lock(store.engine, feed_id) as held:
            results.append(held)

    run = run_feed(store.engine, "x")
    worker = threading.Thread(target=take)
    worker.start()
    worker.join()

    assert run.outcome == "failed"
    assert "no such file" in (run.error or "")
    assert results == [True]
