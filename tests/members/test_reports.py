"""Sightings raise confidence; independent false-positive reports withdraw."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from medisac.members import audit
from medisac.model import TLP
from tests.conftest import Store
from tests.helpers import ingest_text, record
from tests.members.conftest import add_member, bearer

VALUE = "198.51.100.77"


def load(store: Store, tmp_path: Path, tlp: TLP = TLP.GREEN) -> None:
    ingest_text(
        store.engine, tmp_path, f"{VALUE}\n", source="feed", tlp=tlp, confidence=50
    )


def test_sighting_raises_confidence(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    load(store, tmp_path)
    before = record(store.engine, "ipv4", VALUE).confidence
    member = add_member(store, "Seeing Hospital")
    response = client.post(
        "/api/v1/sightings",
        json={"value": VALUE, "count": 3},
        headers=bearer(member.submitter),
    )
    assert response.status_code == 200, response.text
    assert response.json()["withdrawn"] is False
    assert record(store.engine, "ipv4", VALUE).confidence > before


def test_counts_shown_without_reporters(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    load(store, tmp_path)
    reporters = [add_member(store, f"Reporter {n}") for n in range(3)]
    reader = add_member(store, "Reader")

    def community() -> object:
        found = client.get(
            "/api/v1/indicators/lookup",
            params={"value": VALUE},
            headers=bearer(reader.reader),
        ).json()
        text = str(found)
        for member in reporters:
            assert member.org.id not in text
            assert member.org.name not in text
        return found[0]["community"]

    for count, member in enumerate(reporters, start=2):
        client.post(
            "/api/v1/sightings",
            json={"value": VALUE, "count": count},
            headers=bearer(member.submitter),
        )
        if member is reporters[1]:
            # Two organisations: a member could subtract its own count.
            assert community() == {
                "sightings": None,
                "sighting_organisations": None,
                "false_positive_organisations": None,
            }
    assert community() == {
        "sightings": 9,
        "sighting_organisations": 3,
        "false_positive_organisations": None,
    }


def test_two_fp_reports_withdraw(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    load(store, tmp_path)
    first = add_member(store, "Clinic One")
    second = add_member(store, "Clinic Two")
    reply = client.post(
        "/api/v1/false-positives",
        json={"value": VALUE},
        headers=bearer(first.submitter),
    )
    assert reply.json()["withdrawn"] is False
    assert record(store.engine, "ipv4", VALUE).state == "active"
    # The same organisation again is not independent.
    again = client.post(
        "/api/v1/false-positives",
        json={"value": VALUE},
        headers=bearer(first.submitter),
    )
    assert again.json()["withdrawn"] is False
    withdrawn = client.post(
        "/api/v1/false-positives",
        json={"value": VALUE},
        headers=bearer(second.submitter),
    )
    assert withdrawn.json()["withdrawn"] is True
    assert record(store.engine, "ipv4", VALUE).state == "false_positive"
    plain = client.get("/feeds/plain", headers=bearer(second.reader))
    assert VALUE not in plain.text
    with store.engine.connect() as conn:
        entries = audit.query(conn, action="indicator.withdraw")
    assert len(entries) == 1


def test_report_on_hidden_value_is_404(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    load(store, tmp_path, tlp=TLP.AMBER)
    member = add_member(store, "Green Clinic", clearance=TLP.GREEN)
    response = client.post(
        "/api/v1/sightings", json={"value": VALUE}, headers=bearer(member.submitter)
    )
    assert response.status_code == 404
    unknown = client.post(
        "/api/v1/sightings",
        json={"value": "203.0.113.250"},
        headers=bearer(member.submitter),
    )
    assert unknown.status_code == 404


def test_amber_read_is_audited(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    load(store, tmp_path, tlp=TLP.AMBER)
    member = add_member(store, "Amber Hospital", clearance=TLP.AMBER)
    found = client.get(
        "/api/v1/indicators/lookup",
        params={"value": VALUE},
        headers=bearer(member.reader),
    )
    assert len(found.json()) == 1
    with store.engine.connect() as conn:
        entries = audit.query(conn, action="read.")
    assert len(entries) == 1
    assert entries[0].org_id == member.org.id
    assert entries[0].action == "read.amber"
