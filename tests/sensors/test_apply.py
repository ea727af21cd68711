"""Applying sensor batches to the store, exactly once, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from medisac.members.lookup import community_counts
from medisac.sensors.apply import BatchApplier, sensor_source_name
from medisac.sensors.batch import parse_batch
from medisac.store.tables import indicators, provenance, sources
from tests.conftest import Store


def _batch(batch_id: str, values: list[str], count: int = 2) -> object:
    return parse_batch(
        {
            "batch_id": batch_id,
            "sightings": [{"value": v, "count": count} for v in values],
        },
        org_id=None,
        key_id=1,
    )


def _sighted(store: Store, value: str) -> int:
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(indicators.c.id).where(indicators.c.value == value)
        ).one()
        return community_counts(conn, row.id).sightings


def test_batch_creates_indicators(store: Store) -> None:
    outcome = BatchApplier(store.engine).apply(
        _batch("b1", ["203.0.113.9", "bad.example.org"])
    )
    assert outcome.new_indicators == 2
    with store.engine.connect() as conn:
        stored = set(conn.execute(sa.select(indicators.c.value)).scalars())
    assert stored == {"203.0.113.9", "bad.example.org"}


def test_repeated_batch_counted_once(store: Store) -> None:
    applier = BatchApplier(store.engine)
    applier.apply(_batch("b1", ["bad.example.org"], count=3))
    again = applier.apply(_batch("b1", ["bad.example.org"], count=3))
    assert again.duplicate is True
    assert _sighted(store, "bad.example.org") == 3


def test_second_process_skips_batch(store: Store) -> None:
    BatchApplier(store.engine).apply(_batch("b1", ["bad.example.org"]))
    assert BatchApplier(store.engine).apply(_batch("b1", ["bad.example.org"])).duplicate


def test_known_values_add_counts(store: Store) -> None:
    applier = BatchApplier(store.engine)
    applier.apply(_batch("b1", ["bad.example.org"], count=2))
    outcome = applier.apply(_batch("b2", ["bad.example.org"], count=5))
    assert outcome.merged == 0
    assert _sighted(store, "bad.example.org") == 7


def test_sensor_source_claims_value(store: Store) -> None:
    BatchApplier(store.engine).apply(_batch("b1", ["bad.example.org"]))
    with store.engine.connect() as conn:
        names = (
            conn.execute(
                sa.select(sources.c.name).join(
                    provenance, provenance.c.source_id == sources.c.id
                )
            )
            .scalars()
            .all()
        )
    assert names == [sensor_source_name("key-1")]


def test_benign_value_not_published(store: Store) -> None:
    BatchApplier(store.engine).apply(_batch("b1", ["8.8.8.8"]))
    with store.engine.connect() as conn:
        benign = conn.execute(
            sa.select(indicators.c.benign).where(indicators.c.value == "8.8.8.8")
        ).scalar_one()
    assert benign is not None
