"""The month at a glance: new, updated and withdrawn indicators."""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.members.access import Audience
from medisac.report.period import Month
from medisac.report.queries import (
    COMPARE_MONTHS,
    ic,
    so,
    stored_condition,
    week_case,
)
from medisac.store.tables import (
    indicators,
    stix_objects,
)


def _new_counts(
    conn: Connection, month: Month, audience: Audience
) -> tuple[Counter[str], Counter[str]]:
    """Return new indicators of ``month`` by type and by week label."""
    week = week_case(ic.created, month).label("week")
    rows = conn.execute(
        sa.select(ic.type, week, sa.func.count())
        .where(
            ic.created >= month.start,
            ic.created < month.end,
            stored_condition(),
            audience.condition(ic.tlp, ic.id),
        )
        .group_by(ic.type, week)
    ).all()
    by_type: Counter[str] = Counter()
    by_week: Counter[str] = Counter()
    for kind, label, count in rows:
        by_type[kind] += count
        by_week[label] += count
    return by_type, by_week


def _version_counts(
    conn: Connection, month: Month, audience: Audience, *, active: bool
) -> tuple[Counter[str], Counter[str]]:
    """Return indicators with a version published in ``month``, by type and week.

    ``active`` True counts updates of indicators stored before the month,
    False counts withdrawals. An indicator counts once, in the week of its
    first such version.
    """
    conditions = [
        so.indicator_id.is_not(None),
        so.active.is_(active),
        so.date_added >= month.start,
        so.date_added < month.end,
        audience.version_condition(so.tlp, so.indicator_id),
    ]
    if active:
        conditions.append(ic.created < month.start)
    first = (
        sa.select(
            so.indicator_id.label("indicator_id"),
            sa.func.min(so.date_added).label("added"),
        )
        .select_from(stix_objects.join(indicators, ic.id == so.indicator_id))
        .where(*conditions)
        .group_by(so.indicator_id)
        .subquery()
    )
    week = week_case(first.c.added, month).label("week")
    rows = conn.execute(
        sa.select(ic.type, week, sa.func.count())
        .select_from(first.join(indicators, ic.id == first.c.indicator_id))
        .group_by(ic.type, week)
    ).all()
    by_type: Counter[str] = Counter()
    by_week: Counter[str] = Counter()
    for kind, label, count in rows:
        by_type[kind] += count
        by_week[label] += count
    return by_type, by_week


def glance(conn: Connection, month: Month, audience: Audience) -> dict[str, Any]:
    """New, updated and withdrawn indicators by type and week, and by month."""
    history: list[dict[str, Any]] = []
    for back in range(COMPARE_MONTHS, -1, -1):
        past = month.shifted(-back)
        new, _ = _new_counts(conn, past, audience)
        updated, _ = _version_counts(conn, past, audience, active=True)
        withdrawn, _ = _version_counts(conn, past, audience, active=False)
        history.append(
            {
                "month": past.label,
                "new": sum(new.values()),
                "updated": sum(updated.values()),
                "withdrawn": sum(withdrawn.values()),
            }
        )
    new, new_weeks = _new_counts(conn, month, audience)
    updated, updated_weeks = _version_counts(conn, month, audience, active=True)
    withdrawn, withdrawn_weeks = _version_counts(conn, month, audience, active=False)
    types = sorted(set(new) | set(updated) | set(withdrawn))
    earlier = history[:-1]
    average_new = sum(item["new"] for item in earlier) / len(earlier)
    return {
        "by_type": [
            {
                "type": kind,
                "new": new[kind],
                "updated": updated[kind],
                "withdrawn": withdrawn[kind],
            }
            for kind in types
        ],
        "by_week": [
            {
                "week": label,
                "new": new_weeks[label],
                "updated": updated_weeks[label],
                "withdrawn": withdrawn_weeks[label],
            }
            for label, _start, _end in month.weeks()
        ],
        "totals": {
            "new": sum(new.values()),
            "updated": sum(updated.values()),
            "withdrawn": sum(withdrawn.values()),
        },
        "months": history,
        "average_new_before": round(average_new, 1),
    }
