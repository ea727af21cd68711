"""Find stored indicators by value on behalf of a reader, with community counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.errors import NormalizationError
from medisac.members.access import Audience
from medisac.normalize import normalize
from medisac.normalize.value import Value
from medisac.store.tables import indicators, sightings

# Minimum number of organisations whose reports members see counted. With fewer, a
# member could tell another's reports apart (its own subtracted from the
# total), so the counts are withheld. The monthly report uses the same rule.
MIN_REPORTING_MEMBERS = 3


@dataclass(frozen=True, slots=True)
class CommunityCounts:
    """Members' reports on one indicator, counted without naming the reporters."""

    sightings: int = 0
    sighting_organisations: int = 0
    false_positive_organisations: int = 0

    def for_members(self) -> MemberCounts:
        """Return the counts members see: None where too few organisations reported."""
        seen = self.sighting_organisations >= MIN_REPORTING_MEMBERS
        flagged = self.false_positive_organisations >= MIN_REPORTING_MEMBERS
        return MemberCounts(
            sightings=self.sightings if seen else None,
            sighting_organisations=self.sighting_organisations if seen else None,
            false_positive_organisations=(
                self.false_positive_organisations if flagged else None
            ),
        )


@dataclass(frozen=True, slots=True)
class MemberCounts:
    """Community counts as members see them; None stands for "fewer than three"."""

    sightings: int | None
    sighting_organisations: int | None
    false_positive_organisations: int | None


def parse_value(value: str, kind: str | None = None) -> list[Value]:
    """Normalise a looked-up value; a value of no other type is a file name.

    Raises :class:`NormalizationError` when it is not even a file name.
    """
    try:
        return normalize(value, kind)
    except NormalizationError:
        if kind is not None:
            raise
        return normalize(value, "filename")


def find_visible(
    conn: Connection, wanted: list[Value], audience: Audience
) -> list[Any]:
    """Return the ``indicators`` rows of ``wanted`` that ``audience`` may read."""
    ic = indicators.c
    found = []
    for item in wanted:
        row = conn.execute(
            sa.select(indicators).where(
                ic.type == item.type.value,
                ic.value == item.value,
                audience.condition(ic.tlp, ic.id),
            )
        ).first()
        if row is not None:
            found.append(row)
    return found


def community_counts(conn: Connection, indicator_id: int) -> CommunityCounts:
    """Return the aggregated reports of members on one indicator."""
    sc = sightings.c
    rows = conn.execute(
        sa.select(
            sc.kind,
            sa.func.coalesce(sa.func.sum(sc.count), 0),
            sa.func.count(sa.distinct(sc.org_id)),
        )
        .where(sc.indicator_id == indicator_id, sc.status != "rejected")
        .group_by(sc.kind)
    ).all()
    counts = {kind: (int(total), int(orgs)) for kind, total, orgs in rows}
    seen_total, seen_orgs = counts.get("sighting", (0, 0))
    return CommunityCounts(
        sightings=seen_total,
        sighting_organisations=seen_orgs,
        false_positive_organisations=counts.get("false-positive", (0, 0))[1],
    )
