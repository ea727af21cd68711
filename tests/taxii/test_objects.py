"""The objects and manifest endpoints: envelope, filters, paging and clearance."""

from __future__ import annotations

import gc
import re
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from stix2validator import ValidationOptions, validate_instance

from medisac.model import TLP, IndicatorType, State
from medisac.model.time import format_rfc3339
from medisac.stix import STATIC_IDS
from medisac.store.tables import stix_objects
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

OBJECTS = collection_path(rest="objects/")
MANIFEST = collection_path(rest="manifest/")
HEADER_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def get(client: TestClient, key: str, path: str = OBJECTS, **params: Any) -> Any:
    response = client.get(path, headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    return response


def ids_of(response: Any) -> list[str]:
    return [obj["id"] for obj in response.json().get("objects", [])]


def page_all(
    client: TestClient, key: str, path: str = OBJECTS, **params: Any
) -> list[dict[str, Any]]:
    """Follow ``next`` tokens, re-sending the original filters each time."""
    found: list[dict[str, Any]] = []
    token = None
    while True:
        extra = {"next": token} if token else {}
        body = get(client, key, path, **params, **extra).json()
        found.extend(body.get("objects", []))
        if not body["more"]:
            assert "next" not in body
            return found
        token = body["next"]


@pytest.fixture
def mixed(seeder: Seeder) -> Seeder:
    """Indicators at every TLP level, a healthcare one and a revoked one."""
    seeder.views(
        [
            make_view("clear.example.com", tlp=TLP.CLEAR),
            make_view("green.example.com", tlp=TLP.GREEN),
            make_view("amber.example.com", tlp=TLP.AMBER),
            make_view("strict.example.com", tlp=TLP.AMBER_STRICT),
            make_view("red.example.com", tlp=TLP.RED),
            make_view(
                "clinic.example.org", tlp=TLP.GREEN, healthcare=True, tags=("hospital",)
            ),
            make_view("198.51.100.7", IndicatorType.IPV4, tlp=TLP.GREEN),
            make_view("gone.example.net", tlp=TLP.GREEN, state=State.REVOKED),
        ]
    )
    return seeder


def names(objects: list[dict[str, Any]]) -> set[str]:
    return {obj["name"] for obj in objects if obj["type"] == "indicator"}


def test_envelope_and_headers(client: TestClient, keys: Keys, mixed: Seeder) -> None:
    response = get(client, keys.admin, limit=3)
    body = response.json()
    assert body["more"] is True
    assert isinstance(body["next"], str)
    assert len(body["objects"]) == 3
    first = response.headers["x-taxii-date-added-first"]
    last = response.headers["x-taxii-date-added-last"]
    assert HEADER_FORMAT.match(first)
    assert HEADER_FORMAT.match(last)
    assert first == format_rfc3339(mixed.rows[0].date_added)
    assert last == format_rfc3339(mixed.rows[2].date_added)
    assert response.headers["cache-control"] == "no-store"


def test_every_served_object_validates(
    client: TestClient, keys: Keys, mixed: Seeder
) -> None:
    objects = page_all(client, keys.admin)
    assert len(objects) == len(mixed.rows)
    for obj in objects:
        assert obj["spec_version"] == "2.1"
        result = validate_instance(obj, ValidationOptions(version="2.1"))
        assert result.errors == [], [str(error) for error in result.errors]


def test_body_served_byte_for_byte(
    client: TestClient, keys: Keys, mixed: Seeder
) -> None:
    raw = get(client, keys.admin, limit=50).content
    for obj in orjson.loads(raw)["objects"]:
        assert orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) in raw


def test_default_page_size_and_clamp(
    client: TestClient, keys: Keys, mixed: Seeder
) -> None:
    # The fixture settings use a default page of 5 and a maximum of 50.
    assert len(get(client, keys.admin).json()["objects"]) == 5
    assert len(get(client, keys.admin, limit=10_000).json()["objects"]) == len(
        mixed.rows
    )


def test_next_returns_every_object_once(
    client: TestClient, keys: Keys, mixed: Seeder
) -> None:
    for limit in (1, 2, 5, 13, 50):
        objects = page_all(client, keys.admin, limit=limit)
        assert [obj["id"] for obj in objects] == [row.stix_id for row in mixed.rows]


