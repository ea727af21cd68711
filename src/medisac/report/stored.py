"""Stored monthly reports: listing and reading them for one reader.

The community edition (no organisation) is readable by every member; a
member edition only by its own organisation. An operator passes
``everything=True`` to list every edition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from medisac.report.period import parse_month
from medisac.store.tables import monthly_reports

mc = monthly_reports.c


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """One stored edition of a monthly report."""

    month: str
    org_id: str | None
    generated: int
    stix_id: str | None
    html_bytes: int
    pdf_bytes: int


def list_reports(
    engine: Engine, *, org_id: str | None, everything: bool = False
) -> list[ReportSummary]:
    """Return the editions ``org_id`` may read, newest month first.

    That is the community editions and, for an organisation, its own
    editions; ``everything`` lists every edition.
    """
    statement = sa.select(
        mc.month,
        mc.org_id,
        mc.generated,
        mc.stix_id,
        sa.func.length(mc.html),
        sa.func.length(mc.pdf),
    )
    if not everything:
        readable: sa.ColumnElement[bool] = mc.org_id.is_(None)
        if org_id is not None:
            readable = sa.or_(readable, mc.org_id == org_id)
        statement = statement.where(readable)
    statement = statement.order_by(mc.month.desc(), mc.org_id.is_not(None), mc.org_id)
    with engine.connect() as conn:
        rows = conn.execute(statement).all()
    return [ReportSummary(*row) for row in rows]


def load_report(
    engine: Engine,
    month: str,
    *,
    org_id: str | None,
    kind: Literal["html", "pdf"],
) -> bytes | None:
    """Return the stored HTML or PDF of one edition, or None when there is none.

    ``org_id`` None reads the community edition, otherwise that
    organisation's own edition. Raises ``ReportError`` for a bad month.
    """
    label = parse_month(month).label
    owner = mc.org_id.is_(None) if org_id is None else mc.org_id == org_id
    column = mc.html if kind == "html" else mc.pdf
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(column).where(mc.month == label, owner)
        ).scalar_one_or_none()
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)
