"""Source quality figures over a fixed set of provenance rows, on both backends."""

from __future__ import annotations

from itertools import count

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.model import State
from medisac.store.engine import begin_write
from medisac.store.quality import SourceQuality, source_quality
from medisac.store.tables import indicators, provenance, sources
from tests.conftest import Store

HOUR = 3_600_000_000  # microseconds
_ids = count(1)


def _source(conn: Connection, name: str) -> int:
    return int(
        conn.execute(
            sa.insert(sources)
            .values(
                name=name,
                kind="file",
                reliability="B",
                default_tlp=1,
                default_confidence=50,
                created=0,
            )
            .returning(sources.c.id)
        ).scalar_one()
    )


def _value(
    conn: Connection,
    value: str,
    reports: dict[int, int],
    *,
    state: State = State.ACTIVE,
    benign: str | None = None,
) -> None:
    """Store one value and a provenance row per (source id, first_reported)."""
    indicator_id = next(_ids)
    conn.execute(
        sa.insert(indicators).values(
            id=indicator_id,
            type="domain",
            value=value,
            stix_id=f"indicator--{indicator_id:036d}",
            state=state.value,
            confidence=50,
            tlp=1,
            first_seen=0,
            last_seen=0,
            tags="[]",
            context="{}",
            sources="[]",
            healthcare=False,
            to_ids=True,
            benign=benign,
            created=0,
            modified=0,
            digest="0" * 32,
        )
    )
    for source_id, reported in reports.items():
        conn.execute(
            sa.insert(provenance).values(
                indicator_id=indicator_id,
                source_id=source_id,
                first_seen=reported,
                last_seen=reported,
                first_reported=reported,
                confidence=50,
                tlp=1,
            )
        )


@pytest.fixture
def figures(store: Store) -> dict[str, SourceQuality]:
    """Three sources: "early" reports first, "late" follows, "alone" shares nothing.

    early: a (t0), b (t0), c (t0), d (t0)           a, b, c shared with late
    late:  a (t0+1h), b (t0+3h), c (t0-1h), e (t0)   c it reported first
    alone: f (t0), g (t0, false positive)
    quiet: nothing
    """
    t0 = 1_700_000_000_000_000
    with begin_write(store.engine) as conn:
        early = _source(conn, "early")
        late = _source(conn, "late")
        alone = _source(conn, "alone")
        _source(conn, "quiet")
        _value(conn, "a.example.org", {early: t0, late: t0 + HOUR})
        _value(conn, "b.example.org", {early: t0, late: t0 + 3 * HOUR})
        _value(conn, "c.example.org", {early: t0, late: t0 - HOUR})
        _value(conn, "d.example.org", {early: t0}, benign="misp:some list")
        _value(conn, "e.example.org", {late: t0})
        _value(conn, "f.example.org", {alone: t0})
        _value(conn, "g.example.org", {alone: t0}, state=State.FALSE_POSITIVE)
    with store.engine.connect() as conn:
        return {quality.source: quality for quality in source_quality(conn)}


def test_quality_lists_every_source(figures: dict[str, SourceQuality]) -> None:
    assert list(figures) == ["alone", "early", "late", "quiet"]


def test_quality_counts_contributed(figures: dict[str, SourceQuality]) -> None:
    assert figures["early"].contributed == 4
    assert figures["late"].contributed == 4
    assert figures["alone"].contributed == 2
    assert figures["quiet"].contributed == 0


def test_quality_unique_share(figures: dict[str, SourceQuality]) -> None:
    assert figures["early"].unique_share == 0.25
    assert figures["late"].unique_share == 0.25
    assert figures["alone"].unique_share == 1.0
    assert figures["quiet"].unique_share == 0.0


def test_quality_flagged_share(figures: dict[str, SourceQuality]) -> None:
    # d is on a known-benign list, g an analyst's false positive.
    assert figures["early"].false_positive_share == 0.25
    assert figures["alone"].false_positive_share == 0.5
    assert figures["late"].false_positive_share == 0.0


def test_quality_median_lead(figures: dict[str, SourceQuality]) -> None:
    # early leads by 1 h, 3 h and trails c by 1 h: leads -1 h, -3 h, +1 h.
    assert figures["early"].median_lead_seconds == -3600.0
    # late: +1 h, +3 h, -1 h, median +1 h.
    assert figures["late"].median_lead_seconds == 3600.0


def test_quality_lead_none_unshared(figures: dict[str, SourceQuality]) -> None:
    assert figures["alone"].median_lead_seconds is None
    assert figures["quiet"].median_lead_seconds is None


def test_quality_median_of_even_count(store: Store) -> None:
    t0 = 1_700_000_000_000_000
    with begin_write(store.engine) as conn:
        first = _source(conn, "first")
        second = _source(conn, "second")
        _value(conn, "h.example.org", {first: t0, second: t0 + HOUR})
        _value(conn, "i.example.org", {first: t0, second: t0 + 2 * HOUR})
    with store.engine.connect() as conn:
        figures = {quality.source: quality for quality in source_quality(conn)}
    # Leads of "second" are 1 h and 2 h: the median is their mean.
    assert figures["second"].median_lead_seconds == 5400.0
    assert figures["first"].median_lead_seconds == -5400.0
