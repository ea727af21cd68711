"""Source quality: what each source contributes, and how early and how well.

:func:`source_quality` computes, for every source, from the provenance rows
(one per value and source) and the indicators' states:

- **contributed**: values the source has reported, listed now or not;
- **unique share**: the share of those values that no other source reported;
- **false-positive share**: the share of those values that an analyst later
  marked as a false positive, or that is on a known-benign list
  (``indicators.state`` ``false_positive`` or ``benign``, or
  ``indicators.benign`` set);
- **median lead time**: over the values that at least one other source also
  reported, the median of this source's ``first_reported`` minus the earliest
  ``first_reported`` of the other sources, in seconds. Negative means this
  source reported the value first; ``None`` when it shares no value.

``first_reported`` is when medisac first read the value from the source, so
lead times compare sources as medisac polled them: a source polled hourly
can lag one polled every minute by up to an hour for the same listing.
Everything runs in SQL that SQLite (3.25 or later) and PostgreSQL both run.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.model import State
from medisac.store.tables import indicators, provenance, sources

_US_PER_SECOND = 1_000_000


@dataclass(frozen=True, slots=True)
class SourceQuality:
    """Quality figures of one source; shares are fractions from 0 to 1."""

    source: str
    contributed: int
    unique_share: float
    false_positive_share: float
    median_lead_seconds: float | None


def source_quality(conn: Connection) -> list[SourceQuality]:
    """Return the quality figures of every source, ordered by source name."""
    counts = {row.source_id: row for row in conn.execute(_counts_query())}
    medians = {
        row.source_id: float(row.median) for row in conn.execute(_median_query())
    }
    result = []
    for source in conn.execute(sa.select(sources.c.id, sources.c.name)):
        row = counts.get(source.id)
        contributed = int(row.contributed) if row else 0
        unique = int(row.unique or 0) if row else 0
        flagged = int(row.flagged or 0) if row else 0
        median = medians.get(source.id)
        result.append(
            SourceQuality(
                source=source.name,
                contributed=contributed,
                unique_share=unique / contributed if contributed else 0.0,
                false_positive_share=flagged / contributed if contributed else 0.0,
                median_lead_seconds=None if median is None else median / _US_PER_SECOND,
            )
        )
    result.sort(key=lambda quality: quality.source)
    return result


def _counts_query() -> sa.Select[tuple[int, int, int, int]]:
    """Per source: values contributed, values only it reported, values flagged."""
    pc, ic = provenance.c, indicators.c
    reporters = (
        sa.select(pc.indicator_id, sa.func.count().label("sources"))
        .group_by(pc.indicator_id)
        .subquery()
    )
    flagged = sa.or_(
        ic.state.in_([State.FALSE_POSITIVE.value, State.BENIGN.value]),
        ic.benign.is_not(None),
    )
    return (
        sa.select(
            pc.source_id,
            sa.func.count().label("contributed"),
            sa.func.sum(sa.case((reporters.c.sources == 1, 1), else_=0)).label(
                "unique"
            ),
            sa.func.sum(sa.case((flagged, 1), else_=0)).label("flagged"),
        )
        .join(reporters, reporters.c.indicator_id == pc.indicator_id)
        .join(indicators, ic.id == pc.indicator_id)
        .group_by(pc.source_id)
    )


def _median_query() -> sa.Select[tuple[int, float]]:
    """Per source: the median lead time in microseconds over shared values."""
    mine = provenance.alias("mine")
    other = provenance.alias("other")
    leads = (
        sa.select(
            mine.c.source_id,
            (mine.c.first_reported - sa.func.min(other.c.first_reported)).label("lead"),
        )
        .join(
            other,
            sa.and_(
                other.c.indicator_id == mine.c.indicator_id,
                other.c.source_id != mine.c.source_id,
            ),
        )
        .group_by(mine.c.id, mine.c.source_id, mine.c.first_reported)
        .subquery()
    )
    ranked = sa.select(
        leads.c.source_id,
        leads.c.lead,
        sa.func.row_number()
        .over(partition_by=leads.c.source_id, order_by=leads.c.lead)
        .label("position"),
        sa.func.count().over(partition_by=leads.c.source_id).label("total"),
    ).subquery()
    # The middle row, or the two middle rows of an even count.
    low = (ranked.c.total + 1) // 2
    high = (ranked.c.total + 2) // 2
    return (
        sa.select(ranked.c.source_id, sa.func.avg(ranked.c.lead).label("median"))
        .where(ranked.c.position >= low, ranked.c.position <= high)
        .group_by(ranked.c.source_id)
    )
