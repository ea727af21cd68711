"""Bar charts of the last days as inline SVG, drawn on the server without scripts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from markupsafe import Markup, escape
from sqlalchemy import ColumnElement
from sqlalchemy.engine import Connection

from medisac.members.access import Audience
from medisac.store.tables import indicators, sightings

DAYS = 90
_DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True, slots=True)
class DailyCounts:
    """Counts per UTC day, oldest first, and the first day's date."""

    first_day: datetime
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        """The sum over every day."""
        return sum(self.counts)


def _per_day(
    conn: Connection,
    time_column: ColumnElement[int],
    conditions: Sequence[ColumnElement[bool]],
    now_us: int,
) -> DailyCounts:
    today = now_us - now_us % _DAY_US
    start = today - (DAYS - 1) * _DAY_US
    day = sa.cast((time_column - start) / _DAY_US, sa.Integer)
    rows = conn.execute(
        sa.select(day, sa.func.count())
        .where(time_column >= start, *conditions)
        .group_by(day)
    ).all()
    counts = [0] * DAYS
    for index, count in rows:
        if index is not None and 0 <= int(index) < DAYS:
            counts[int(index)] += int(count)
    first = datetime.fromtimestamp(start / 1_000_000, UTC)
    return DailyCounts(first, tuple(counts))


def new_indicators(conn: Connection, audience: Audience, now_us: int) -> DailyCounts:
    """Count the indicators first stored on each of the last days, as readable."""
    ic = indicators.c
    return _per_day(conn, ic.created, [audience.condition(ic.tlp, ic.id)], now_us)


def healthcare_indicators(
    conn: Connection, audience: Audience, now_us: int
) -> DailyCounts:
    """Count the new indicators relevant to healthcare on each of the last days."""
    ic = indicators.c
    conditions = [audience.condition(ic.tlp, ic.id), ic.healthcare.is_(True)]
    return _per_day(conn, ic.created, conditions, now_us)


def member_sightings(conn: Connection, audience: Audience, now_us: int) -> DailyCounts:
    """Count the sighting reports of readable indicators on each of the last days."""
    sc, ic = sightings.c, indicators.c
    readable = sa.exists().where(
        ic.id == sc.indicator_id, audience.condition(ic.tlp, ic.id)
    )
    conditions = [sc.kind == "sighting", readable]
    return _per_day(conn, sc.created, conditions, now_us)


def bar_chart(series: DailyCounts, title: str, width: int = 540) -> Markup:
    """Return an SVG bar chart of ``series`` with a title and a text summary.

    Every value placed in the SVG is a number or escaped text, so the chart
    is safe to insert in a page as it is.
    """
    height = 120
    top = max(series.counts) or 1
    bar = width / len(series.counts)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height + 20}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for position, count in enumerate(series.counts):
        bar_height = round(count / top * height, 1)
        day = series.first_day + timedelta(days=position)
        x = round(position * bar, 2)
        parts.append(
            f'<rect x="{x}" y="{height - bar_height}" width="{max(bar - 1, 1):.2f}" '
            f'height="{bar_height}"><title>{day:%Y-%m-%d}: {count}</title></rect>'
        )
    last = series.first_day + timedelta(days=len(series.counts) - 1)
    parts.append(
        f'<text x="0" y="{height + 15}">{series.first_day:%Y-%m-%d}</text>'
        f'<text x="{width}" y="{height + 15}" text-anchor="end">{last:%Y-%m-%d}'
        "</text></svg>"
    )
    return Markup("".join(parts))  # noqa: S704
