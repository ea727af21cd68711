"""Indicators name the CVEs their source relates them to, as STIX references."""

from __future__ import annotations

import json
from pathlib import Path

from stix2validator import ValidationOptions, validate_instance

from medisac.store.views import indicator_view, render_body
from tests.conftest import Store
from tests.helpers import ingest_paths, record


def references(store: Store, kind: str, value: str) -> list[dict[str, str]]:
    body = json.loads(render_body(indicator_view(record(store.engine, kind, value))))
    assert validate_instance(body, ValidationOptions(version="2.1")).is_valid
    return [ref for ref in body["external_references"] if ref["source_name"] == "cve"]


def test_misp_event_links_cves(store: Store, tmp_path: Path) -> None:
    event = {
        "Event": {
            "uuid": "5a1b2c3d-0000-4000-8000-0000000000f1",
            "info": "exploitation of a PACS server",
            "Attribute": [
                {"type": "ip-dst", "value": "198.51.100.41", "to_ids": True},
                {"type": "vulnerability", "value": "cve-2024-1275"},
                {"type": "vulnerability", "value": "not a cve"},
            ],
            "Object": [
                {
                    "name": "vulnerability",
                    "Attribute": [{"type": "vulnerability", "value": "CVE-2022-40263"}],
                }
            ],
        }
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    ingest_paths(store.engine, [path], fmt="misp", source="misp")
    found = references(store, "ipv4", "198.51.100.41")
    assert found == [
        {"source_name": "cve", "external_id": "CVE-2022-40263"},
        {"source_name": "cve", "external_id": "CVE-2024-1275"},
    ]


def test_stix_relationship_links_cve(store: Store, tmp_path: Path) -> None:
    indicator_id = "indicator--6d9a3b1e-2f4c-4e8a-9b7d-1c2e3f4a5b6c"
    vulnerability_id = "vulnerability--0c9e2f1a-7b3d-4c5e-8f6a-9b8c7d6e5f4a"
    bundle = {
        "type": "bundle",
        "id": "bundle--1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b",
        "objects": [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": indicator_id,
                "created": "2026-12-01T00:00:00.000Z",
                "modified": "2026-12-01T00:00:00.000Z",
                "pattern": "[domain-name:value = 'pacs-exploit.example.net']",
                "pattern_type": "stix",
                "valid_from": "2026-12-01T00:00:00Z",
            },
            {
                "type": "vulnerability",
                "spec_version": "2.1",
                "id": vulnerability_id,
                "created": "2026-12-01T00:00:00.000Z",
                "modified": "2026-12-01T00:00:00.000Z",
                "name": "CVE-2024-1275",
                "external_references": [
                    {"source_name": "cve", "external_id": "CVE-2024-1275"}
                ],
            },
            {
                "type": "relationship",
                "spec_version": "2.1",
                "id": "relationship--3a4b5c6d-7e8f-4a1b-8c2d-3e4f5a6b7c8d",
                "created": "2026-12-01T00:00:00.000Z",
                "modified": "2026-12-01T00:00:00.000Z",
                "relationship_type": "related-to",
                "source_ref": indicator_id,
                "target_ref": vulnerability_id,
            },
        ],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    ingest_paths(store.engine, [path], fmt="stix", source="stix")
    found = references(store, "domain", "pacs-exploit.example.net")
    assert found == [{"source_name": "cve", "external_id": "CVE-2024-1275"}]


def test_no_cve_no_reference(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text("198.51.100.42\n")
    ingest_paths(store.engine, [path], fmt="plain", source="plain")
    assert references(store, "ipv4", "198.51.100.42") == []
