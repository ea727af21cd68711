"""Matching members' inventories against stored vulnerabilities, and priority.

An inventory item and a product entry match when their vendor keys and
product keys are equal (see :mod:`medisac.vulns.names`). The version then
decides:

- a version inside a ``known_not_affected`` range, or at or after a version
  listed as fixed, is not affected;
- a version inside an affected range is a *certain* match;
- an item without a version is a *possible* match, and so is a version that
  cannot be ordered against the range (``U50`` against ``<= L81``) or a
  range that could not be read (KEV entries give none). Possible matches are
  listed after the certain ones, for a person to check.

Priority, 0-100, ranks what to patch first: 40 when CISA lists the CVE as
exploited (KEV), 20 more for known ransomware use, the CVSS base score times
three (up to 30), and 10 when the product is a medical device.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.store.tables import inventory, vuln_notifications, vuln_products
from medisac.vulns.inventory import InventoryItem, list_inventory
from medisac.vulns.names import product_key, vendor_key
from medisac.vulns.ranges import RangeError, parse_range
from medisac.vulns.records import ProductRow, VulnRecord
from medisac.vulns.store import get_vulnerabilities
from medisac.vulns.versions import VersionError, compare, parse_version

__all__ = [
    "Match",
    "match_item",
    "matches_for_org",
    "notify_matches",
    "pending_notifications",
    "priority",
]

KEV_POINTS = 40
RANSOMWARE_POINTS = 20
CVSS_FACTOR = 3
DEVICE_POINTS = 10


@dataclass(frozen=True, slots=True)
class Match:
    """One inventory item that a vulnerability affects (``certain``) or may affect."""

    cve: str
    item: InventoryItem
    product: ProductRow
    certain: bool
    reason: str
    priority: int
    record: VulnRecord

    def as_dict(self) -> dict[str, Any]:
        """Return the match as JSON-ready data."""
        return {
            "cve": self.cve,
            "priority": self.priority,
            "certain": self.certain,
            "reason": self.reason,
            "title": self.record.title,
            "kev": self.record.kev,
            "known_ransomware_use": self.record.ransomware,
            "cvss": self.record.cvss,
            "healthcare": self.record.healthcare,
            "asset": self.item.as_dict(),
            "affected": self.product.as_dict(),
        }


def priority(record: VulnRecord, device: bool) -> int:
    """Return the 0-100 priority of ``record`` on a product (see the module text)."""
    points = 0
    if record.kev:
        points += KEV_POINTS
    if record.ransomware:
        points += RANSOMWARE_POINTS
    points += round((record.cvss or 0.0) * CVSS_FACTOR)
    if device:
        points += DEVICE_POINTS
    return min(points, 100)


def _excluded(version_text: str, rows: list[ProductRow]) -> str | None:
    """Return why a fixed or not-affected entry rules the version out, if one does."""
    version = parse_version(version_text)
    for row in rows:
        if row.version_range is None:
            continue
        found = parse_range(row.version_range)
        if row.status == "not_affected" and found.contains(version):
            return f"version {version_text} is listed as not affected"
        if row.status != "fixed":
            continue
        points = [iv.lower for iv in found.intervals if iv.is_point and iv.lower]
        for bound in points:
            order = compare(version, bound.version)
            if order is not None and order >= 0:
                return f"version {version_text} is at or after fixed {bound.version}"
        if not points and found.contains(version):
            return f"version {version_text} is in the fixed range {row.version_range}"
    return None


def match_item(
    item: InventoryItem, rows: list[ProductRow]
) -> tuple[bool, str, ProductRow] | None:
    """Decide whether the product entries ``rows`` of one CVE affect ``item``.

    ``rows`` are the entries whose vendor and product match the item. Returns
    (certain, reason, entry) for a certain or possible match, None otherwise.
    """
    affected = [row for row in rows if row.status == "affected"]
    if not affected:
        return None
    if not item.version:
        return False, "the inventory gives no version", affected[0]
    try:
        version = parse_version(item.version)
        why_not = _excluded(item.version, [r for r in rows if r.status != "affected"])
    except (VersionError, RangeError) as exc:
        return False, f"the inventory version cannot be read: {exc}", affected[0]
    if why_not is not None:
        return None
    possible: tuple[bool, str, ProductRow] | None = None
    for row in affected:
        if row.version_range is None:
            reason = f"versions {row.versions!r} not compared: {row.range_error}"
            possible = possible or (False, reason, row)
            continue
        inside = parse_range(row.version_range).contains(version)
        if inside:
            return True, f"version {item.version} is in {row.version_range}", row
        if inside is None:
            reason = (
                f"version {item.version} cannot be ordered against {row.version_range}"
            )
            possible = possible or (False, reason, row)
    return possible


def _candidates(
    conn: Connection, items: list[InventoryItem], cves: list[str] | None = None
) -> dict[str, list[ProductRow]]:
    """Return product entries by CVE whose vendor one of ``items`` shares."""
    vendors = sorted({vendor_key(item.vendor) for item in items})
    found: dict[str, list[ProductRow]] = defaultdict(list)
    for start in range(0, len(vendors), 500):
        query = sa.select(vuln_products).where(
            vuln_products.c.vendor_key.in_(vendors[start : start + 500])
        )
        if cves is not None:
            query = query.where(vuln_products.c.cve.in_(cves))
        for row in conn.execute(query.order_by(vuln_products.c.id)):
            found[row.cve].append(ProductRow.from_row(row))
    return found


def _match_all(
    conn: Connection, items: list[InventoryItem], cves: list[str] | None = None
) -> list[tuple[str, InventoryItem, tuple[bool, str, ProductRow]]]:
    # Entries by (vendor key, product key), then by CVE, so each item looks
    # up only the entries of its own product.
    by_product: dict[tuple[str, str], dict[str, list[ProductRow]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for cve, rows in _candidates(conn, items, cves).items():
        for row in rows:
            by_product[(row.vendor_key, row.product_key)][cve].append(row)
    results = []
    for item in items:
        key = (vendor_key(item.vendor), product_key(item.product, item.vendor))
        for cve, same in by_product.get(key, {}).items():
            outcome = match_item(item, same)
            if outcome is not None:
                results.append((cve, item, outcome))
    return results


def matches_for_org(
    conn: Connection,
    org_id: str,
    *,
    include_possible: bool = True,
    kev: bool | None = None,
    healthcare: bool | None = None,
) -> list[Match]:
    """Return the vulnerabilities that affect what ``org_id`` runs, most urgent first.

    Certain matches come first, then by priority, CVSS and CVE id. With
    ``include_possible`` false only certain matches are returned.
    """
    items = list_inventory(conn, org_id)
    found = _match_all(conn, items)
    records = get_vulnerabilities(conn, [cve for cve, _item, _outcome in found])
    matches = []
    for cve, item, (certain, reason, row) in found:
        if not certain and not include_possible:
            continue
        record = records[cve]
        if kev is not None and record.kev != kev:
            continue
        if healthcare is not None and record.healthcare != healthcare:
            continue
        device = item.is_device or row.device
        matches.append(
            Match(cve, item, row, certain, reason, priority(record, device), record)
        )
    matches.sort(
        key=lambda m: (not m.certain, -m.priority, -(m.record.cvss or 0.0), m.cve)
    )
    return matches


def notify_matches(conn: Connection, cves: list[str], now: int) -> int:
    """Add a notification per organisation that ``cves`` certainly affect.

    An organisation that still has an undelivered notification for a CVE
    gets no second one. Returns the number of notifications added.
    """
    if not cves:
        return 0
    orgs = [
        row.org_id for row in conn.execute(sa.select(inventory.c.org_id).distinct())
    ]
    n = vuln_notifications.c
    added = 0
    for org_id in orgs:
        items = list_inventory(conn, org_id)
        hit: set[str] = set()
        for start in range(0, len(cves), 500):
            found = _match_all(conn, items, cves[start : start + 500])
            hit.update(cve for cve, _item, outcome in found if outcome[0])
        for cve in sorted(hit):
            pending = conn.execute(
                sa.select(n.id).where(
                    n.org_id == org_id, n.cve == cve, n.delivered.is_(None)
                )
            ).first()
            if pending is None:
                conn.execute(
                    vuln_notifications.insert().values(
                        org_id=org_id, cve=cve, created=now, delivered=None
                    )
                )
                added += 1
    return added


def pending_notifications(conn: Connection, org_id: str | None = None) -> list[Any]:
    """Return undelivered notification rows, oldest first."""
    n = vuln_notifications.c
    query = sa.select(vuln_notifications).where(n.delivered.is_(None)).order_by(n.id)
    if org_id is not None:
        query = query.where(n.org_id == org_id)
    return list(conn.execute(query))
