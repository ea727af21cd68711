"""Vulnerabilities as STIX 2.1 objects that stix2-validator accepts."""

from __future__ import annotations

from pathlib import Path

from stix2validator import ValidationOptions, validate_instance

from medisac.model import TLP
from medisac.vulns.stix import render_bundle, render_vulnerability, vulnerability_id
from medisac.vulns.store import get_vulnerability
from tests.conftest import Store
from tests.vulns.support import ingest_files, write_json

KEV = {
    "catalogVersion": "2099.01.01",
    "vulnerabilities": [
        {
            "cveID": "CVE-2099-0001",
            "vendorProject": "Example Medical",
            "product": "InfusionPump X",
            "vulnerabilityName": "Example Medical InfusionPump X Hard-coded Password",
            "dateAdded": "2099-01-02",
            "shortDescription": "Short text.",
            "requiredAction": "Apply updates.",
            "dueDate": "2099-01-23",
            "knownRansomwareCampaignUse": "Known",
            "notes": "https://example.com/kev-note",
        }
    ],
}


def test_vulnerability_object_validates(
    store: Store, cases_dir: Path, tmp_path: Path
) -> None:
    engine = store.engine
    ingest_files(
        engine,
        cases_dir / "B34-csaf-branch-shapes.json",
        write_json(tmp_path / "kev.json", KEV),
    )
    with engine.connect() as conn:
        record = get_vulnerability(conn, "CVE-2099-0001")
    assert record is not None
    body = render_vulnerability(record)
    assert body["id"] == vulnerability_id("cve-2099-0001")
    assert body["name"] == "CVE-2099-0001"
    assert body["external_references"][0] == {
        "source_name": "cve",
        "external_id": "CVE-2099-0001",
        "url": "https://www.cve.org/CVERecord?id=CVE-2099-0001",
    }
    sources = {ref["source_name"]: ref for ref in body["external_references"]}
    assert sources["csaf"]["external_id"] == "EXMED-2024-0007"
    assert "cisa-kev" in sources
    # The advisory's description wins over KEV's short one.
    assert (
        body["description"]
        == "Hard-coded maintenance password in the pump's service port."
    )
    assert body["labels"] == [
        "known-exploited",
        "ransomware",
        "healthcare",
        "medical-device",
    ]
    assert body["object_marking_refs"] == [TLP.CLEAR.marking_id]
    assert body["x_medisac_kev_date_added"] == "2099-01-02T00:00:00.000Z"
    result = validate_instance(body, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(error) for error in result.errors]

    bundle = render_bundle([record])
    for obj in bundle["objects"]:
        checked = validate_instance(obj, ValidationOptions(version="2.1"))
        assert checked.is_valid, (obj["id"], [str(e) for e in checked.errors])
    assert [obj["type"] for obj in bundle["objects"]] == [
        "identity",
        "marking-definition",
        "vulnerability",
    ]
