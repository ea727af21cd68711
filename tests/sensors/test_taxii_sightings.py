"""Sensors that speak TAXII: STIX sightings added to the sightings collection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from taxii2client.v21 import Collection

from medisac.members.lookup import community_counts
from medisac.members.orgs import OrgKind, add_org
from medisac.model import TLP
from medisac.sensors.batch import InvalidBatch
from medisac.sensors.stix import batch_body
from medisac.server import create_app
from medisac.settings import Settings
from medisac.stix.render import stix_id_for
from medisac.store.engine import begin_write
from medisac.store.keys import create_key
from medisac.store.tables import indicators
from tests.conftest import Store
from tests.helpers import ingest_text, serving

SIGHTINGS = "8f2c4a1e-5b7d-4e93-a6c0-2d9e1f3b7a54"
SUBMISSIONS = "5c3b0f0e-6d1a-4f0b-9a57-2f7d8c1e4b90"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
KNOWN = "198.51.100.5"
TAXII = "application/taxii+json;version=2.1"


def _sighting(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--00000000-0000-4000-8000-{number:012d}",
        "created": "2026-12-01T10:00:00.000Z",
        "modified": "2026-12-01T10:00:00.000Z",
        "sighting_of_ref": "indicator--00000000-0000-4000-8000-000000000000",
        **fields,
    }


def _envelope() -> dict[str, Any]:
    return {
        "objects": [
            _sighting(
                1,
                count=4,
                first_seen="2026-12-01T09:00:00Z",
                last_seen="2026-12-01T09:30:00Z",
                observed_data_refs=[
                    "observed-data--00000000-0000-4000-8000-000000000001"
                ],
                object_marking_refs=[GREEN],
            ),
            {
                "type": "observed-data",
                "spec_version": "2.1",
                "id": "observed-data--00000000-0000-4000-8000-000000000001",
                "created": "2026-12-01T10:00:00.000Z",
                "modified": "2026-12-01T10:00:00.000Z",
                "first_observed": "2026-12-01T09:00:00Z",
                "last_observed": "2026-12-01T09:30:00Z",
                "number_observed": 4,
                "object_refs": [
                    "ipv4-addr--00000000-0000-4000-8000-000000000001",
                    "file--00000000-0000-4000-8000-000000000001",
                ],
            },
            {
                "type": "ipv4-addr",
                "spec_version": "2.1",
                "id": "ipv4-addr--00000000-0000-4000-8000-000000000001",
                "value": "203.0.113.77",
            },
            {
                "type": "file",
                "spec_version": "2.1",
                "id": "file--00000000-0000-4000-8000-000000000001",
                "hashes": {"SHA-256": "A" * 64},
            },
            _sighting(2, sighting_of_ref=stix_id_for("ipv4", KNOWN)),
            _sighting(3),
        ]
    }


@pytest.fixture
def sensor(store: Store) -> tuple[str, str]:
    """Return the organisation id and the key of a sensor-only key."""
    with begin_write(store.engine) as conn:
        org = add_org(
            conn,
            "Sensor Clinic",
            tier="standard",
            clearance=TLP.GREEN,
            kind=OrgKind.CLINIC,
            trusted=False,
        )
        return org.id, create_key(conn, "sensor", "sensor", org_id=org.id)


@pytest.fixture
def base_url(store: Store) -> Iterator[str]:
    with serving(create_app(store.engine, Settings.from_env(db=store.url))) as url:
        yield url


def _sighted(store: Store, value: str) -> int:
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(indicators.c.id).where(indicators.c.value == value)
        ).one()
        return community_counts(conn, row.id).sightings


def test_taxii_client_adds_sightings(
    store: Store, sensor: tuple[str, str], base_url: str, tmp_path: Path
) -> None:
    ingest_text(store.engine, tmp_path, f"{KNOWN}\n")
    org_id, key = sensor
    collection = Collection(
        f"{base_url}/taxii2/api/collections/{SIGHTINGS}/", user=org_id, password=key
    )
    assert collection.can_write is True
    status = collection.add_objects(_envelope(), wait_for_completion=False)
    assert status.status == "complete"
    # Four of the address and of the file, one of the known indicator.
    assert status.success_count == 9
    assert status.failure_count == 1
    assert _sighted(store, "203.0.113.77") == 4
    assert _sighted(store, "a" * 64) == 4
    assert _sighted(store, KNOWN) == 1
    again = collection.add_objects(_envelope(), wait_for_completion=False)
    assert again.id == status.id
    assert _sighted(store, "203.0.113.77") == 4
    polled = requests.get(
        f"{base_url}/taxii2/api/status/{status.id}/",
        auth=(org_id, key),
        headers={"Accept": TAXII},
        timeout=10,
    )
    assert polled.status_code == 200
    assert polled.json()["status"] == "complete"
    assert polled.json()["success_count"] == 9


def test_sensor_key_cannot_submit(sensor: tuple[str, str], base_url: str) -> None:
    org_id, key = sensor
    url = f"{base_url}/taxii2/api/collections/{SUBMISSIONS}/"
    headers = {"Accept": TAXII, "Content-Type": TAXII}
    resource = requests.get(url, auth=(org_id, key), headers=headers, timeout=10)
    assert resource.status_code == 403
    added = requests.post(
        f"{url}objects/",
        auth=(org_id, key),
        headers=headers,
        json=_envelope(),
        timeout=10,
    )
    assert added.status_code == 403
    assert "sightings collection only" in added.json()["description"]


def test_envelope_without_sightings_rejected() -> None:
    with pytest.raises(InvalidBatch, match="contains no sighting object"):
        batch_body([{"type": "indicator", "id": "indicator--x"}], lambda _: None)


def test_batch_takes_strictest_marking() -> None:
    objects = _envelope()["objects"]
    objects[4]["object_marking_refs"] = [AMBER]
    known_id = stix_id_for("ipv4", KNOWN)
    body = batch_body(objects, lambda ref: ("ipv4", KNOWN) if ref == known_id else None)
    assert body["tlp"] == "amber"
    assert body["batch_id"].startswith("taxii-")
    values = [item.get("value") for item in body["sightings"]]
    assert values == ["203.0.113.77", "A" * 64, KNOWN, None]
