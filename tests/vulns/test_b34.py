"""B34: one CSAF product given as a branch, a range and a full product name."""

from __future__ import annotations

from pathlib import Path

from medisac.store.engine import begin_write
from medisac.vulns.match import pending_notifications
from medisac.vulns.store import get_vulnerability
from tests.conftest import Store
from tests.vulns.support import certain, ingest_files, matches, member

CASE = "B34-csaf-branch-shapes.json"


def test_b34_branch_shapes(store: Store, cases_dir: Path) -> None:
    engine = store.engine
    clinic = member(
        engine,
        "pump-clinic",
        [("Example Medical", "InfusionPump X", v) for v in ("2.1.0", "2.5.0", "3.0.0")],
    )
    summary = ingest_files(engine, cases_dir / CASE, source="b34")
    assert summary.failed == []
    assert summary.rejected == 0
    assert summary.formats["csaf"] == 1

    # 1. One vulnerability, linked to the advisory.
    with engine.connect() as conn:
        record = get_vulnerability(conn, "CVE-2099-0001")
    assert record is not None
    assert [d.document for d in record.documents] == ["EXMED-2024-0007"]

    # 2. One product, no version in its name: 2.1.0 (0001 and 0003 merged)
    # and the range <3.0.0 (0002).
    products = [(p.vendor, p.product, p.version_range) for p in record.products]
    assert sorted(products) == [
        ("Example Medical", "InfusionPump X", "2.1.0"),
        ("Example Medical", "InfusionPump X", "<3.0.0"),
    ]
    merged = next(p for p in record.products if p.version_range == "2.1.0")
    assert merged.cpe == "cpe:2.3:h:example_medical:infusionpump_x:2.1.0:*:*:*:*:*:*:*"

    # 3. 2.1.0 and 2.5.0 are affected, 3.0.0 is not.
    assert certain(engine, clinic) == {
        ("CVE-2099-0001", "2.1.0"),
        ("CVE-2099-0001", "2.5.0"),
    }
    assert all(m.certain for m in matches(engine, clinic))

    # 4. Medical-device relevant: an infusion pump from a device publisher.
    assert record.healthcare is True
    assert record.healthcare_reason is not None
    assert "InfusionPump X" in record.healthcare_reason
    assert all(p.device for p in record.products)


def test_b34_notifies_once(store: Store, cases_dir: Path) -> None:
    engine = store.engine
    clinic = member(
        engine, "pump-clinic", [("Example Medical", "InfusionPump X", "2.5.0")]
    )
    other = member(
        engine, "other-clinic", [("Example Medical", "InfusionPump X", "3.0.0")]
    )
    ingest_files(engine, cases_dir / CASE, source="b34")
    again = ingest_files(engine, cases_dir / CASE, source="b34")
    assert again.merge.unchanged == 1
    assert again.merge.new == 0
    with begin_write(engine) as conn:
        rows = pending_notifications(conn)
    assert [(row.org_id, row.cve) for row in rows] == [(clinic, "CVE-2099-0001")]
    assert other not in {row.org_id for row in rows}
