"""``medisac mark`` end to end: an analyst's decisions reach every feed."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from medisac.model import TLP
from medisac.store.tables import stix_objects
from tests.cli.test_allow_cli import exported, latest_active, medisac
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text, record

HOST = "versioned-host.example.org"


def versions(store: Store, stix_id: str) -> int:
    so = stix_objects.c
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(so.stix_id == stix_id)
            ).scalar_one()
        )


def _seed_b18(store: Store, cases_dir: Path) -> None:
    """Steps 1 and 2 of B18: the same file from two sources."""
    path = cases_dir / "B18-taxii-server-versions.txt"
    for source, confidence in (("b18a", 40), ("b18b", 80)):
        ingest_paths(
            store.engine,
            [path],
            source=source,
            fmt="plain",
            tlp=TLP.CLEAR,
            confidence=confidence,
        )


def test_b18_false_positive_leaves_feeds(store: Store, cases_dir: Path) -> None:
    _seed_b18(store, cases_dir)
    row = record(store.engine, "domain", HOST)
    before = versions(store, row.stix_id)
    assert HOST in exported(store)

    marked = medisac("mark", HOST, "--false-positive", store=store)
    assert marked.returncode == 0, marked.stderr
    assert "state false_positive" in marked.stdout
    row = record(store.engine, "domain", HOST)
    assert row.state == "false_positive"
    # A newer version of the same STIX id is published, and no feed serves it.
    assert versions(store, row.stix_id) == before + 1
    assert not latest_active(store, row.id)
    assert HOST not in exported(store)
    assert "203.0.113.118" in exported(store)

    # A source listing it again does not bring it back.
    _seed_b18(store, cases_dir)
    assert record(store.engine, "domain", HOST).state == "false_positive"
    assert HOST not in exported(store)

    reset = medisac("mark", HOST, "--benign-reset", store=store)
    assert reset.returncode == 0, reset.stderr
    assert record(store.engine, "domain", HOST).state == "active"
    assert HOST in exported(store)


def test_healthcare_override(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "203.0.113.50\n", source="feed")
    row = record(store.engine, "ipv4", "203.0.113.50")
    assert not row.healthcare

    marked = medisac("mark", "203.0.113.50", "--healthcare", "yes", store=store)
    assert marked.returncode == 0, marked.stderr
    row = record(store.engine, "ipv4", "203.0.113.50")
    assert row.analyst_healthcare is True
    assert row.healthcare
    so = stix_objects.c
    with store.engine.connect() as conn:
        latest = conn.execute(
            sa.select(so.healthcare).where(
                so.indicator_id == row.id, so.is_latest.is_(True)
            )
        ).scalar_one()
    assert latest

    auto = medisac("mark", "203.0.113.50", "--healthcare", "auto", store=store)
    assert auto.returncode == 0, auto.stderr
    row = record(store.engine, "ipv4", "203.0.113.50")
    assert row.analyst_healthcare is None
    assert not row.healthcare


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_mark_errors(store: Store) -> None:
    missing = medisac("mark", "absent.example.org", "--false-positive", store=store)
    assert missing.returncode == 1
    assert "not stored" in missing.stderr
    two = medisac(
        "mark",
        "absent.example.org",
        "--false-positive",
        "--healthcare",
        "no",
        store=store,
    )
    assert two.returncode == 2
    assert "exactly one of" in two.stderr
