"""X-TAXII-Date-Added headers keep microseconds, so paging by them is exact."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from medisac.model.time import format_rfc3339
from tests.taxii.support import BASE_US, Keys, Seeder, auth, collection_path, make_view

HEADER_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
# 2024-05-01T09:00:00.123000Z: the start of one millisecond.
MILLISECOND_US = BASE_US + 3_600_000_000 + 123_000


@pytest.fixture
def same_millisecond(seeder: Seeder) -> list[str]:
    """Twenty indicators added within one millisecond, after the static objects."""
    views = [make_view(f"burst-{i:02d}.example.org") for i in range(20)]
    seeder.views(views, date_added=[MILLISECOND_US + 17 * i for i in range(20)])
    return [view.stix_id for view in views]


@pytest.mark.parametrize("endpoint", ["objects/", "manifest/"])
@pytest.mark.parametrize("limit", [1, 3, 7, 20, 50])
def test_paging_by_date_added_last(
    client: TestClient,
    keys: Keys,
    seeder: Seeder,
    same_millisecond: list[str],
    endpoint: str,
    limit: int,
) -> None:
    path = collection_path(rest=endpoint)
    cursor = format_rfc3339(BASE_US)
    received: list[str] = []
    for _ in range(100):
        params: dict[str, Any] = {"added_after": cursor, "limit": limit}
        response = client.get(path, headers=auth(keys.green), params=params)
        assert response.status_code == 200
        objects = response.json().get("objects", [])
        if not objects:
            assert "x-taxii-date-added-first" not in response.headers
            assert "x-taxii-date-added-last" not in response.headers
            break
        first = response.headers["x-taxii-date-added-first"]
        last = response.headers["x-taxii-date-added-last"]
        assert HEADER_FORMAT.match(first), first
        assert HEADER_FORMAT.match(last), last
        assert last > cursor
        received.extend(obj["id"] for obj in objects)
        cursor = last
    assert received == [row.stix_id for row in seeder.rows]
    assert received[-20:] == same_millisecond


def test_header_keeps_microseconds(
    client: TestClient, keys: Keys, same_millisecond: list[str]
) -> None:
    response = client.get(
        collection_path(rest="objects/"),
        headers=auth(keys.green),
        params={"added_after": format_rfc3339(MILLISECOND_US), "limit": 2},
    )
    assert response.headers["x-taxii-date-added-first"] == "2024-05-01T09:00:00.123017Z"
    assert response.headers["x-taxii-date-added-last"] == "2024-05-01T09:00:00.123034Z"


def test_millisecond_cursor_would_repeat_rows(
    client: TestClient, keys: Keys, same_millisecond: list[str]
) -> None:
    # A client that cut the header to milliseconds would send this next. The
    # server applies it as sent, so every row of that millisecond comes back.
    response = client.get(
        collection_path(rest="objects/"),
        headers=auth(keys.green),
        params={"added_after": "2024-05-01T09:00:00.122Z", "limit": 50},
    )
    ids = [obj["id"] for obj in response.json()["objects"]]
    assert ids == same_millisecond
