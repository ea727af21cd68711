"""Helpers shared by the feed tests: what a store holds."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from medisac.store.tables import indicators, provenance, sources


def stored_values(engine: Engine) -> set[tuple[str, str]]:
    """Return the (type, value) pair of every stored indicator."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(indicators.c.type, indicators.c.value))
        return {(row.type, row.value) for row in rows}


def provenance_counts(engine: Engine, source: str) -> dict[tuple[str, str], int]:
    """Return how many provenance rows ``source`` has for each indicator."""
    query = (
        sa.select(indicators.c.type, indicators.c.value, sa.func.count())
        .select_from(
            provenance.join(
                indicators, provenance.c.indicator_id == indicators.c.id
            ).join(sources, provenance.c.source_id == sources.c.id)
        )
        .where(sources.c.name == source)
        .group_by(indicators.c.type, indicators.c.value)
    )
    with engine.connect() as conn:
        return {(row[0], row[1]): row[2] for row in conn.execute(query)}