def test_next_keeps_original_filters(
    client: TestClient, keys: Keys, mixed: Seeder
) -> None:
    after = format_rfc3339(mixed.rows[3].date_added)
    objects = page_all(
        client, keys.admin, limit=2, added_after=after, **{"match[type]": "indicator"}
    )
    expected = [
        row.stix_id for row in mixed.rows[4:] if row.stix_id.startswith("indicator--")
    ]
    assert [obj["id"] for obj in objects] == expected


def test_empty_page_is_more_false_without_headers(
    client: TestClient, keys: Keys, mixed: Seeder
) -> None:
    after = format_rfc3339(mixed.rows[-1].date_added)
    for path in (OBJECTS, MANIFEST):
        response = get(client, keys.admin, path, added_after=after)
        assert response.content == b'{"more":false}'
        assert "x-taxii-date-added-first" not in response.headers
        assert "x-taxii-date-added-last" not in response.headers


def test_added_after_is_strict(client: TestClient, keys: Keys, mixed: Seeder) -> None:
    row = mixed.rows[5]
    objects = page_all(client, keys.admin, added_after=format_rfc3339(row.date_added))
    assert [obj["id"] for obj in objects] == [r.stix_id for r in mixed.rows[6:]]


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T08:00:00.000012345Z",  # nine digits: truncated, still strict
        "2024-05-01T10:00:00.000012+02:00",
        "2024-05-01T08:00:00.000012Z",
    ],
)
def test_added_after_forms(
    client: TestClient, keys: Keys, seeder: Seeder, text: str
) -> None:
    seeder.views(
        [make_view("a.example.com"), make_view("b.example.com")],
        date_added=[BASE_US + 12, BASE_US + 13],
    )
    objects = page_all(client, keys.admin, added_after=text)
    assert [obj["name"] for obj in objects] == ["b.example.com"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("added_after", "yesterday"),
        ("added_after", "2024-02-30T00:00:00Z"),
        ("added_after", "2024-05-01T08:00:00"),
        ("limit", "0"),
        ("limit", "-3"),
        ("limit", "ten"),
        ("next", "not-a-token"),
        ("next", "AAAA"),
        ("match[version]", "newest"),
        ("match[id]", ","),
    ],
)
def test_invalid_parameter_400(
    client: TestClient, keys: Keys, seeder: Seeder, name: str, value: str
) -> None:
    for path in (OBJECTS, MANIFEST):
        response = client.get(path, headers=auth(keys.admin), params={name: value})
        assert response.status_code == 400
        assert response.headers["content-type"] == TAXII_MEDIA_TYPE
        body = response.json()
        assert body["http_status"] == "400"
        assert name in body["description"]


def test_repeated_added_after_400(
    client: TestClient, keys: Keys, seeder: Seeder
) -> None:
    response = client.get(
        f"{OBJECTS}?added_after=2024-01-01T00:00:00Z&added_after=2025-01-01T00:00:00Z",
        headers=auth(keys.admin),
    )
    assert response.status_code == 400
    assert "added_after" in response.json()["description"]


def test_match_id_and_type(client: TestClient, keys: Keys, mixed: Seeder) -> None:
    wanted = [mixed.rows[7].stix_id, mixed.rows[10].stix_id]
    by_id = get(client, keys.admin, **{"match[id]": ",".join(wanted)})
    assert ids_of(by_id) == wanted
    markings = page_all(client, keys.admin, **{"match[type]": "marking-definition"})
    assert len(markings) == 5
    both = get(
        client, keys.admin, limit=50, **{"match[type]": "identity,marking-definition"}
    )
    assert set(ids_of(both)) == STATIC_IDS


def test_spec_version_filter(client: TestClient, keys: Keys, mixed: Seeder) -> None:
    plain = get(client, keys.admin, limit=50).content
    assert (
        get(client, keys.admin, limit=50, **{"match[spec_version]": "2.1"}).content
        == plain
    )
    assert (
        get(client, keys.admin, limit=50, **{"match[spec_version]": "2.0,2.1"}).content
        == plain
    )
    old = get(client, keys.admin, **{"match[spec_version]": "2.0"})
    assert old.content == b'{"more":false}'
    assert "x-taxii-date-added-last" not in old.headers


@pytest.mark.parametrize(
    ("key_name", "visible"),
    [
        ("green", {"clear", "green"}),
        ("amber", {"clear", "green", "amber"}),
        ("admin", {"clear", "green", "amber", "strict", "red"}),
    ],
)
def test_clearance_limits_objects(
    client: TestClient, keys: Keys, mixed: Seeder, key_name: str, visible: set[str]
) -> None:
    objects = page_all(client, getattr(keys, key_name), limit=50)
    levels = {name.split(".")[0] for name in names(objects) if "example.com" in name}
    assert levels == visible
    served_ids = {obj["id"] for obj in objects}
    assert served_ids >= STATIC_IDS


