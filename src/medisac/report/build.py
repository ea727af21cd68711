"""Build, store and publish a monthly report.

The community edition reads what a TLP:GREEN member may read and is
published in the TAXII ``advisories`` collection as a STIX 2.1 ``report``.
A member edition reads what that member may read, adds its own activity,
is marked TLP:AMBER+STRICT and is served to that organisation only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from medisac.advisories import store_report_object
from medisac.members import audit
from medisac.members.access import Audience
from medisac.members.orgs import Org, get_org
from medisac.model import TLP
from medisac.model.time import format_rfc3339, now_us, to_us
from medisac.report.data import collect_figures
from medisac.report.period import Month, ReportError, parse_month
from medisac.report.render import render_html, render_pdf
from medisac.store.engine import begin_write
from medisac.store.tables import monthly_reports

log = logging.getLogger(__name__)

COMMUNITY_TLP = TLP.GREEN
MEMBER_TLP = TLP.AMBER_STRICT
# Namespace of the uuid5 ids of published monthly reports; one id per month.
REPORT_NAMESPACE = uuid.UUID("6b1e2f4a-8c3d-4e5f-9a7b-0c1d2e3f4a5b")
STEPS = ("figures", "charts and HTML", "PDF", "store")


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """The files one build wrote, its figures, and the published STIX id."""

    html: Path
    pdf: Path
    figures: dict[str, Any]
    stix_id: str | None


def report_stix_id(month: Month) -> str:
    """Return the STIX id of the community edition of ``month``."""
    return f"report--{uuid.uuid5(REPORT_NAMESPACE, 'monthly/' + month.label)}"


def build_report(
    engine: Engine,
    month: str,
    *,
    org_id: str | None,
    out_dir: Path,
    now: datetime | None = None,
    on_step: Callable[[str], None] | None = None,
) -> ReportFiles:
    """Write ``report.html`` and ``report.pdf`` for ``month`` into ``out_dir``.

    ``org_id`` (an id or name) builds that member's edition, None the
    community edition. ``now`` fixes the generation time printed in the
    report. The report is stored for serving, and the community edition is
    published as a STIX ``report``. ``on_step`` is called with each of
    :data:`STEPS` as it starts. Raises :class:`ReportError` for a bad month
    and ``OrgNotFound`` for an unknown organisation.
    """
    period = parse_month(month)
    generated = now_us() if now is None else to_us(now)
    if generated < period.start:
        raise ReportError(
            f"month {period.label} has not started yet; build a report for a "
            "month that has begun"
        )
    step = on_step or (lambda _name: None)
    step(STEPS[0])
    with engine.connect() as conn:
        org = None if org_id is None else get_org(conn, org_id)
        audience = _audience(org)
        figures = collect_figures(
            conn, period, audience, None if org is None else org.id
        )
    step(STEPS[1])
    meta = _meta(period, org, generated)
    html = render_html(figures, meta)
    step(STEPS[2])
    pdf = render_pdf(html)
    step(STEPS[3])
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / "report.html"
    pdf_path = out_dir / "report.pdf"
    html_path.write_text(html, encoding="utf-8")
    pdf_path.write_bytes(pdf)
    stix_id = None if org is not None else report_stix_id(period)
    with begin_write(engine) as conn:
        if stix_id is not None:
            store_report_object(
                conn,
                stix_id=stix_id,
                kind="monthly",
                title=meta["title"],
                summary=_summary(figures, period),
                tlp=COMMUNITY_TLP,
                author="medisac monthly report",
                indicator_refs=(),
                cves=[item["cve"] for item in figures["vulns"]["kev"]],
                recipients=(),
                created=generated,
                report_types=("threat-report",),
            )
        _store(conn, period, org, generated, figures, html, pdf, stix_id)
        audit.record(
            conn,
            "report.build",
            f"monthly report {period.label}",
            org_id=None if org is None else org.id,
            detail={"stix_id": stix_id, "pdf_bytes": len(pdf)},
        )
    log.info(
        "built the %s report for %s (%d bytes of PDF)",
        meta["edition"],
        period.label,
        len(pdf),
    )
    return ReportFiles(html=html_path, pdf=pdf_path, figures=figures, stix_id=stix_id)


def _audience(org: Org | None) -> Audience:
    if org is None:
        return Audience.member(None, COMMUNITY_TLP)
    return Audience.member(org.id, org.clearance)


def _meta(period: Month, org: Org | None, generated: int) -> dict[str, str]:
    marking = COMMUNITY_TLP if org is None else MEMBER_TLP
    return {
        "title": f"Healthcare threat report, {period.title}",
        "month_title": period.title,
        "edition": "Community edition" if org is None else f"Edition for {org.name}",
        "marking": f"TLP:{marking.label}",
        "generated": format_rfc3339(generated, digits=0).replace("T", " "),
    }


def _summary(figures: dict[str, Any], period: Month) -> str:
    """Return the plain-text description of the published STIX report."""
    glance = figures["glance"]["totals"]
    parts = [
        f"In {period.title} the exchange stored {glance['new']} new indicators, "
        f"updated {glance['updated']} and withdrew {glance['withdrawn']}.",
        f"{len(figures['vulns']['kev'])} known-exploited vulnerabilities added "
        "this month touch healthcare products, and "
        f"{len(figures['vulns']['device_advisories'])} medical-device advisories "
        "arrived.",
    ]
    ransomware = [item["name"] for item in figures["threats"]["ransomware"][:5]]
    if ransomware:
        parts.append(f"Ransomware seen: {', '.join(ransomware)}.")
    return " ".join(parts)


def _store(
    conn: Any,
    period: Month,
    org: Org | None,
    generated: int,
    figures: dict[str, Any],
    html: str,
    pdf: bytes,
    stix_id: str | None,
) -> None:
    """Replace the stored edition of ``period`` for ``org`` with this one."""
    mc = monthly_reports.c
    owner = mc.org_id.is_(None) if org is None else mc.org_id == org.id
    conn.execute(sa.delete(monthly_reports).where(mc.month == period.label, owner))
    conn.execute(
        sa.insert(monthly_reports).values(
            month=period.label,
            org_id=None if org is None else org.id,
            generated=generated,
            figures=orjson.dumps(figures, option=orjson.OPT_SORT_KEYS).decode(),
            html=html,
            pdf=pdf,
            stix_id=stix_id,
        )
    )
