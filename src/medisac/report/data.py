"""The figures of a monthly report, computed from the store.

Every query reads only what the edition's
:class:`~medisac.members.access.Audience` may read, orders its rows, and
depends on nothing but the stored data and the month, so the same data and
month give the same figures. Member sightings are shown only where at least
:data:`~medisac.report.queries.MIN_MEMBERS` organisations contributed, so
that no member can be singled out.

Definitions, per month:

- *new*: indicators first stored in the month (``indicators.created``);
- *updated*: indicators stored earlier with an active version published in
  the month; *withdrawn*: indicators with an inactive version (revoked,
  expired, false positive) published in the month;
- *active*: new, or last seen by a source in the month, or sighted in it;
- *sightings*: members' reports of kind ``sighting`` that an analyst has not
  rejected and whose time span overlaps the month;
- *lead time*: for an indicator whose first member sighting falls in the
  month, that sighting's time minus the time the exchange first stored it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from medisac.members.access import Audience
from medisac.report.glance import glance
from medisac.report.period import Month
from medisac.report.sightings import lead_time, member_sightings, own_activity
from medisac.report.sources import source_quality
from medisac.report.threats import threats
from medisac.report.vulnfigures import vulns


def collect_figures(
    conn: Connection, month: Month, audience: Audience, org_id: str | None
) -> dict[str, Any]:
    """Return every figure of the report for ``month`` as JSON-ready data.

    ``org_id`` adds the member's own section (its sightings, inventory
    matches and hunt hits); None builds the community edition.
    """
    figures: dict[str, Any] = {
        "glance": glance(conn, month, audience),
        "threats": threats(conn, month, audience),
        "vulns": vulns(conn, month),
        "sightings": member_sightings(conn, month, audience),
        "lead_time": lead_time(conn, month, audience),
        "sources": source_quality(conn, month, audience),
    }
    if org_id is not None:
        figures["member"] = own_activity(conn, month, audience, org_id)
    return figures
