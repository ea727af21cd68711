"""Discovery, API root and collection resources, content negotiation and 404s."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from medisac.taxii import STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE
from tests.taxii.support import HEALTHCARE, INDICATORS, Keys, auth, collection_path


def test_discovery_points_at_api_root(client: TestClient, keys: Keys) -> None:
    response = client.get("/taxii2/", headers=auth(keys.green))
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    body = response.json()
    assert body["title"]
    assert body["default"] == "http://testserver/taxii2/api/"
    assert body["api_roots"] == ["http://testserver/taxii2/api/"]


def test_api_root_resource(client: TestClient, keys: Keys) -> None:
    response = client.get("/taxii2/api/", headers=auth(keys.green))
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    body = response.json()
    assert body["versions"] == [TAXII_MEDIA_TYPE]
    assert body["max_content_length"] > 0
    assert body["title"]


SUBMISSIONS = "5c3b0f0e-6d1a-4f0b-9a57-2f7d8c1e4b90"
ADVISORIES = "3d9a7e64-2b1f-4c8e-9f05-6a4b8c2d1e73"
SIGHTINGS = "8f2c4a1e-5b7d-4e93-a6c0-2d9e1f3b7a54"
VULNERABILITIES = "0e6f2b8a-3c4d-4e5f-8a9b-1c2d3e4f5a6b"


def test_collections_list(client: TestClient, keys: Keys) -> None:
    response = client.get("/taxii2/api/collections/", headers=auth(keys.green))
    assert response.status_code == 200
    collections = response.json()["collections"]
    assert [c["id"] for c in collections] == [
        INDICATORS,
        HEALTHCARE,
        VULNERABILITIES,
        SUBMISSIONS,
        ADVISORIES,
        SIGHTINGS,
    ]
    assert [c["alias"] for c in collections] == [
        "indicators",
        "healthcare",
        "vulnerabilities",
        "submissions",
        "advisories",
        "sightings",
    ]
    for collection in collections[:3]:
        assert collection["can_read"] is True
        assert collection["can_write"] is False
    # The green key has no submit scope, so it may not write either.
    assert collections[3]["can_read"] is False
    assert collections[3]["can_write"] is False
    for collection in collections:
        assert collection["media_types"] == [STIX_MEDIA_TYPE]
        assert collection["title"]


@pytest.mark.parametrize("name", [HEALTHCARE, "healthcare"])
def test_collection_by_id_or_alias(client: TestClient, keys: Keys, name: str) -> None:
    response = client.get(collection_path(name), headers=auth(keys.green))
    assert response.status_code == 200
    assert response.json()["id"] == HEALTHCARE


@pytest.mark.parametrize(
    "path",
    [
        "/taxii2/api/collections/00000000-0000-4000-8000-000000000000/",
        "/taxii2/api/collections/00000000-0000-4000-8000-000000000000/objects/",
        "/taxii2/api/collections/nope/manifest/",
        "/taxii2/other/",
    ],
)
def test_unknown_resource_404(client: TestClient, keys: Keys, path: str) -> None:
    response = client.get(path, headers=auth(keys.green))
    assert response.status_code == 404
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    assert response.json()["http_status"] == "404"


def test_unsupported_method_405(client: TestClient, keys: Keys) -> None:
    response = client.delete(collection_path(rest="objects/"), headers=auth(keys.admin))
    assert response.status_code == 405
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    assert response.json()["http_status"] == "405"


@pytest.mark.parametrize(
    "accept",
    [
        "application/taxii+json;version=2.1",
        "application/taxii+json",
        "application/taxii+json; version=2.1",
        'application/taxii+json;version="2.1"',
        "text/html, application/taxii+json;version=2.1;q=0.9",
        "*/*",
        "application/*",
        None,
    ],
)
def test_accept_admits_taxii_21(
    client: TestClient, keys: Keys, accept: str | None
) -> None:
    headers = {"Authorization": f"Bearer {keys.green}"}
    if accept is not None:
        headers["Accept"] = accept
    response = client.get("/taxii2/api/", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "application/taxii+json;version=2.0",
        "application/stix+json;version=2.1",
        "application/vnd.oasis.taxii+json; version=2.0",
        "application/taxii+json;version=2.1;q=0",
        "text/html",
    ],
)
def test_other_media_types_406(client: TestClient, keys: Keys, accept: str) -> None:
    headers = {"Authorization": f"Bearer {keys.green}", "Accept": accept}
    response = client.get(collection_path(rest="objects/"), headers=headers)
    assert response.status_code == 406
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    body = response.json()
    assert body["http_status"] == "406"
    assert TAXII_MEDIA_TYPE in body["description"]


def test_path_without_slash_redirects(client: TestClient, keys: Keys) -> None:
    response = client.get(
        "/taxii2/api/collections", headers=auth(keys.green), follow_redirects=False
    )
    assert response.status_code in (307, 308)
    assert response.headers["location"].endswith("/taxii2/api/collections/")
