"""Invalid advisories and records are rejected by field, and nothing else is lost."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from medisac.errors import IngestError
from medisac.ingest.reader import expand
from medisac.vulns.csaf import parse_csaf
from medisac.vulns.cve5 import parse_cve_record
from medisac.vulns.fields import FieldError
from medisac.vulns.ingest import parse_vuln_document
from medisac.vulns.kev import parse_kev_csv, parse_kev_json
from medisac.vulns.store import get_vulnerability
from tests.conftest import Store
from tests.vulns.support import (
    CVE_RECORD,
    branch_tree,
    csaf,
    ingest_files,
    write_json,
)

TREE = branch_tree("Example Devices", "Monitor M", {"P1": "<2.0", "P2": "2.0"})
GOOD = csaf(
    TREE,
    [
        {
            "cve": "CVE-2099-1000",
            "notes": [{"category": "description", "text": "A flaw."}],
            "product_status": {"known_affected": ["P1"], "fixed": ["P2"]},
            "scores": [
                {
                    "cvss_v3": {
                        "baseScore": 7.5,
                        "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
                        "version": "3.1",
                    },
                    "products": ["P1"],
                }
            ],
            "remediations": [
                {
                    "category": "vendor_fix",
                    "details": "Update to 2.0.",
                    "product_ids": ["P1"],
                }
            ],
        }
    ],
)


def broken(
    path: list[str | int], value: Any = None, *, delete: bool = False
) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (
            broken(["product_tree", "branches", 0, "category"], delete=True),
            "product_tree.branches[0].category",
        ),
        (
            broken(["product_tree", "branches", 0, "branches", 0, "name"], 7),
            "product_tree.branches[0].branches[0].name",
        ),
        (
            broken(
                [
                    "product_tree",
                    "branches",
                    0,
                    "branches",
                    0,
                    "branches",
                    1,
                    "product",
                    "product_id",
                ],
                delete=True,
            ),
            "product_tree.branches[0].branches[0].branches[1].product.product_id",
        ),
        (broken(["product_tree", "branches"], {}), "product_tree.branches"),
        (
            broken(["product_tree", "branches", 0, "category"], "model"),
            "product_tree.branches[0].category",
        ),
        (broken(["document", "tracking", "id"], delete=True), "document.tracking.id"),
        (broken(["document", "csaf_version"], "1.2"), "document.csaf_version"),
    ],
)
def test_invalid_csaf_names_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_csaf("advisory.json", doc)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert str(caught.value).startswith("advisory.json")


def test_duplicate_product_id_rejected() -> None:
    leaves = GOOD["product_tree"]["branches"][0]["branches"][0]["branches"]
    doc = broken(
        ["product_tree", "full_product_names"], [{"product_id": "P1", "name": "again"}]
    )
    assert leaves
    with pytest.raises(FieldError, match="a second time"):
        parse_csaf("advisory.json", doc)


def test_unknown_product_reference_rejects_one_entry() -> None:
    doc = broken(
        ["vulnerabilities", 0, "product_status", "known_affected"], ["P1", "P9"]
    )
    parsed = parse_csaf("advisory.json", doc)
    assert [r.location for r in parsed.rejections] == [
        "vulnerabilities[0].product_status.known_affected[1]"
    ]
    assert "P9" in parsed.rejections[0].reason
    assert [p.versions for p in parsed.vulnerabilities[0].products] == ["<2.0", "2.0"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (["cveMetadata", "cveId"], "cveMetadata.cveId"),
        (["cveMetadata", "state"], "cveMetadata.state"),
        (["dataType"], "dataType"),
        (["containers", "cna", "descriptions"], "containers.cna.descriptions"),
        (["containers", "cna", "affected"], "containers.cna.affected"),
        (["containers", "cna", "references"], "containers.cna.references"),
        (["containers", "cna", "providerMetadata"], "containers.cna.providerMetadata"),
    ],
)
def test_cve_record_missing_field(path: list[str], field: str) -> None:
    record = copy.deepcopy(CVE_RECORD)
    target: Any = record
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    with pytest.raises(FieldError) as caught:
        parse_cve_record("CVE-2099-2000.json", record)
    assert caught.value.field == field
    assert f"field {field} is missing" in str(caught.value)


def test_kev_entry_missing_field_rejected_alone() -> None:
    catalogue = {
        "catalogVersion": "2099.01.01",
        "vulnerabilities": [
            {
                "cveID": "CVE-2099-3000",
                "vendorProject": "Example",
                "product": "Gateway",
                "dateAdded": "2099-01-01",
                "knownRansomwareCampaignUse": "Known",
            },
            {"cveID": "CVE-2099-3001", "product": "Gateway", "dateAdded": "2099-01-01"},
            {
                "cveID": "CVE-2099-3002",
                "vendorProject": "Example",
                "product": "Gateway",
                "dateAdded": "01/01/2099",
            },
        ],
    }
    parsed = parse_kev_json("kev.json", catalogue)
    assert [v.cve for v in parsed.vulnerabilities] == ["CVE-2099-3000"]
    assert parsed.vulnerabilities[0].kev is not None
    assert parsed.vulnerabilities[0].kev.ransomware is True
    reasons = {r.location: r.reason for r in parsed.rejections}
    assert (
        reasons["vulnerabilities[1] (CVE-2099-3001)"]
        == "field vendorProject is missing or empty"
    )
    assert "dateAdded" in reasons["vulnerabilities[2] (CVE-2099-3002)"]


def test_kev_csv_missing_column() -> None:
    with pytest.raises(FieldError, match="column dateAdded"):
        parse_kev_csv("kev.csv", "cveID,vendorProject,product\nCVE-2099-1,a,b\n")


def test_rejected_file_loses_nothing(store: Store, tmp_path: Path) -> None:
    engine = store.engine
    good = write_json(tmp_path / "good.json", GOOD)
    ingest_files(engine, good)
    bad_tree = write_json(
        tmp_path / "bad.json",
        broken(["product_tree", "branches", 0, "branches", 0, "name"], delete=True),
    )
    record = write_json(tmp_path / "record.json", CVE_RECORD)
    missing = copy.deepcopy(CVE_RECORD)
    del missing["containers"]["cna"]["descriptions"]
    bad_record = write_json(tmp_path / "bad-record.json", missing)
    summary = ingest_files(engine, bad_tree, record, bad_record)
    reasons = sorted(failure.reason for failure in summary.failed)
    assert len(reasons) == 2
    assert "field containers.cna.descriptions is missing" in reasons[0]
    assert "field product_tree.branches[0].branches[0].name is missing" in reasons[1]
    with engine.connect() as conn:
        kept = get_vulnerability(conn, "CVE-2099-1000")
        added = get_vulnerability(conn, "CVE-2099-2000")
    assert kept is not None
    assert kept.cvss_v3 == 7.5
    assert kept.description == "A flaw."
    assert [p.status for p in kept.products] == ["affected", "fixed"]
    assert kept.products[0].remediation == "Update to 2.0."
    assert added is not None
    assert added.products[0].version_range == "<4.2"


def test_not_json_is_ingest_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(GOOD)[:200], encoding="utf-8")
    (doc,) = expand([path], 1 << 20)
    with pytest.raises(IngestError, match="invalid JSON"):
        parse_vuln_document(doc, "csaf")
