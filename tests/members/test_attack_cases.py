"""Hostile cases found by attacking the member paths, kept as regressions."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medisac.members.submissions import get_submission
from medisac.model import TLP
from medisac.stix.render import stix_id_for
from medisac.store.engine import begin_write
from medisac.store.keys import KeyNotFound, resolve_key_id, revoke_key, rotate_key
from medisac.taxii.media import TAXII_MEDIA_TYPE
from medisac.vulns.versions import VersionError, parse_version
from tests.cli.test_feeds_cli import invoke
from tests.conftest import Store
from tests.helpers import ingest_text
from tests.members.conftest import add_member, bearer

OBJECTS = "/taxii2/api/collections/indicators/objects/"


def test_raised_to_red_hides_old_versions(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    ingest_text(store.engine, tmp_path, "198.51.100.10\n", tlp=TLP.GREEN)
    named = add_member(store, "Named Hospital", clearance=TLP.GREEN)
    other = add_member(store, "Other Hospital", clearance=TLP.GREEN)
    result = invoke(
        "mark", "198.51.100.10", "--tlp", "red", "--for", named.org.id, db=store.url
    )
    assert result.returncode == 0, result.stderr
    stix_id = stix_id_for("ipv4", "198.51.100.10")
    for params in ({}, {"match[version]": "all"}, {"match[version]": "first"}):
        for member, visible in ((named, True), (other, False)):
            headers = {**bearer(member.reader), "Accept": TAXII_MEDIA_TYPE}
            one = client.get(f"{OBJECTS}{stix_id}/", params=params, headers=headers)
            assert one.status_code == (200 if visible else 404), (params, visible)
            listed = client.get(
                OBJECTS, params={"match[id]": stix_id, **params}, headers=headers
            )
            assert bool(listed.json().get("objects")) is visible, (params, visible)
    headers = {**bearer(other.reader), "Accept": TAXII_MEDIA_TYPE}
    versions = client.get(f"{OBJECTS}{stix_id}/versions/", headers=headers)
    assert versions.status_code == 404


def test_etag_ignores_hidden_changes(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    ingest_text(store.engine, tmp_path, "198.51.100.11\n", tlp=TLP.GREEN)
    member = add_member(store, "Green Clinic", clearance=TLP.GREEN)
    first = client.get("/feeds/plain", headers=bearer(member.reader))
    tag = first.headers["ETag"]
    ingest_text(
        store.engine, tmp_path, "198.51.100.12\n", tlp=TLP.AMBER, name="amber.txt"
    )
    hidden = client.get(
        "/feeds/plain", headers={**bearer(member.reader), "If-None-Match": tag}
    )
    assert hidden.status_code == 304
    ingest_text(
        store.engine, tmp_path, "198.51.100.13\n", tlp=TLP.GREEN, name="green.txt"
    )
    visible = client.get(
        "/feeds/plain", headers={**bearer(member.reader), "If-None-Match": tag}
    )
    assert visible.status_code == 200
    assert "198.51.100.13" in visible.text


def test_tags_and_labels_scrubbed(store: Store, client: TestClient) -> None:
    member = add_member(store, "Tagging Hospital")
    body = {
        "indicators": [
            {
                "value": "198.51.100.14",
                "tags": ["ransomware", "SSN 123-45-6789", "jane.doe@stmarys.example"],
            }
        ]
    }
    response = client.post(
        "/api/v1/submissions", json=body, headers=bearer(member.submitter)
    )
    assert response.status_code == 202, response.text
    with store.engine.connect() as conn:
        stored = get_submission(conn, response.json()["id"])
    shared = str(stored.scrubbed)
    assert "123-45-6789" not in shared
    assert "jane.doe@stmarys.example" not in shared
    assert "ransomware" in shared


def test_custom_object_value_not_kept(store: Store, client: TestClient) -> None:
    member = add_member(store, "Custom Hospital")
    envelope = {
        "objects": [
            {"type": "x-patient", "id": "x-patient--1", "value": "123-45-6789"},
            {
                "type": "note",
                "id": "note--0f6a3a9e-0c35-4d1b-9a61-8d5d5e8e2b10",
                "content": "Sent to 123-45-6789 holder",
            },
        ]
    }
    response = client.post(
        "/taxii2/api/collections/submissions/objects/",
        json=envelope,
        headers={
            **bearer(member.submitter),
            "Accept": TAXII_MEDIA_TYPE,
            "Content-Type": TAXII_MEDIA_TYPE,
        },
    )
    assert response.status_code == 202, response.text
    with store.engine.connect() as conn:
        stored = get_submission(conn, response.json()["id"])
    assert "Sent to 123-45-6789" not in str(stored.scrubbed)


def test_lone_surrogate_is_client_error(store: Store, client: TestClient) -> None:
    member = add_member(store, "Unicode Clinic")
    raw = b'{"description":"\\ud800","indicators":[{"value":"s1.example.org"}]}'
    response = client.post(
        "/api/v1/submissions",
        content=raw,
        headers={**bearer(member.submitter), "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text


def test_huge_input_not_echoed(store: Store, client: TestClient) -> None:
    member = add_member(store, "Echo Clinic")
    body = {"indicators": [{"value": "198.51.100.15", "tags": ["x" * 100_000]}]}
    response = client.post(
        "/api/v1/submissions", json=body, headers=bearer(member.submitter)
    )
    assert response.status_code == 422
    assert len(response.content) < 10_000


@pytest.mark.parametrize("token", ["c___________", "c4AAAAAAAAAA"])
def test_overflowing_next_token_400(
    store: Store, client: TestClient, token: str
) -> None:
    headers = {**bearer(store.operator_key), "Accept": TAXII_MEDIA_TYPE}
    response = client.get(OBJECTS, params={"next": token}, headers=headers)
    assert response.status_code == 400


def test_basic_empty_user_rejected(store: Store, client: TestClient) -> None:
    member = add_member(store, "Nameless Clinic")
    token = base64.b64encode(f":{member.reader}".encode()).decode()
    response = client.get("/api/v1/me", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 401


def test_revoked_key_not_rotated(store: Store) -> None:
    member = add_member(store, "Rotating Clinic")
    with begin_write(store.engine) as conn:
        key_id = resolve_key_id(conn, member.reader)
        revoke_key(conn, key_id)
        with pytest.raises(KeyNotFound):
            rotate_key(conn, key_id)


def test_past_expiry_rejected(store: Store) -> None:
    add_member(store, "Expiring Clinic")
    result = invoke(
        "key",
        "create",
        "Expiring Clinic",
        "--expires",
        "2020-01-01T00:00:00Z",
        db=store.url,
    )
    assert result.returncode == 2
    assert "has passed" in " ".join(result.stderr.split())


def test_huge_version_rejected() -> None:
    with pytest.raises(VersionError):
        parse_version("9" * 5000)
    with pytest.raises(VersionError):
        parse_version("1." + "9" * 40)
    assert parse_version("10.2.3").text == "10.2.3"


def test_lowered_record_hides_higher_sources(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    ingest_text(
        store.engine, tmp_path, "198.51.100.20\n", source="feed-green", tlp=TLP.GREEN
    )
    ingest_text(
        store.engine,
        tmp_path,
        "198.51.100.20\n",
        source="partner-amber",
        tlp=TLP.AMBER,
        name="amber.txt",
    )
    result = invoke("mark", "198.51.100.20", "--tlp", "green", db=store.url)
    assert result.returncode == 0, result.stderr
    member = add_member(store, "Green Clinic", clearance=TLP.GREEN)
    stix_id = stix_id_for("ipv4", "198.51.100.20")
    api = client.get(f"/api/v1/indicators/{stix_id}", headers=bearer(member.reader))
    assert api.status_code == 200
    assert api.json()["sources"] == ["feed-green"]
    headers = {**bearer(member.reader), "Accept": TAXII_MEDIA_TYPE}
    taxii = client.get(f"{OBJECTS}{stix_id}/", headers=headers)
    assert taxii.status_code == 200
    references = taxii.json()["objects"][0]["external_references"]
    assert [ref["source_name"] for ref in references] == ["feed-green"]


def test_bad_inputs_not_echoed(store: Store, client: TestClient) -> None:
    member = add_member(store, "Echo Clinic", clearance=TLP.GREEN)
    headers = {**bearer(member.reader), "Accept": TAXII_MEDIA_TYPE}
    token = "x" * 3000
    paged = client.get(OBJECTS, params={"next": token}, headers=headers)
    assert paged.status_code == 400
    assert token not in paged.text
    script = "<script>alert(1)</script>"
    feed = client.get(
        "/feeds/plain", params={"max": script}, headers=bearer(member.reader)
    )
    assert feed.status_code == 422
    assert script not in feed.text
    huge = client.get(
        "/feeds/plain", params={"max": "9" * 40}, headers=bearer(member.reader)
    )
    assert huge.status_code == 422
    long_name = client.get(
        "/feeds/suricata/" + "a" * 5000, headers=bearer(member.reader)
    )
    assert long_name.status_code == 404
    assert "a" * 300 not in long_name.text
