"""Known-exploited vulnerabilities and medical-device advisories of a month."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.model.time import format_rfc3339
from medisac.report.period import Month
from medisac.report.queries import COMPARE_MONTHS
from medisac.store.tables import (
    vuln_documents,
    vuln_products,
    vulnerabilities,
)


def _healthcare_flag() -> sa.ColumnElement[bool]:
    vc = vulnerabilities.c
    return sa.func.coalesce(vc.healthcare_set, vc.healthcare).is_(True)


def vulns(conn: Connection, month: Month) -> dict[str, Any]:
    """KEV entries added in the month and the medical-device advisories received.

    Vulnerability records are TLP:CLEAR, so every edition shows all of them.
    """
    vc = vulnerabilities.c
    history: list[dict[str, Any]] = []
    for back in range(COMPARE_MONTHS, -1, -1):
        past = month.shifted(-back)
        in_past = sa.and_(vc.kev_date_added >= past.start, vc.kev_date_added < past.end)
        total, health = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(_healthcare_flag()),
            ).where(in_past)
        ).one()
        history.append({"month": past.label, "kev": total, "healthcare": health})
    rows = conn.execute(
        sa.select(vc.cve, vc.title, vc.kev_date_added, vc.kev_ransomware, vc.cvss_v3)
        .where(
            vc.kev_date_added >= month.start,
            vc.kev_date_added < month.end,
            _healthcare_flag(),
        )
        .order_by(vc.kev_date_added, vc.cve)
    ).all()
    products = _products(conn, [row.cve for row in rows])
    kev = [
        {
            "cve": row.cve,
            "title": row.title or "",
            "date_added": format_rfc3339(row.kev_date_added, digits=0)[:10],
            "ransomware": bool(row.kev_ransomware),
            "cvss": None if row.cvss_v3 is None else row.cvss_v3 / 10,
            "products": products.get(row.cve, []),
        }
        for row in rows
    ]
    return {
        "kev": kev,
        "kev_added": history[-1]["kev"],
        "months": history,
        "device_advisories": _device_advisories(conn, month),
    }


def _products(conn: Connection, cves: list[str]) -> dict[str, list[str]]:
    if not cves:
        return {}
    pc = vuln_products.c
    rows = conn.execute(
        sa.select(pc.cve, pc.vendor, pc.product)
        .where(pc.cve.in_(cves), pc.status == "affected")
        .distinct()
        .order_by(pc.cve, pc.vendor, pc.product)
    )
    found: dict[str, list[str]] = defaultdict(list)
    for cve, vendor, product in rows:
        name = (
            product
            if product.lower().startswith(vendor.lower())
            else f"{vendor} {product}"
        )
        if name not in found[cve]:
            found[cve].append(name)
    return {cve: names[:3] for cve, names in found.items()}


def _device_advisories(conn: Connection, month: Month) -> list[dict[str, Any]]:
    """CSAF advisories received in the month that concern medical devices."""
    # TODO: advisories count in the month the exchange ingested them, because
    # the store keeps no CSAF release date. Storing that date would fix it.
    dc = vuln_documents.c
    pc = vuln_products.c
    device = sa.exists().where(
        pc.cve == dc.cve, pc.document == dc.document, pc.device.is_(True)
    )
    rows = conn.execute(
        sa.select(dc.document, dc.title, dc.publisher, dc.cve)
        .where(
            dc.format == "csaf",
            dc.ingested >= month.start,
            dc.ingested < month.end,
            sa.or_(dc.document.ilike("icsma-%"), device),
        )
        .order_by(dc.document, dc.cve)
    ).all()
    # One display name per vendor key, so that spellings of one vendor in
    # different advisories count together.
    named = conn.execute(
        sa.select(pc.document, pc.vendor_key, pc.vendor)
        .where(pc.document.in_(sorted({row.document for row in rows})))
        .order_by(pc.document, pc.vendor_key, pc.vendor)
    ).all()
    display: dict[str, str] = {}
    vendors: dict[str, str] = {}
    for document, key, vendor in named:
        display.setdefault(key, vendor)
        vendors.setdefault(document, display[key])
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = grouped.setdefault(
            row.document,
            {
                "document": row.document,
                "title": row.title or "",
                "vendor": vendors.get(row.document) or row.publisher or "unknown",
                "cves": [],
            },
        )
        entry["cves"].append(row.cve)
    return list(grouped.values())
