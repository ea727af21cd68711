"""Helpers for vulnerability tests: members, inventories and ingest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from medisac.members.orgs import add_org
from medisac.store.engine import begin_write
from medisac.vulns.inventory import InventoryItem, store_inventory
from medisac.vulns.match import Match, matches_for_org
from tests.helpers import ingest_paths


def member(engine: Engine, name: str, items: list[tuple[str, str, str]]) -> str:
    """Add an organisation running ``items`` (vendor, product, version).

    Returns the organisation's id.
    """
    with begin_write(engine) as conn:
        org = add_org(conn, name)
        store_inventory(
            conn, org.id, [InventoryItem(*item) for item in items], "api", 1
        )
    return org.id


def matches(engine: Engine, org_id: str) -> list[Match]:
    """Return every match of one organisation."""
    with engine.connect() as conn:
        return matches_for_org(conn, org_id)


def certain(engine: Engine, org_id: str) -> set[tuple[str, str]]:
    """Return (CVE, asset version) of the certain matches of one organisation."""
    return {(m.cve, m.item.version) for m in matches(engine, org_id) if m.certain}


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` and return the path."""
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def ingest_files(engine: Engine, *paths: Path, source: str = "vulns") -> Any:
    """Ingest files through ``medisac ingest``'s loop and return its summary."""
    return ingest_paths(engine, list(paths), source=source)


def csaf(
    product_tree: Any, vulnerabilities: list[Any], tracking_id: str = "EX-1"
) -> dict[str, Any]:
    """Return a minimal valid CSAF 2.0 advisory around a product tree."""
    return {
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "title": f"advisory {tracking_id}",
            "publisher": {
                "category": "vendor",
                "name": "Example Devices",
                "namespace": "https://example.com",
            },
            "tracking": {
                "id": tracking_id,
                "status": "final",
                "version": "1",
                "initial_release_date": "2024-05-01T00:00:00.000Z",
                "current_release_date": "2024-05-01T00:00:00.000Z",
                "revision_history": [],
            },
        },
        "product_tree": product_tree,
        "vulnerabilities": vulnerabilities,
    }


def branch_tree(vendor: str, product: str, versions: dict[str, str]) -> dict[str, Any]:
    """Return a product tree with one vendor and product and ids for ``versions``.

    ``versions`` maps a product id to a version (or a range starting with
    ``vers:`` or an operator).
    """
    leaves = []
    for product_id, version in versions.items():
        is_range = version.startswith(("vers:", "<", ">"))
        leaves.append(
            {
                "category": "product_version_range" if is_range else "product_version",
                "name": version,
                "product": {"product_id": product_id, "name": f"{product} {version}"},
            }
        )
    return {
        "branches": [
            {
                "category": "vendor",
                "name": vendor,
                "branches": [
                    {"category": "product_name", "name": product, "branches": leaves}
                ],
            }
        ]
    }


# The KEV catalogue's CSV form, with CISA's quoting of commas.
KEV_CSV = (
    "cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,"
    "requiredAction,dueDate,knownRansomwareCampaignUse,notes,cwes\n"
    'CVE-2099-4000,Example,Gateway,"Example Gateway Flaw",2099-01-02,'
    '"A flaw, with a comma.","Apply updates.",2099-01-23,Known,'
    '"https://example.com/a ; https://example.com/b","CWE-20, CWE-79"\n'
)

# A minimal published CVE JSON 5 record.
CVE_RECORD: dict[str, Any] = {
    "dataType": "CVE_RECORD",
    "dataVersion": "5.1",
    "cveMetadata": {"cveId": "CVE-2099-2000", "state": "PUBLISHED"},
    "containers": {
        "cna": {
            "providerMetadata": {"orgId": "00000000-0000-4000-8000-000000000000"},
            "descriptions": [{"lang": "en", "value": "Another flaw."}],
            "affected": [
                {
                    "vendor": "Example Devices",
                    "product": "Pump P",
                    "versions": [
                        {
                            "version": "0",
                            "lessThan": "4.2",
                            "status": "affected",
                            "versionType": "custom",
                        }
                    ],
                }
            ],
            "references": [{"url": "https://example.com/advisory"}],
        }
    },
}
