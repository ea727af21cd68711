"""The sensor and live-delivery routes of the JSON API, in one process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medisac.members.orgs import OrgKind, add_org
from medisac.model import TLP
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store.engine import begin_write
from medisac.store.keys import create_key
from tests.conftest import Store
from tests.live.support import Member, add_member, bearer


# The routes are the subject here; the store paths run on both backends in
# tests/sensors and the other live tests.
@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'medisac.db'}"


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with TestClient(app) as test_client:
        yield test_client


def key_with(store: Store, scopes: str) -> str:
    with begin_write(store.engine) as conn:
        org = add_org(
            conn,
            f"Scoped {scopes}",
            tier="standard",
            clearance=TLP.GREEN,
            kind=OrgKind.CLINIC,
            trusted=False,
        )
        return create_key(conn, "probe", scopes, org_id=org.id)


BATCH = {"batch_id": "api-1", "sightings": ["203.0.113.77", "not a value"]}


def test_sensor_only_key_posts(client: TestClient, store: Store) -> None:
    response = client.post(
        "/api/v1/sightings:batch", json=BATCH, headers=bearer(key_with(store, "sensor"))
    )
    assert response.status_code == 200
    assert response.json()["rejected"] == [
        {
            "index": 1,
            "field": "value",
            "reason": "invalid value: not a recognised indicator value",
        }
    ]


def test_read_key_rejected(client: TestClient, store: Store) -> None:
    response = client.post(
        "/api/v1/sightings:batch", json=BATCH, headers=bearer(key_with(store, "read"))
    )
    assert response.status_code == 403


def test_sensor_key_cannot_read(client: TestClient, store: Store) -> None:
    response = client.get(
        "/api/v1/indicators", headers=bearer(key_with(store, "sensor"))
    )
    assert response.status_code == 403


def test_retried_batch_reported(client: TestClient, store: Store) -> None:
    headers = bearer(key_with(store, "sensor"))
    client.post("/api/v1/sightings:batch", json=BATCH, headers=headers)
    again = client.post("/api/v1/sightings:batch", json=BATCH, headers=headers)
    assert again.json()["duplicate"] is True


def test_invalid_batch_names_field(client: TestClient, store: Store) -> None:
    response = client.post(
        "/api/v1/sightings:batch",
        json={"batch_id": "b", "sightings": []},
        headers=bearer(key_with(store, "sensor")),
    )
    assert response.status_code == 400
    assert "sightings" in response.json()["description"]


def test_subscription_round_trip(client: TestClient, store: Store) -> None:
    member: Member = add_member(store.engine, "Sub Clinic")
    wanted = {
        "types": ["domain", "ipv4"],
        "min_confidence": 60,
        "healthcare_only": True,
    }
    client.put("/api/v1/subscription", json=wanted, headers=bearer(member.key))
    stored = client.get("/api/v1/subscription", headers=bearer(member.key))
    assert stored.json() == wanted


def test_subscription_unknown_type(client: TestClient, store: Store) -> None:
    member = add_member(store.engine, "Typo Clinic")
    response = client.put(
        "/api/v1/subscription", json={"types": ["ipv5"]}, headers=bearer(member.key)
    )
    assert response.status_code == 400


def test_webhook_private_target_rejected(client: TestClient, store: Store) -> None:
    member = add_member(store.engine, "Hook Api Clinic")
    response = client.post(
        "/api/v1/webhooks",
        json={"url": "https://169.254.169.254/latest"},
        headers=bearer(member.key),
    )
    assert response.status_code == 400
    assert "not a public address" in response.json()["description"]


def test_webhook_secret_shown_once(client: TestClient, store: Store) -> None:
    member = add_member(store.engine, "Secret Clinic")
    created = client.post(
        "/api/v1/webhooks",
        json={"url": "https://hooks.example.org/medisac"},
        headers=bearer(member.key),
    )
    listed = client.get("/api/v1/webhooks", headers=bearer(member.key))
    assert len(created.json()["secret"]) == 64
    assert listed.json()[0]["secret"] is None


def test_webhook_removed(client: TestClient, store: Store) -> None:
    member = add_member(store.engine, "Remove Clinic")
    created = client.post(
        "/api/v1/webhooks",
        json={"url": "https://hooks.example.org/x"},
        headers=bearer(member.key),
    ).json()
    gone = client.delete(
        f"/api/v1/webhooks/{created['id']}", headers=bearer(member.key)
    )
    assert gone.status_code == 204
    assert client.get("/api/v1/webhooks", headers=bearer(member.key)).json() == []


def test_operator_has_no_webhooks(client: TestClient, store: Store) -> None:
    response = client.get("/api/v1/webhooks", headers=bearer(store.operator_key))
    assert response.status_code == 403
