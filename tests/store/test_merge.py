"""Merging values into one record per (type, value), with provenance."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import sqlalchemy as sa

from medisac.model import TLP
from medisac.store.merge import stale_digests
from medisac.store.tables import stix_objects
from medisac.store.views import indicator_view, render_body
from tests.conftest import Store
from tests.helpers import dump, ingest_text, provenance_of, record, records


def test_defanged_and_plain_merge(store: Store, tmp_path: Path) -> None:
    summary = ingest_text(
        store.engine,
        tmp_path,
        "evil-clinic.example.com\nevil-clinic[.]example[.]com\nEVIL-CLINIC.EXAMPLE.COM.\n",
    )
    assert summary.merge.new == 1
    assert records(store.engine) == {("domain", "evil-clinic.example.com")}
    prov = provenance_of(store.engine, "domain", "evil-clinic.example.com")
    assert prov["test"].observations == 3


def test_reingest_changes_nothing(store: Store, tmp_path: Path) -> None:
    text = "198.51.100.7\nhxxp://bad.example.org/x\nd41d8cd98f00b204e9800998ecf8427e\n"
    first = ingest_text(store.engine, tmp_path, text)
    before = dump(store.engine)
    second = ingest_text(store.engine, tmp_path, text)
    assert first.merge.new == 3
    assert second.merge.new == 0
    assert second.merge.updated == 0
    assert second.merge.unchanged == 3
    assert dump(store.engine) == before


def test_provenance_per_source(store: Store, tmp_path: Path) -> None:
    ingest_text(
        store.engine,
        tmp_path,
        "203.0.113.9\n",
        source="a",
        tlp=TLP.CLEAR,
        confidence=40,
    )
    ingest_text(
        store.engine,
        tmp_path,
        "203.0.113.9\n",
        source="b",
        tlp=TLP.AMBER,
        confidence=80,
    )
    prov = provenance_of(store.engine, "ipv4", "203.0.113.9")
    assert set(prov) == {"a", "b"}
    assert prov["a"].confidence == 40
    assert prov["a"].tlp == TLP.CLEAR
    assert prov["b"].tlp == TLP.AMBER
    row = record(store.engine, "ipv4", "203.0.113.9")
    assert row.tlp == TLP.AMBER  # the most restrictive of its sources
    # Two independent sources graded C (weight 0.8): 1 - (1 - 0.32)(1 - 0.64).
    assert row.confidence == 76


def test_new_source_adds_a_version(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "203.0.113.10\n", source="a", confidence=40)
    ingest_text(store.engine, tmp_path, "203.0.113.10\n", source="b", confidence=90)
    row = record(store.engine, "ipv4", "203.0.113.10")
    with store.engine.connect() as conn:
        versions = conn.execute(
            sa.select(
                stix_objects.c.modified, stix_objects.c.is_latest, stix_objects.c.body
            )
            .where(stix_objects.c.stix_id == row.stix_id)
            .order_by(stix_objects.c.seq)
        ).all()
    assert len(versions) == 2
    assert [v.is_latest for v in versions] == [False, True]
    assert versions[0].modified < versions[1].modified
    # The replaced version keeps its body; the latest renders from the row.
    assert versions[1].body is None
    first = orjson.loads(versions[0].body)
    assert first["id"] == row.stix_id
    # One source graded C (weight 0.8), then a second: 1 - (1 - 0.32)(1 - 0.72).
    assert first["confidence"] == 32
    latest = orjson.loads(render_body(indicator_view(row)))
    assert latest["confidence"] == 81
    assert latest["modified"] > first["modified"]


def test_date_added_unique_and_ordered(store: Store, tmp_path: Path) -> None:
    lines = "".join(f"host-{i}.example.net\n" for i in range(50))
    ingest_text(store.engine, tmp_path, lines)
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(stix_objects.c.seq, stix_objects.c.date_added).order_by(
                stix_objects.c.seq
            )
        ).all()
    added = [row.date_added for row in rows]
    assert added == sorted(added)
    assert len(set(added)) == len(added)


def test_stix_versions_latest_wins(store: Store, tmp_path: Path) -> None:
    def indicator(
        modified: str, value: str, revoked: bool = False
    ) -> dict[str, object]:
        return {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--6f0e2bb1-3cde-4f83-9a08-5f5f1f3a3c11",
            "created": "2024-05-01T00:00:00.000Z",
            "modified": modified,
            "pattern": f"[domain-name:value = '{value}']",
            "pattern_type": "stix",
            "valid_from": "2024-05-01T00:00:00.000Z",
            "revoked": revoked,
        }

    def bundle(*objects: dict[str, object]) -> str:
        return json.dumps(
            {"type": "bundle", "id": "bundle--1", "objects": list(objects)}
        )

    ingest_text(
        store.engine,
        tmp_path,
        bundle(indicator("2024-05-01T00:00:00.000Z", "old.example.org")),
        fmt="stix",
        name="v1.json",
    )
    assert record(store.engine, "domain", "old.example.org").state == "active"
    ingest_text(
        store.engine,
        tmp_path,
        bundle(indicator("2024-05-02T00:00:00.000Z", "new.example.org")),
        fmt="stix",
        name="v2.json",
    )
    # The newer version of the same source object replaces the old value.
    assert record(store.engine, "domain", "old.example.org").state == "expired"
    assert record(store.engine, "domain", "new.example.org").state == "active"
    # An older version arriving late changes nothing.
    late = ingest_text(
        store.engine,
        tmp_path,
        bundle(indicator("2024-05-01T00:00:00.000Z", "old.example.org")),
        fmt="stix",
        name="v1again.json",
    )
    assert late.merge.superseded == 1
    assert record(store.engine, "domain", "old.example.org").state == "expired"
    ingest_text(
        store.engine,
        tmp_path,
        bundle(indicator("2024-05-03T00:00:00.000Z", "new.example.org", revoked=True)),
        fmt="stix",
        name="v3.json",
    )
    assert record(store.engine, "domain", "new.example.org").state == "expired"


def test_digests_follow_provenance(store: Store, tmp_path: Path) -> None:
    ingest_text(
        store.engine, tmp_path, "198.51.100.60\nfresh.example.org\n", source="a"
    )
    ingest_text(
        store.engine,
        tmp_path,
        "198.51.100.60\nother.example.org\n",
        source="b",
        tlp=TLP.AMBER,
    )
    with store.engine.connect() as conn:
        assert stale_digests(conn) == []
