"""Send hunt hits back to the exchange as sightings.

Hits are grouped per indicator into one report with the hit count and the
first and last log times. The reporting organisation is stored for counting
independent reports only; other members see aggregated counts. Reports stay
``pending`` until an analyst or the scoring accepts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.members.sightings import Report, ReportKind, record_reports
from medisac.model.time import now_us
from medisac.store.tables import indicators

ORIGIN = "hunt"


@dataclass
class _Seen:
    count: int = 0
    first: int | None = None
    last: int | None = None


class SightingCollector:
    """Collect hits per indicator id, then store them as sighting reports."""

    def __init__(self) -> None:
        self._seen: dict[int, _Seen] = {}

    def add(self, indicator_id: int, time: int | None) -> None:
        """Count one hit of ``indicator_id`` at ``time`` (microseconds or None)."""
        seen = self._seen.setdefault(indicator_id, _Seen())
        seen.count += 1
        if time is not None:
            seen.first = time if seen.first is None else min(seen.first, time)
            seen.last = time if seen.last is None else max(seen.last, time)

    def __len__(self) -> int:
        return len(self._seen)

    def reports(self, org_id: str) -> list[Report]:
        """Return one pending sighting report per indicator hit.

        A hit without a log time is dated by the time of reporting.
        """
        now = now_us()
        return [
            Report(
                indicator_id=indicator_id,
                kind=ReportKind.SIGHTING,
                first_seen=seen.first if seen.first is not None else now,
                last_seen=seen.last if seen.last is not None else now,
                origin=ORIGIN,
                org_id=org_id,
                count=seen.count,
            )
            for indicator_id, seen in sorted(self._seen.items())
        ]

    def ids(self) -> list[int]:
        """Return the ids of the indicators hit, in order."""
        return sorted(self._seen)

    def store(self, conn: Connection, org_id: str, known: set[int]) -> int:
        """Store the reports of ``org_id`` on ``known`` ids; return how many."""
        reports = [r for r in self.reports(org_id) if r.indicator_id in known]
        return record_reports(conn, reports)


def known_indicator_ids(conn: Connection, ids: list[int]) -> set[int]:
    """Return those of ``ids`` that name an indicator in the store.

    A pack made by another store can name ids this store does not have.
    """
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(
            sa.select(indicators.c.id).where(indicators.c.id.in_(chunk))
        )
        found.update(row.id for row in rows)
    return found
