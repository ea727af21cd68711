"""Matching one inventory item against a CVE's product entries, and priority."""

from __future__ import annotations

import pytest

from medisac.vulns.inventory import InventoryItem
from medisac.vulns.match import match_item, priority
from medisac.vulns.ranges import parse_range
from medisac.vulns.records import ProductRow, VulnRecord


def entry(versions: str, status: str = "affected") -> ProductRow:
    try:
        canonical: str | None = parse_range(versions).canonical()
        error = None
    except ValueError as exc:
        canonical, error = None, str(exc)
    return ProductRow(
        cve="CVE-2099-0001",
        document="EX-1",
        vendor="Example Devices",
        product="Monitor M",
        vendor_key="exampledevices",
        product_key="monitorm",
        versions=versions,
        version_range=canonical,
        range_error=error,
        status=status,
        cpe=None,
        purl=None,
        device=True,
        remediation=None,
    )


def outcome(version: str, *rows: ProductRow) -> bool | None:
    """True for a certain match, False for a possible one, None for none."""
    found = match_item(
        InventoryItem("Example Devices", "Monitor M", version), list(rows)
    )
    return None if found is None else found[0]


@pytest.mark.parametrize(
    ("version", "expected"),
    [("2.9", True), ("3.0", None), ("3.1", None), ("0.1", True)],
)
def test_fixed_version_listed_separately(version: str, expected: bool | None) -> None:
    # Affected: all versions; fixed: 3.0. Versions from 3.0 on are not affected.
    assert outcome(version, entry("vers:all/*"), entry("3.0", "fixed")) is expected


def test_not_affected_range_wins() -> None:
    rows = (entry("<5.0"), entry(">=4.2|<4.3", "not_affected"))
    assert outcome("4.2.1", *rows) is None
    assert outcome("4.1", *rows) is True


def test_possible_matches() -> None:
    assert outcome("", entry("<5.0")) is False
    assert outcome("U50", entry("<= L81")) is False
    assert outcome("1.0", entry("< august 28")) is False
    assert outcome("not a version!", entry("<5.0")) is False


def test_outside_range() -> None:
    assert outcome("5.0", entry("<5.0")) is None
    assert outcome("L82", entry("<= L81")) is None


def record(kev: bool, ransomware: bool, cvss: float | None) -> VulnRecord:
    return VulnRecord(
        cve="CVE-2099-0001",
        title=None,
        description=None,
        cvss_v3=cvss,
        cvss_v3_vector=None,
        cvss_v4=None,
        cvss_v4_vector=None,
        cwes=(),
        references=(),
        published=None,
        kev=kev,
        kev_date_added=None,
        kev_due_date=None,
        ransomware=ransomware,
        required_action=None,
        healthcare=False,
        healthcare_reason=None,
        first_seen=0,
        modified=0,
    )


def test_priority_order() -> None:
    exploited = priority(record(True, True, 9.8), device=True)
    # 40 KEV + 20 ransomware + round(9.8 * 3) + 10 device.
    kev_only = priority(record(True, False, 5.0), device=False)
    critical = priority(record(False, False, 10.0), device=True)
    assert exploited == 99
    assert kev_only == 40 + 15
    assert critical == 30 + 10
    assert exploited > kev_only > critical
    assert priority(record(False, False, None), device=False) == 0
