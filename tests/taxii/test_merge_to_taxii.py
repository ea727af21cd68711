"""End to end: values written by the real merge step, read back over TAXII."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from stix2validator import ValidationOptions, validate_instance

from medisac.model import TLP, IndicatorType
from medisac.settings import Settings
from medisac.stix import stix_id_for
from medisac.store.merge import Candidate, Merger, ensure_source
from medisac.store.tables import indicators
from medisac.store.views import indicator_view, render_body
from medisac.taxii import TAXII_MOUNT_PATH, create_taxii_app
from tests.conftest import Store
from tests.taxii.support import auth, collection_path

HEADER_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


@pytest.fixture
def store_client(store: Store) -> Iterator[TestClient]:
    app = FastAPI()
    app.mount(TAXII_MOUNT_PATH, create_taxii_app(store.engine, Settings(db=store.url)))
    with TestClient(app) as http:
        yield http


def merge_values(store: Store, values: list[str], source: str, confidence: int) -> None:
    """Merge domain names and IPv4 addresses from one source, as a plain list would."""
    with store.engine.begin() as conn:
        info = ensure_source(
            conn, source, default_tlp=TLP.CLEAR, default_confidence=confidence
        )
    merger = Merger(store.engine, info, tlp=TLP.CLEAR, confidence=confidence)
    kinds = {True: IndicatorType.IPV4, False: IndicatorType.DOMAIN}
    merger.merge(
        [
            Candidate(
                type=kinds[value[0].isdigit()],
                value=value,
                location=f"{source}, line {number}",
            )
            for number, value in enumerate(values, start=1)
        ]
    )


def get(client: TestClient, key: str, path: str, **params: Any) -> Any:
    response = client.get(path, headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    return response


def test_two_sources_make_two_versions(
    store: Store, store_client: TestClient, cases_dir: Path
) -> None:
    seed = cases_dir / "B18-taxii-server-versions.txt"
    values = [
        line.strip()
        for line in seed.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert values == ["versioned-host.example.org", "203.0.113.118"]
    merge_values(store, values, "b18a", 40)
    merge_values(store, values, "b18b", 80)

    host = stix_id_for(IndicatorType.DOMAIN, "versioned-host.example.org")
    versions = get(
        store_client,
        store.operator_key,
        collection_path(rest=f"objects/{host}/versions/"),
    ).json()["versions"]
    assert len(versions) >= 2
    assert versions == sorted(versions)

    every = get(
        store_client,
        store.operator_key,
        collection_path(rest=f"objects/{host}/"),
        **{"match[version]": "all"},
    ).json()["objects"]
    assert [obj["modified"] for obj in every] == versions
    for obj in every:
        assert obj["spec_version"] == "2.1"
        result = validate_instance(obj, ValidationOptions(version="2.1"))
        assert result.errors == [], [str(error) for error in result.errors]
    # Two independent sources graded C (weight 0.8): 1 - (1 - 0.32)(1 - 0.64).
    assert every[-1]["confidence"] == 76

    address = stix_id_for(IndicatorType.IPV4, "203.0.113.118")
    entries = get(
        store_client,
        store.operator_key,
        collection_path(rest="manifest/"),
        **{"match[id]": address, "match[version]": "all"},
    ).json()["objects"]
    assert {entry["id"] for entry in entries} == {address}


def test_one_batch_pages_exactly_by_header(
    store: Store, store_client: TestClient
) -> None:
    values = [f"feed-item-{i:03d}.example.org" for i in range(20)]
    merge_values(store, values, "burst", 50)
    path = collection_path(rest="objects/")
    received: list[str] = []
    cursor = "1970-01-01T00:00:00.000000Z"
    while True:
        response = get(
            store_client, store.operator_key, path, added_after=cursor, limit=3
        )
        objects = response.json().get("objects", [])
        if not objects:
            assert "x-taxii-date-added-last" not in response.headers
            break
        last = response.headers["x-taxii-date-added-last"]
        assert HEADER_FORMAT.match(last)
        received.extend(obj["id"] for obj in objects)
        cursor = last
    assert len(received) == len(set(received))
    names = {
        stix_id_for(IndicatorType.DOMAIN, f"feed-item-{i:03d}.example.org")
        for i in range(20)
    }
    assert names <= set(received)


def test_rendered_version_keeps_its_bytes(
    store: Store, store_client: TestClient
) -> None:
    objects = collection_path(rest="objects/")
    values = ["rendered-host.example.org", "203.0.113.119"]
    merge_values(store, values, "render-a", 40)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(indicators).order_by(indicators.c.id)).all()
    rendered = [render_body(indicator_view(row)).encode() for row in rows]
    assert len(rendered) == 2

    # The latest versions have no stored body and are rendered when read.
    first = get(store_client, store.operator_key, objects).content
    for body in rendered:
        assert body in first

    # A second source publishes new versions, and the first ones are stored.
    merge_values(store, values, "render-b", 80)
    latest = get(store_client, store.operator_key, objects).content
    every = get(
        store_client, store.operator_key, objects, **{"match[version]": "all"}
    ).content
    for body in rendered:
        assert body not in latest
        assert body in every
