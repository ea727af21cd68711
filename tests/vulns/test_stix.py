"""Vulnerabilities as STIX 2.1 objects that stix2-validator accepts."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from stix2validator import ValidationOptions, validate_instance

from medisac.model import TLP
from medisac.server import create_app
from medisac.settings import Settings
from medisac.taxii.media import TAXII_MEDIA_TYPE
from medisac.vulns.stix import render_bundle, render_vulnerability, vulnerability_id
from medisac.vulns.store import get_vulnerability
from tests.conftest import Store
from tests.members.conftest import add_member
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


def test_vulnerabilities_served_over_taxii(store: Store, tmp_path: Path) -> None:
    ingest_files(store.engine, write_json(tmp_path / "kev.json", KEV))
    member = add_member(store, "Pump Clinic", clearance=TLP.GREEN)
    path = "/taxii2/api/collections/vulnerabilities/objects/"
    headers = {
        "Authorization": f"Bearer {member.reader}",
        "Accept": TAXII_MEDIA_TYPE,
    }
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with TestClient(app) as client:
        body = client.get(path, headers=headers).json()
        indicators = client.get(
            "/taxii2/api/collections/indicators/objects/", headers=headers
        ).json()
    served = [obj for obj in body["objects"] if obj["type"] == "vulnerability"]
    assert [obj["id"] for obj in served] == [vulnerability_id("CVE-2099-0001")]
    options = ValidationOptions(version="2.1", strict=False)
    assert validate_instance(served[0], options).is_valid
    types = {obj["type"] for obj in indicators.get("objects", [])}
    assert "vulnerability" not in types
    # Storing the same catalogue again publishes no new version.
    ingest_files(store.engine, write_json(tmp_path / "again.json", KEV))
    with TestClient(app) as client:
        versions = client.get(f"{path}{served[0]['id']}/versions/", headers=headers)
    assert versions.status_code == 200, versions.text
    assert len(versions.json()["versions"]) == 1
