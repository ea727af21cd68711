"""Member sightings, lead time and a member's own activity.

Figures from sightings are shown only where at least
:data:`~medisac.report.queries.MIN_MEMBERS` organisations contributed.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.members.access import Audience
from medisac.model.time import format_rfc3339
from medisac.report.period import Month
from medisac.report.queries import DAY_US, MIN_MEMBERS, ic, sc
from medisac.store.tables import (
    indicators,
    sightings,
)
from medisac.vulns.match import matches_for_org


def _sightings_in(month: Month, audience: Audience) -> list[sa.ColumnElement[bool]]:
    # NOTE: sightings without an organisation (anonymous sensors) are left
    # out, because they cannot count towards the minimum number of members.
    return [
        sc.kind == "sighting",
        sc.status != "rejected",
        sc.org_id.is_not(None),
        sc.first_seen < month.end,
        sc.last_seen >= month.start,
        audience.condition(ic.tlp, ic.id),
    ]


def member_sightings(
    conn: Connection, month: Month, audience: Audience
) -> dict[str, Any]:
    """Count sightings by indicator type and by week, each from enough members.

    A group from fewer than :data:`MIN_MEMBERS` organisations is left out
    and counted in ``suppressed``. Its sightings are left out of every other
    figure too, totals and the other grouping included, so that no figure
    can be subtracted from another to reveal them. When the sightings left
    come from fewer organisations, the section shows no figure at all.
    """
    rows: list[Any] = list(
        conn.execute(
            sa.select(ic.type, sc.first_seen, sc.org_id, sc.indicator_id, sc.count)
            .select_from(sightings.join(indicators, ic.id == sc.indicator_id))
            .where(*_sightings_in(month, audience))
            .order_by(sc.id)
        )
    )
    weeks = month.weeks()

    def week_of(row: Any) -> str:
        # A sighting that began before the month counts in its first week.
        moment = max(row.first_seen, month.start)
        return next(label for label, _start, end in weeks if moment < end)

    # Leaving out one group's rows can bring a group of the other grouping
    # under the threshold, so this repeats until every group left is shown.
    hidden_types: set[str] = set()
    hidden_weeks: set[str] = set()
    while True:
        by_type = _groups(rows, lambda row: row.type)
        by_week = _groups(rows, week_of)
        new_types = {name for name, g in by_type.items() if not g["shown"]}
        new_weeks = {name for name, g in by_week.items() if not g["shown"]}
        if not new_types and not new_weeks:
            break
        hidden_types |= new_types
        hidden_weeks |= new_weeks
        rows = [
            row
            for row in rows
            if row.type not in hidden_types and week_of(row) not in hidden_weeks
        ]
    members = {row.org_id for row in rows}
    if len(members) < MIN_MEMBERS:
        return {"shown": False, "min_members": MIN_MEMBERS}
    for name in hidden_types:
        by_type[name] = _hidden(name)
    for name in hidden_weeks:
        by_week[name] = _hidden(name)
    week_labels = [label for label, _start, _end in weeks]
    return {
        "shown": True,
        "min_members": MIN_MEMBERS,
        "members": len(members),
        "sightings": sum(row.count for row in rows),
        "indicators": len({row.indicator_id for row in rows}),
        "by_type": [group for _key, group in sorted(by_type.items())],
        "by_week": [by_week[label] for label in week_labels if label in by_week],
        "suppressed": len(hidden_types) + len(hidden_weeks),
    }


def _hidden(name: str) -> dict[str, Any]:
    return {"name": name, "shown": False, "sightings": None, "indicators": None}


def _groups(rows: Sequence[Any], key: Any) -> dict[str, dict[str, Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    found = {}
    for name, members_rows in grouped.items():
        orgs = {row.org_id for row in members_rows}
        shown = len(orgs) >= MIN_MEMBERS
        found[name] = {
            "name": name,
            "shown": shown,
            "sightings": sum(row.count for row in members_rows) if shown else None,
            "indicators": len({row.indicator_id for row in members_rows})
            if shown
            else None,
        }
    return found


# -- lead time ----------------------------------------------------------------

LEAD_BUCKETS = (
    ("before the exchange had it", None, 0),
    ("under 1 day", 0, 1),
    ("1 to 7 days", 1, 7),
    ("7 to 30 days", 7, 30),
    ("over 30 days", 30, None),
)


def lead_time(conn: Connection, month: Month, audience: Audience) -> dict[str, Any]:
    """Measure how early the exchange had indicators that members sighted later."""
    first = (
        sa.select(
            sc.indicator_id.label("indicator_id"),
            sa.func.min(sc.first_seen).label("first"),
        )
        .where(sc.kind == "sighting", sc.status != "rejected", sc.org_id.is_not(None))
        .group_by(sc.indicator_id)
        .having(sa.func.min(sc.first_seen) >= month.start)
        .having(sa.func.min(sc.first_seen) < month.end)
        .subquery()
    )
    rows = conn.execute(
        sa.select(first.c.indicator_id, first.c.first, ic.created)
        .select_from(first.join(indicators, ic.id == first.c.indicator_id))
        .where(audience.condition(ic.tlp, ic.id))
        .order_by(first.c.indicator_id)
    ).all()

    # The organisations whose sightings in the month these figures rest on.
    ids = [row.indicator_id for row in rows]
    members: set[str] = set()
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        members.update(
            conn.execute(
                sa.select(sc.org_id).where(
                    sc.indicator_id.in_(chunk),
                    sc.kind == "sighting",
                    sc.status != "rejected",
                    sc.org_id.is_not(None),
                    sc.first_seen >= month.start,
                    sc.first_seen < month.end,
                )
            ).scalars()
        )
    if len(members) < MIN_MEMBERS:
        return {"shown": False, "min_members": MIN_MEMBERS}

    days = [(row.first - row.created) / DAY_US for row in rows]
    buckets = []
    for label, low, high in LEAD_BUCKETS:
        count = sum(
            1
            for value in days
            if (low is None or value >= low) and (high is None or value < high)
        )
        buckets.append({"label": label, "indicators": count})
    ahead = [value for value in days if value >= 0]
    return {
        "shown": True,
        "min_members": MIN_MEMBERS,
        "indicators": len(rows),
        "ahead": len(ahead),
        "median_days": round(statistics.median(days), 1),
        "buckets": buckets,
    }


# -- source quality -----------------------------------------------------------


def own_activity(
    conn: Connection, month: Month, audience: Audience, org_id: str
) -> dict[str, Any]:
    """Return the member's own sightings and hunt hits in the month, and its matches."""
    rows = conn.execute(
        sa.select(ic.type, ic.value, sc.origin, sc.count, sc.first_seen)
        .select_from(sightings.join(indicators, ic.id == sc.indicator_id))
        .where(
            sc.org_id == org_id,
            sc.kind == "sighting",
            sc.status != "rejected",
            sc.first_seen < month.end,
            sc.last_seen >= month.start,
            audience.condition(ic.tlp, ic.id),
        )
        .order_by(sc.first_seen, ic.type, ic.value)
    ).all()
    own = [
        {
            "type": row.type,
            "value": row.value,
            "origin": row.origin,
            "count": row.count,
            "first_seen": format_rfc3339(row.first_seen, digits=0),
        }
        for row in rows
    ]
    matches = [
        {
            "cve": match.cve,
            "priority": match.priority,
            "certain": match.certain,
            "kev": match.record.kev,
            "product": " ".join(
                part
                for part in (match.item.vendor, match.item.product, match.item.version)
                if part
            ),
        }
        for match in matches_for_org(conn, org_id)
    ]
    return {
        "sightings": [item for item in own if item["origin"] != "hunt"],
        "hunt_hits": [item for item in own if item["origin"] == "hunt"],
        "matches": matches,
    }
