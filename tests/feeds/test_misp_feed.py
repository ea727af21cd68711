"""MISP feeds: only events that are new or changed since the last run are read.

The feed is built in a temporary folder from real MISP events of the corpus,
with a manifest in MISP's own layout, and read from the folder or from a
server on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medisac.errors import FeedError
from medisac.feeds.mispfeed import Manifest, changed_events, parse_manifest
from medisac.feeds.registry import FeedSpec, add_feed, get_feed
from medisac.feeds.runner import run_feed
from medisac.store.engine import begin_write
from tests.conftest import Store
from tests.feeds.feedserver import FeedServer, Route
from tests.feeds.helpers import provenance_counts

EVENTS = (
    "circl/57c4445b-c548-4654-af0b-4be3950d210f.json",
    "circl/existing_event.json",
    "circl/very_long_event.json",
)
LATER = "circl/sighting_1.json"


def add_event(corpus_dir: Path, folder: Path, name: str) -> tuple[str, dict[str, Any]]:
    """Copy a corpus event into the feed folder as ``<uuid>.json``."""
    source = corpus_dir / "misp/events" / name
    data = json.loads(source.read_text("utf-8"))
    event = data.get("Event", data)
    shutil.copyfile(source, folder / f"{event['uuid']}.json")
    summary = {"info": event["info"], "timestamp": event["timestamp"]}
    return event["uuid"], summary


def write_manifest(folder: Path, entries: dict[str, dict[str, Any]]) -> None:
    (folder / "manifest.json").write_text(json.dumps(entries), encoding="utf-8")


@pytest.fixture
def feed_folder(corpus_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "feed"
    folder.mkdir()
    write_manifest(folder, dict(add_event(corpus_dir, folder, e) for e in EVENTS))
    return folder


def register(store: Store, location: str) -> None:
    spec = FeedSpec(
        name="misp", location=location, format="misp-feed", options={"retries": 0}
    )
    with begin_write(store.engine) as conn:
        add_feed(conn, spec)


def known_events(store: Store) -> dict[str, str]:
    with store.engine.connect() as conn:
        events: dict[str, str] = get_feed(conn, "misp").fetch_state["events"]
    return events


def test_local_feed_reads_changes(
    store: Store, corpus_dir: Path, feed_folder: Path
) -> None:
    register(store, str(feed_folder))

    first = run_feed(store.engine, "misp")
    stored = provenance_counts(store.engine, "misp")
    second = run_feed(store.engine, "misp")

    assert first.outcome == "ok"
    assert first.new > 0
    assert len(known_events(store)) == len(EVENTS)
    assert second.outcome == "ok"
    assert (second.new, second.updated, second.unchanged) == (0, 0, 0)
    assert provenance_counts(store.engine, "misp") == stored

    manifest = json.loads((feed_folder / "manifest.json").read_text())
    changed = next(iter(manifest))
    manifest[changed]["timestamp"] = str(int(manifest[changed]["timestamp"]) + 60)
    uuid, entry = add_event(corpus_dir, feed_folder, LATER)
    manifest[uuid] = entry
    write_manifest(feed_folder, manifest)

    third = run_feed(store.engine, "misp")

    assert third.outcome == "ok"
    assert third.new > 0
    assert third.unchanged > 0
    assert known_events(store)[changed] == manifest[changed]["timestamp"]
    assert uuid in known_events(store)


def test_remote_feed_fetches_changes(
    store: Store, corpus_dir: Path, feed_folder: Path, feed_server: FeedServer
) -> None:
    def publish() -> None:
        for path in feed_folder.iterdir():
            feed_server.routes[f"/misp/{path.name}"] = Route(
                path.read_bytes(), content_type="application/json"
            )

    publish()
    register(store, feed_server.url("/misp/"))
    event_paths = sorted(p for p in feed_server.routes if p != "/misp/manifest.json")

    first = run_feed(store.engine, "misp")
    second = run_feed(store.engine, "misp")

    assert (first.outcome, second.outcome) == ("ok", "ok")
    assert [len(feed_server.requests_to(p)) for p in event_paths] == [1, 1, 1]
    assert len(feed_server.requests_to("/misp/manifest.json")) == 2

    manifest = json.loads((feed_folder / "manifest.json").read_text())
    changed = sorted(manifest)[0]
    manifest[changed]["timestamp"] = "1900000000"
    write_manifest(feed_folder, manifest)
    publish()
    third = run_feed(store.engine, "misp")

    assert third.outcome == "ok"
    assert len(feed_server.requests_to(f"/misp/{changed}.json")) == 2
    others = [p for p in event_paths if changed not in p]
    assert [len(feed_server.requests_to(p)) for p in others] == [1, 1]


def test_missing_event_retried(
    store: Store, feed_folder: Path, feed_server: FeedServer
) -> None:
    for path in feed_folder.iterdir():
        feed_server.routes[f"/misp/{path.name}"] = Route(path.read_bytes())
    lost = sorted(json.loads((feed_folder / "manifest.json").read_text()))[0]
    missing = feed_server.routes.pop(f"/misp/{lost}.json")
    register(store, feed_server.url("/misp/"))

    first = run_feed(store.engine, "misp")

    assert first.outcome == "partial"
    assert "HTTP 404" in (first.error or "")
    assert lost not in known_events(store)
    assert len(known_events(store)) == len(EVENTS) - 1

    feed_server.routes[f"/misp/{lost}.json"] = missing
    second = run_feed(store.engine, "misp")

    assert second.outcome == "ok"
    assert second.new > 0
    assert lost in known_events(store)


def test_listed_manifest_layout() -> None:
    data = [
        {
            "filename": "feed/events/misp_event_00aa.json",
            "uuid": "aeb51e3b-09d9-4f8d-b2b1-2e7091c22bb4",
            "info": "one",
            "md5": "523a31e3196b7fdb7b46c46f80e7552f",
        }
    ]

    manifest = parse_manifest("manifest.json", "base/", data)

    assert [(e.filename, e.version) for e in manifest.events] == [
        ("misp_event_00aa.json", "523a31e3196b7fdb7b46c46f80e7552f")
    ]


@pytest.mark.parametrize(
    "data",
    [
        [
            {
                "filename": "../../etc/passwd",
                "uuid": "aeb51e3b-09d9-4f8d-b2b1-2e7091c22bb4",
            }
        ],
        [{"info": "no uuid"}],
        {"not-a-uuid": {}},
        "text",
    ],
)
def test_bad_manifest_rejected(data: Any) -> None:
    with pytest.raises(FeedError):
        parse_manifest("manifest.json", "base/", data)


versions = st.dictionaries(
    st.uuids().map(str), st.integers(0, 2**40).map(str), max_size=20
)


@given(versions, versions)
def test_changed_events_property(old: dict[str, str], new: dict[str, str]) -> None:
    manifest = parse_manifest(
        "manifest.json", "", {uuid: {"timestamp": v} for uuid, v in new.items()}
    )

    changed = {event.uuid for event in changed_events(manifest, old)}

    assert changed == {uuid for uuid, v in new.items() if old.get(uuid) != v}
    assert isinstance(manifest, Manifest)
