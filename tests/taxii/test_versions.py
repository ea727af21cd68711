"""Object versions: the versions endpoint, match[version] and the manifest agree."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from stix2validator import ValidationOptions, validate_instance

from medisac.model import TLP, IndicatorType, State
from medisac.model.time import format_rfc3339
from medisac.stix import STATIC_IDS, SourceClaim
from medisac.taxii import STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE
from tests.taxii.support import (
    BASE_US,
    HEALTHCARE,
    Keys,
    Seeder,
    auth,
    collection_path,
    make_view,
)

HOST = "versioned-host.example.org"
SECOND = 1_000_000


@pytest.fixture
def versioned(seeder: Seeder) -> dict[str, Any]:
    """Three versions of one indicator, as two sources and an analyst made them,
    with another indicator published between them."""
    one = SourceClaim("b18a", 40, TLP.CLEAR, BASE_US, BASE_US, None)
    two = SourceClaim("b18b", 80, TLP.CLEAR, BASE_US, BASE_US + SECOND, None)
    other = make_view("203.0.113.118", IndicatorType.IPV4, tlp=TLP.CLEAR)
    v1 = make_view(HOST, tlp=TLP.CLEAR, confidence=40, sources=(one,))
    v2 = make_view(
        HOST,
        tlp=TLP.CLEAR,
        confidence=80,
        modified=BASE_US + SECOND,
        sources=(one, two),
    )
    v3 = make_view(
        HOST,
        tlp=TLP.CLEAR,
        confidence=80,
        modified=BASE_US + 2 * SECOND + 7,
        state=State.FALSE_POSITIVE,
        sources=(one, two),
    )
    seeder.views([v1, other])
    seeder.views([v2])
    seeder.views([v3])
    return {
        "id": v1.stix_id,
        "other": other.stix_id,
        "modified": [format_rfc3339(v.modified) for v in (v1, v2, v3)],
    }


def get(client: TestClient, key: str, path: str, **params: Any) -> Any:
    response = client.get(path, headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    return response


def object_path(stix_id: str, rest: str = "") -> str:
    return collection_path(rest=f"objects/{stix_id}/{rest}")


def modified_of(response: Any) -> list[str]:
    return [obj["modified"] for obj in response.json().get("objects", [])]


def test_versions_ascending(
    client: TestClient, keys: Keys, versioned: dict[str, Any]
) -> None:
    response = get(client, keys.green, object_path(versioned["id"], "versions/"))
    body = response.json()
    assert body == {"more": False, "versions": versioned["modified"]}
    first = response.headers["x-taxii-date-added-first"]
    assert first < response.headers["x-taxii-date-added-last"]


def test_versions_page_with_next(
    client: TestClient, keys: Keys, versioned: dict[str, Any]
) -> None:
    path = object_path(versioned["id"], "versions/")
    first = get(client, keys.green, path, limit=2).json()
    assert first["more"] is True
    assert first["versions"] == versioned["modified"][:2]
    rest = get(client, keys.green, path, limit=2, next=first["next"]).json()
    assert rest == {"more": False, "versions": versioned["modified"][2:]}


def test_match_id_gives_latest_only(
    client: TestClient, keys: Keys, versioned: dict[str, Any]
) -> None:
    objects = get(
        client,
        keys.green,
        collection_path(rest="objects/"),
        **{"match[id]": versioned["id"]},
    ).json()["objects"]
    assert len(objects) == 1
    assert objects[0]["modified"] == versioned["modified"][-1]
    assert objects[0]["revoked"] is True


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (None, [2]),
        ("last", [2]),
        ("first", [0]),
        ("all", [0, 1, 2]),
        ("first,last", [0, 2]),
        ("last,first", [0, 2]),
        ("second", [1]),
        ("second,last", [1, 2]),
        ("all,first", [0, 1, 2]),
    ],
)
def test_match_version(
    client: TestClient,
    keys: Keys,
    versioned: dict[str, Any],
    version: str | None,
    expected: list[int],
) -> None:
    wanted = [versioned["modified"][index] for index in expected]
    if version is not None:
        version = version.replace("second", versioned["modified"][1])
    params = {} if version is None else {"match[version]": version}
    by_id = get(client, keys.green, object_path(versioned["id"]), **params)
    assert modified_of(by_id) == wanted
    filtered = get(
        client,
        keys.green,
        collection_path(rest="objects/"),
        **params,
        **{"match[id]": versioned["id"]},
    )
    assert modified_of(filtered) == wanted


def test_exact_version_that_does_not_exist(
    client: TestClient, keys: Keys, versioned: dict[str, Any]
) -> None:
    response = get(
        client,
        keys.green,
        object_path(versioned["id"]),
        **{"match[version]": "2001-01-01T00:00:00.000000Z"},
    )
    assert response.content == b'{"more":false}'


def test_first_version_of_every_object(
    client: TestClient, keys: Keys, versioned: dict[str, Any]
) -> None:
    objects = get(
        client,
        keys.green,
        collection_path(rest="objects/"),
        limit=50,
        **{"match[version]": "first"},
    ).json()["objects"]
    indicators = {obj["id"]: obj for obj in objects if obj["type"] == "indicator"}
    assert indicators[versioned["id"]]["modified"] == versioned["modified"][0]
    assert versioned["other"] in indicators
    assert {obj["id"] for obj in objects} - set(indicators) == STATIC_IDS


def test_manifest_lists_all_versions(
    client: TestClient, keys: Keys, versioned: dict[str, Any]
) -> None:
    entries = get(
        client,
        keys.green,
        collection_path(rest="manifest/"),
        **{"match[id]": versioned["id"], "match[version]": "all"},
    ).json()["objects"]
    assert [entry["version"] for entry in entries] == versioned["modified"]
    assert {entry["media_type"] for entry in entries} == {STIX_MEDIA_TYPE}
    assert {entry["id"] for entry in entries} == {versioned["id"]}


@pytest.mark.parametrize("path_end", ["", "versions/"])
def test_spec_version_on_object_endpoints(
    client: TestClient, keys: Keys, versioned: dict[str, Any], path_end: str
) -> None:
    path = object_path(versioned["id"], path_end)
    plain = get(client, keys.green, path).content
    assert (
        get(client, keys.green, path, **{"match[spec_version]": "2.1"}).content == plain
    )
    old = get(client, keys.green, path, **{"match[spec_version]": "2.0"})
    assert old.content == b'{"more":false}'


def test_every_version_validates_and_repeats_exactly(
    client: TestClient, keys: Keys, versioned: dict[str, Any]
) -> None:
    path = object_path(versioned["id"])
    first = get(client, keys.green, path, **{"match[version]": "all"})
    second = get(client, keys.green, path, **{"match[version]": "all"})
    assert first.content == second.content
    objects = first.json()["objects"]
    assert len(objects) == 3
    for obj in objects:
        assert obj["spec_version"] == "2.1"
        assert obj["id"] == versioned["id"]
        result = validate_instance(obj, ValidationOptions(version="2.1"))
        assert result.errors == [], [str(error) for error in result.errors]
    single = get(client, keys.green, path).json()["objects"][0]
    assert orjson.dumps(single, option=orjson.OPT_SORT_KEYS) in first.content


@pytest.mark.parametrize("path_end", ["", "versions/"])
def test_unknown_object_404(
    client: TestClient, keys: Keys, versioned: dict[str, Any], path_end: str
) -> None:
    missing = "indicator--00000000-0000-4000-8000-000000000000"
    response = client.get(object_path(missing, path_end), headers=auth(keys.green))
    assert response.status_code == 404
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    assert response.json()["http_status"] == "404"
    assert "x-taxii-date-added-first" not in response.headers


def test_object_outside_collection_404(
    client: TestClient, keys: Keys, versioned: dict[str, Any]
) -> None:
    path = collection_path(HEALTHCARE, f"objects/{versioned['id']}/")
    response = client.get(path, headers=auth(keys.green))
    assert response.status_code == 404
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