def test_hidden_object_is_404(client: TestClient, keys: Keys, mixed: Seeder) -> None:
    red = mixed.rows[10]
    path = collection_path(rest=f"objects/{red.stix_id}/")
    assert client.get(path, headers=auth(keys.amber)).status_code == 404
    assert client.get(path, headers=auth(keys.admin)).status_code == 200
    manifest = get(client, keys.amber, MANIFEST, limit=50).json()["objects"]
    assert red.stix_id not in {entry["id"] for entry in manifest}


def test_objects_request_restores_collector(
    client: TestClient, keys: Keys, mixed: Seeder
) -> None:
    # The objects endpoints switch the garbage collector off while they build
    # a page. It must come back on after a page and after a 404.
    red = collection_path(rest=f"objects/{mixed.rows[10].stix_id}/")
    assert gc.isenabled()
    get(client, keys.admin, limit=3)
    assert gc.isenabled()
    assert client.get(red, headers=auth(keys.amber)).status_code == 404
    assert gc.isenabled()
    gc.disable()
    try:
        get(client, keys.admin, limit=3)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_revoked_latest_version_is_served(
    client: TestClient, keys: Keys, mixed: Seeder
) -> None:
    objects = page_all(client, keys.green, limit=50)
    gone = [obj for obj in objects if obj.get("name") == "gone.example.net"]
    assert len(gone) == 1
    assert gone[0]["revoked"] is True


def test_healthcare_collection(client: TestClient, keys: Keys, mixed: Seeder) -> None:
    path = collection_path(HEALTHCARE, "objects/")
    objects = page_all(client, keys.green, path, limit=3)
    assert names(objects) == {"clinic.example.org"}
    assert {obj["id"] for obj in objects} - STATIC_IDS == {mixed.rows[11].stix_id}


def test_manifest_entries(client: TestClient, keys: Keys, mixed: Seeder) -> None:
    response = get(client, keys.admin, MANIFEST, limit=4)
    body = response.json()
    assert body["more"] is True
    entries = body["objects"]
    assert [entry["id"] for entry in entries] == [r.stix_id for r in mixed.rows[:4]]
    for entry, row in zip(entries, mixed.rows, strict=False):
        assert entry["date_added"] == format_rfc3339(row.date_added)
        assert entry["version"] == format_rfc3339(row.modified)
        assert entry["media_type"] == STIX_MEDIA_TYPE
    assert response.headers["x-taxii-date-added-last"] == entries[-1]["date_added"]
    rest = get(client, keys.admin, MANIFEST, limit=50, next=body["next"]).json()
    assert [e["id"] for e in rest["objects"]] == [r.stix_id for r in mixed.rows[4:]]


def test_paging_while_rows_are_appended(
    client: TestClient, keys: Keys, seeder: Seeder
) -> None:
    seeder.views([make_view(f"early-{i}.example.com") for i in range(6)])
    seen: list[tuple[str, str]] = []
    token = None
    round_number = 0
    while True:
        extra = {"next": token} if token else {}
        body = get(client, keys.admin, limit=4, **extra).json()
        seen.extend(
            (obj["id"], obj["modified"])
            for obj in body.get("objects", [])
            if obj["type"] == "indicator"
        )
        # Between pages a writer adds new objects and new versions of objects
        # the client has already read and has not read yet.
        if round_number < 3:
            seeder.views(
                [
                    make_view(f"late-{round_number}.example.com"),
                    make_view(
                        f"early-{round_number}.example.com",
                        modified=BASE_US + 1_000 + round_number,
                    ),
                    make_view(
                        f"early-{5 - round_number}.example.com",
                        modified=BASE_US + 2_000 + round_number,
                    ),
                ]
            )
        round_number += 1
        if not body["more"]:
            break
        token = body["next"]
    assert len(seen) == len(set(seen)), "a version was served twice"
    so = stix_objects.c
    with seeder.engine.connect() as conn:
        latest = {
            (row.stix_id, format_rfc3339(row.modified))
            for row in conn.execute(
                sa.select(so.stix_id, so.modified).where(
                    so.is_latest.is_(True), so.stix_type == "indicator"
                )
            )
        }
    assert len(latest) == 9
    assert latest <= set(seen), "a latest version was never served"
