"""Sightings and false-positive reports of indicators.

A report names its organisation so that repeated reports can be separated
from independent ones, but readers only ever see aggregated counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.model.time import now_us
from medisac.store.tables import sightings


class ReportKind(StrEnum):
    """The kind of report a member makes about an indicator."""

    SIGHTING = "sighting"
    FALSE_POSITIVE = "false-positive"


class ReportStatus(StrEnum):
    """The review state of a report."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Report:
    """One report of an indicator by one organisation (or an anonymous sensor)."""

    indicator_id: int
    kind: ReportKind
    first_seen: int
    last_seen: int
    origin: str
    org_id: str | None = None
    count: int = 1
    status: ReportStatus = ReportStatus.PENDING


def record_reports(conn: Connection, reports: list[Report]) -> int:
    """Store ``reports`` and return how many were stored."""
    if not reports:
        return 0
    now = now_us()
    conn.execute(
        sa.insert(sightings),
        [
            {
                "indicator_id": report.indicator_id,
                "org_id": report.org_id,
                "kind": ReportKind(report.kind).value,
                "count": report.count,
                "first_seen": report.first_seen,
                "last_seen": report.last_seen,
                "origin": report.origin,
                "status": ReportStatus(report.status).value,
                "created": now,
            }
            for report in reports
        ],
    )
    return len(reports)
