"""Reading indicators for a page: search, detail and the dashboard's lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.errors import NormalizationError
from medisac.members.access import Audience
from medisac.members.lookup import (
    CommunityCounts,
    MemberCounts,
    community_counts,
    find_visible,
    parse_value,
)
from medisac.model import TLP, State
from medisac.store.tables import indicators
from medisac.vulns.records import VulnRecord
from medisac.vulns.store import get_vulnerabilities

# Rows a search or a list on a page shows at most.
MAX_ROWS = 100


@dataclass(frozen=True, slots=True)
class SourceClaim:
    """One source's claim on an indicator, as a reader may see it."""

    name: str
    confidence: int
    tlp: TLP
    first_seen: int | None
    last_seen: int | None


@dataclass(frozen=True, slots=True)
class IndicatorDetail:
    """Everything an indicator page shows."""

    row: Any
    tags: list[str]
    sources: list[SourceClaim]
    hidden_sources: int
    counts: CommunityCounts | MemberCounts
    cves: list[str]
    vulnerabilities: dict[str, VulnRecord]


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The rows a search found, and why it found none when it did not."""

    rows: list[Any]
    exact: bool
    message: str | None = None


def search(conn: Connection, text: str, audience: Audience) -> SearchResult:
    """Find readable indicators by value in any spelling, else by part of it.

    A value that normalises is looked up exactly. When nothing matches and
    the text has at least three characters, indicators whose value contains
    it are listed, up to :data:`MAX_ROWS`.
    """
    text = text.strip()
    if not text:
        return SearchResult([], exact=True)
    message = None
    try:
        wanted = parse_value(text)
    except NormalizationError as exc:
        wanted = []
        message = f"not a valid indicator value ({exc.reason}); searched as text"
    rows = find_visible(conn, wanted, audience) if wanted else []
    if rows:
        return SearchResult(rows, exact=True)
    if len(text) < 3:
        return SearchResult([], exact=False, message=message)
    ic = indicators.c
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    found = conn.execute(
        sa.select(indicators)
        .where(
            ic.value.like(f"%{escaped}%", escape="\\"),
            audience.condition(ic.tlp, ic.id),
        )
        .order_by(ic.confidence.desc(), ic.id)
        .limit(MAX_ROWS)
    ).all()
    return SearchResult(list(found), exact=False, message=message)


def get_detail(
    conn: Connection, stix_id: str, audience: Audience
) -> IndicatorDetail | None:
    """Return the page of one readable indicator, or None."""
    ic = indicators.c
    row = conn.execute(
        sa.select(indicators).where(
            ic.stix_id == stix_id, audience.condition(ic.tlp, ic.id)
        )
    ).first()
    if row is None:
        return None
    claims = orjson.loads(row.sources)
    # A RED claim is readable only by those the record itself names, so only
    # when the record is RED and readable.
    named = frozenset({audience.org_id or ""}) if row.tlp == TLP.RED else frozenset()
    visible = []
    for claim in claims:
        level = TLP(claim[2])
        # A claim above the reader's clearance is left out; the page shows
        # only how many were left out.
        if audience.may_read(level, named):
            visible.append(
                SourceClaim(
                    name=claim[0],
                    confidence=int(claim[1]),
                    tlp=level,
                    first_seen=claim[3],
                    last_seen=claim[4],
                )
            )
    context = orjson.loads(row.context) if row.context else {}
    cves = [cve for cve in context.get("cves", []) if isinstance(cve, str)]
    counts = community_counts(conn, row.id)
    return IndicatorDetail(
        row=row,
        tags=list(orjson.loads(row.tags)),
        sources=visible,
        hidden_sources=len(claims) - len(visible),
        counts=counts if audience.operator else counts.for_members(),
        cves=cves,
        vulnerabilities=get_vulnerabilities(conn, cves) if cves else {},
    )


def recent(
    conn: Connection,
    audience: Audience,
    *,
    healthcare: bool = False,
    limit: int = 10,
) -> list[Any]:
    """Return the newest active indicators the reader may read."""
    ic = indicators.c
    conditions = [ic.state == State.ACTIVE.value, audience.condition(ic.tlp, ic.id)]
    if healthcare:
        conditions.append(ic.healthcare.is_(True))
    return list(
        conn.execute(
            sa.select(indicators)
            .where(*conditions)
            .order_by(ic.created.desc(), ic.id.desc())
            .limit(limit)
        ).all()
    )


def active_counts(conn: Connection, audience: Audience) -> tuple[int, int]:
    """Return how many active indicators the reader may read, and of healthcare."""
    ic = indicators.c
    readable = [ic.state == State.ACTIVE.value, audience.condition(ic.tlp, ic.id)]
    total = conn.execute(sa.select(sa.func.count()).where(*readable)).scalar_one()
    health = conn.execute(
        sa.select(sa.func.count()).where(*readable, ic.healthcare.is_(True))
    ).scalar_one()
    return int(total), int(health)
