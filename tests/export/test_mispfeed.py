"""MISP feed exports, loaded back by PyMISP and by medisac's own MISP reader."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pymisp import MISPEvent

from medisac.enrich.marks import find_indicator, mark_false_positive
from medisac.export.mispfeed import HASHES_FILE, MANIFEST_FILE, write_misp_feed
from medisac.export.select import ExportFilter
from medisac.model import TLP, IndicatorType
from medisac.store.engine import begin_write
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text, records

HOSTILE_FILENAMES = [
    'quote"and\\backslash.exe',
    "=cmd|' /C calc'!A0.xlsx",
    "semi;colon'quote.js",
    "klinik-münchen-befund.pdf",
    "pipe|inside.bin",
    "x" * 200 + ".exe",
]


def export_feed(store: Store, directory: Path, **filters: object) -> int:
    selection = ExportFilter(tlp=TLP.RED, **filters)  # type: ignore[arg-type]
    with store.engine.connect() as conn:
        return write_misp_feed(conn, selection, directory)


def load_events(directory: Path) -> dict[str, MISPEvent]:
    """Load every event the manifest lists with PyMISP; fail on any problem."""
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    events = {}
    for event_uuid, entry in manifest.items():
        event = MISPEvent()
        event.load_file(str(directory / f"{event_uuid}.json"))
        assert event.uuid == event_uuid
        assert event.info == entry["info"]
        assert int(event.timestamp.timestamp()) == entry["timestamp"]
        events[event_uuid] = event
    return events


def load_mixed_event(store: Store, tmp_path: Path) -> None:
    attributes = [
        ("ip-dst", "198.51.100.90", True),
        ("ip-dst", "2001:db8::90", True),
        ("ip-dst", "203.0.113.0/24", True),
        ("domain", "misp.example.org", True),
        ("url", "http://misp.example.org/a?b=1&c='x'", True),
        ("email-src", "phish@example.org", True),
        ("md5", "7a" * 16, True),
        ("sha256", "5b" * 32, True),
        ("domain", "context-only.example.org", False),
        *(("filename", name, True) for name in HOSTILE_FILENAMES),
    ]
    event = {
        "Event": {
            "uuid": "5a1b2c3d-0000-4000-8000-0000000000ab",
            "info": "mixed",
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [
                {"type": kind, "value": value, "to_ids": to_ids}
                for kind, value, to_ids in attributes
            ],
        }
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    ingest_paths(store.engine, [path], fmt="misp", source="mixed")


def test_pymisp_loads_every_event(store: Store, tmp_path: Path) -> None:
    load_mixed_event(store, tmp_path)
    feed = tmp_path / "feed"
    count = export_feed(store, feed)
    events = load_events(feed)

    values = {
        attribute.value: attribute
        for event in events.values()
        for attribute in event.attributes
    }
    assert count == len(records(store.engine))
    assert len(values) == count
    stored_names = {
        value for kind, value in records(store.engine) if kind == "filename"
    }
    assert stored_names == set(HOSTILE_FILENAMES)
    for name in stored_names:
        assert values[name].type == "filename"
    assert values["198.51.100.90"].type == "ip-dst"
    assert values["203.0.113.0/24"].type == "ip-dst"
    assert values["phish@example.org"].type == "email-src"
    assert values["context-only.example.org"].to_ids is False
    assert values["misp.example.org"].to_ids is True
    for event in events.values():
        assert [tag.name for tag in event.tags] == ["tlp:green"]
        assert event.distribution == 1


def test_hashes_csv_lists_each_value(store: Store, tmp_path: Path) -> None:
    load_mixed_event(store, tmp_path)
    feed = tmp_path / "feed"
    export_feed(store, feed)
    events = load_events(feed)

    expected = {
        f"{digest},{event.uuid}"
        for event in events.values()
        for attribute in event.attributes
        for digest in attribute.hash_values("md5")
    }
    lines = (feed / HASHES_FILE).read_text().splitlines()
    assert len(lines) == len(expected)
    assert set(lines) == expected


def test_feed_reingests_into_same_records(store: Store, tmp_path: Path) -> None:
    load_mixed_event(store, tmp_path)
    feed = tmp_path / "feed"
    export_feed(store, feed)
    before = records(store.engine)
    summary = ingest_paths(store.engine, [feed], fmt=None, source="round-trip")
    assert records(store.engine) == before
    assert summary.values == len(before)
    assert summary.rejected == 0


def test_ids_stable_across_exports(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "198.51.100.91\nstable.example.org\n")
    first = tmp_path / "first"
    second = tmp_path / "second"
    export_feed(store, first)
    export_feed(store, second)
    first_events = load_events(first)
    second_events = load_events(second)
    assert first_events.keys() == second_events.keys()
    for event_uuid, event in first_events.items():
        first_ids = {attribute.uuid for attribute in event.attributes}
        second_ids = {a.uuid for a in second_events[event_uuid].attributes}
        assert first_ids == second_ids


def test_withdrawn_value_marked_deleted(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "198.51.100.92\n198.51.100.93\n")
    feed = tmp_path / "feed"
    export_feed(store, feed)
    before = load_events(feed)
    with begin_write(store.engine) as conn:
        indicator_id = find_indicator(conn, IndicatorType.IPV4, "198.51.100.92")
        mark_false_positive(conn, indicator_id)
    export_feed(store, feed)
    after = load_events(feed)

    attributes = {a.value: a for e in after.values() for a in e.attributes}
    assert attributes["198.51.100.92"].deleted is True
    assert attributes["198.51.100.92"].to_ids is False
    assert attributes["198.51.100.93"].deleted is False
    (event_uuid,) = after
    assert after[event_uuid].timestamp >= before[event_uuid].timestamp
    hashed = (feed / HASHES_FILE).read_text()
    assert hashlib.md5(b"198.51.100.92").hexdigest() not in hashed
    assert hashlib.md5(b"198.51.100.93").hexdigest() in hashed


def test_withdrawn_left_out_after_window(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "198.51.100.94\n")
    with begin_write(store.engine) as conn:
        indicator_id = find_indicator(conn, IndicatorType.IPV4, "198.51.100.94")
        mark_false_positive(conn, indicator_id)
    feed = tmp_path / "feed"
    with store.engine.connect() as conn:
        count = write_misp_feed(conn, ExportFilter(tlp=TLP.RED), feed, withdrawn_days=0)
    assert count == 0
    assert json.loads((feed / MANIFEST_FILE).read_text()) == {}


def test_old_event_files_removed(store: Store, tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    stale = feed / "0b7a7d3e-1111-4222-8333-444455556666.json"
    stale.write_text("{}")
    unrelated = feed / "notes.json"
    unrelated.write_text("{}")
    ingest_text(store.engine, tmp_path, "198.51.100.95\n")
    export_feed(store, feed)
    assert not stale.exists()
    assert unrelated.exists()


@pytest.mark.parametrize("level", ["clear", "amber"])
def test_event_distribution_follows_tlp(
    store: Store, tmp_path: Path, level: str
) -> None:
    ingest_text(store.engine, tmp_path, "198.51.100.96\n", tlp=TLP.parse(level))
    feed = tmp_path / "feed"
    export_feed(store, feed)
    (event,) = load_events(feed).values()
    assert [tag.name for tag in event.tags] == [f"tlp:{level}"]
    assert event.distribution == (3 if level == "clear" else 0)
