"""Source quality: contribution, uniqueness and false positives per source."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.members.access import Audience
from medisac.model import State
from medisac.report.period import Month
from medisac.report.queries import ic, sc
from medisac.store.tables import (
    indicators,
    provenance,
    sources,
)


def source_quality(
    conn: Connection, month: Month, audience: Audience
) -> list[dict[str, Any]]:
    """Per source: indicators first reported in the month, and their quality.

    *Unique* indicators have no other source. *False positives* are in the
    false-positive state or have a false-positive report no analyst rejected.
    A source that reported a record above the record's own level (an analyst
    lowered it) is left out, as in the record's STIX object: its name, and
    whether it reported the value, are information at that higher level.
    """
    pc = provenance.c
    other = provenance.alias("other")
    unique = ~sa.exists().where(
        other.c.indicator_id == pc.indicator_id,
        other.c.source_id != pc.source_id,
        other.c.tlp <= ic.tlp,
    )
    reported_fp = sa.exists().where(
        sc.indicator_id == pc.indicator_id,
        sc.kind == "false-positive",
        sc.status != "rejected",
    )
    false_positive = sa.or_(ic.state == State.FALSE_POSITIVE.value, reported_fp)
    rows = conn.execute(
        sa.select(
            sources.c.name,
            sa.func.count(),
            sa.func.count().filter(unique),
            sa.func.count().filter(false_positive),
        )
        .select_from(
            provenance.join(indicators, ic.id == pc.indicator_id).join(
                sources, sources.c.id == pc.source_id
            )
        )
        .where(
            pc.first_reported >= month.start,
            pc.first_reported < month.end,
            ic.state != State.BENIGN.value,
            pc.tlp <= ic.tlp,
            audience.condition(ic.tlp, ic.id),
        )
        .group_by(sources.c.name)
    ).all()
    found = [
        {
            "source": name,
            "new": total,
            "unique": unique_count,
            "unique_share": round(100 * unique_count / total, 1),
            "false_positives": fp_count,
            "false_positive_share": round(100 * fp_count / total, 1),
        }
        for name, total, unique_count, fp_count in rows
    ]
    return sorted(found, key=lambda item: (-item["new"], item["source"]))


# -- the member's own activity -----------------------------------------------
