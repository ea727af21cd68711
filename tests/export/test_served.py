"""Exports served over HTTP under /feeds, with ETag revalidation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pymisp import MISPEvent

from medisac.enrich.marks import find_indicator, mark_false_positive
from medisac.model import IndicatorType
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store.engine import begin_write
from tests.conftest import Store
from tests.helpers import ingest_text


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {store.operator_key}"
        yield test_client


def _load(store: Store, tmp_path: Path) -> None:
    text = "198.51.100.71\n198.51.100.72\nserved.example.org\n"
    ingest_text(store.engine, tmp_path, text, source="served")


def test_feed_needs_a_key(store: Store, client: TestClient) -> None:
    response = client.get("/feeds/plain", headers={"Authorization": ""})
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_feed_serves_each_format(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    _load(store, tmp_path)
    for fmt in ("plain", "csv", "edl", "rpz", "stix", "suricata", "zeek"):
        response = client.get(f"/feeds/{fmt}", params={"tlp": "red"})
        assert response.status_code == 200, (fmt, response.text)
        assert response.headers["ETag"].startswith('W/"')
        assert "198.51.100.71" in response.text or "71.100.51.198" in response.text


def test_feed_filters_by_type(store: Store, client: TestClient, tmp_path: Path) -> None:
    _load(store, tmp_path)
    response = client.get("/feeds/plain", params={"type": "domain", "tlp": "red"})
    assert response.text.split() == ["served.example.org"]


def test_feed_rejects_unknown_format(store: Store, client: TestClient) -> None:
    response = client.get("/feeds/pdf")
    assert response.status_code == 400
    assert "unknown format" in response.json()["description"]


def test_etag_gives_304_until_change(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    _load(store, tmp_path)
    first = client.get("/feeds/plain", params={"tlp": "red"})
    tag = first.headers["ETag"]
    again = client.get(
        "/feeds/plain", params={"tlp": "red"}, headers={"If-None-Match": tag}
    )
    assert again.status_code == 304
    assert again.content == b""
    # Other filters are another export with another tag.
    other = client.get("/feeds/plain", params={"tlp": "red", "type": "ipv4"})
    assert other.headers["ETag"] != tag
    # An analyst withdraws a value: the tag changes and the value is gone.
    with begin_write(store.engine) as conn:
        indicator_id = find_indicator(conn, IndicatorType.IPV4, "198.51.100.71")
        mark_false_positive(conn, indicator_id)
    changed = client.get(
        "/feeds/plain", params={"tlp": "red"}, headers={"If-None-Match": tag}
    )
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag
    assert "198.51.100.71" not in changed.text.split()
    assert "198.51.100.72" in changed.text.split()


def test_delta_lists_withdrawals(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    _load(store, tmp_path)
    start = client.get("/feeds/delta", params={"since": "2000-01-01T00:00:00Z"})
    assert start.status_code == 200, start.text
    first = start.json()
    assert sorted(first["added"]["ipv4"]) == ["198.51.100.71", "198.51.100.72"]
    assert first["withdrawn"] == {}
    with begin_write(store.engine) as conn:
        indicator_id = find_indicator(conn, IndicatorType.IPV4, "198.51.100.71")
        mark_false_positive(conn, indicator_id)
    later = client.get("/feeds/delta", params={"since": first["until"]}).json()
    assert later["withdrawn"] == {"ipv4": ["198.51.100.71"]}
    assert later["added"] == {}


def test_delta_needs_valid_since(store: Store, client: TestClient) -> None:
    response = client.get("/feeds/delta", params={"since": "yesterday"})
    assert response.status_code == 400
    assert "RFC 3339" in response.json()["description"]


def test_misp_feed_served_as_files(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    _load(store, tmp_path)
    manifest = client.get("/feeds/misp/manifest.json")
    assert manifest.status_code == 200, manifest.text
    (event_uuid,) = manifest.json()
    event = client.get(f"/feeds/misp/{event_uuid}.json")
    assert event.status_code == 200
    loaded = MISPEvent()
    loaded.load(event.text)
    values = {attribute.value for attribute in loaded.attributes}
    assert values == {"198.51.100.71", "198.51.100.72", "served.example.org"}
    hashes = client.get("/feeds/misp/hashes.csv")
    assert hashes.status_code == 200
    assert len(hashes.text.splitlines()) == 3


def test_misp_manifest_revalidates(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    _load(store, tmp_path)
    first = client.get("/feeds/misp/manifest.json")
    tag = first.headers["ETag"]
    again = client.get("/feeds/misp/manifest.json", headers={"If-None-Match": tag})
    assert again.status_code == 304
    with begin_write(store.engine) as conn:
        indicator_id = find_indicator(conn, IndicatorType.IPV4, "198.51.100.71")
        mark_false_positive(conn, indicator_id)
    changed = client.get("/feeds/misp/manifest.json", headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag


def test_feed_file_not_found(store: Store, client: TestClient, tmp_path: Path) -> None:
    _load(store, tmp_path)
    for name in ("nothing.json", "..", ".manifest.json.1.tmp"):
        response = client.get(f"/feeds/misp/{name}")
        assert response.status_code == 404, name
    response = client.get("/feeds/misp/missing.json")
    assert "manifest.json" in response.json()["description"]


def test_misp_needs_a_file_name(store: Store, client: TestClient) -> None:
    response = client.get("/feeds/misp")
    assert response.status_code == 400
    assert "/feeds/misp/" in response.json()["description"]


def test_suricata_hash_list_served(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    digest = "5b" * 32
    ingest_text(store.engine, tmp_path, f"{digest}\n", source="hashes")
    rules = client.get("/feeds/suricata/medisac.rules")
    assert rules.status_code == 200
    assert "filesha256:medisac-sha256.list" in rules.text
    listing = client.get("/feeds/suricata/medisac-sha256.list")
    assert listing.status_code == 200
    assert listing.text == f"{digest}\n"


def test_file_route_needs_a_key(store: Store, client: TestClient) -> None:
    response = client.get(
        "/feeds/misp/manifest.json", headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401
