"""The TAXII server under real uvicorn, read by the real taxii2-client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from taxii2client.v21 import Collection, Server, as_pages

from medisac.settings import Settings
from medisac.taxii import TAXII_MOUNT_PATH, create_taxii_app
from tests.helpers import serving
from tests.taxii.support import INDICATORS, Keys, Seeder, make_view


@pytest.fixture
def live_url(engine: Engine, settings: Settings) -> Iterator[str]:
    """Serve the TAXII app on a free port of 127.0.0.1; yield its base URL."""
    app = FastAPI()
    app.mount(TAXII_MOUNT_PATH, create_taxii_app(engine, settings))
    with serving(app) as url:
        yield url


def collection(base: str, key: str) -> Collection:
    url = f"{base}/taxii2/api/collections/{INDICATORS}/"
    return Collection(url, user="member", password=key)


def test_client_discovers_and_pages_every_object_once(
    live_url: str, keys: Keys, seeder: Seeder
) -> None:
    seeder.views([make_view(f"host-{i:03d}.example.net") for i in range(123)])
    server = Server(f"{live_url}/taxii2/", user="member", password=keys.green)
    assert server.default.url == f"{live_url}/taxii2/api/"
    assert [c.id for c in server.default.collections] == [
        INDICATORS,
        "a88d4b26-7b43-460b-8902-1ff67a80d17d",
        "0e6f2b8a-3c4d-4e5f-8a9b-1c2d3e4f5a6b",
        "5c3b0f0e-6d1a-4f0b-9a57-2f7d8c1e4b90",
        "3d9a7e64-2b1f-4c8e-9f05-6a4b8c2d1e73",
        "8f2c4a1e-5b7d-4e93-a6c0-2d9e1f3b7a54",
    ]
    source = collection(live_url, keys.green)
    assert source.can_read is True
    received: list[str] = []
    for envelope in as_pages(source.get_objects, per_request=10):
        received.extend(obj["id"] for obj in envelope.get("objects", []))
    assert len(received) == len(set(received))
    assert received == [row.stix_id for row in seeder.rows]


def test_client_rejected_without_valid_key(live_url: str, keys: Keys) -> None:
    source = collection(live_url, "not-a-key-" + "x" * 30)
    with pytest.raises(requests.HTTPError, match="401"):
        source.get_objects()


def test_paging_while_writer_appends(live_url: str, keys: Keys, seeder: Seeder) -> None:
    seeder.views([make_view(f"before-{i:03d}.example.net") for i in range(60)])
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for batch in range(12):
                if stop.is_set():
                    return
                seeder.views(
                    [
                        make_view(f"during-{batch:02d}-{i}.example.net")
                        for i in range(10)
                    ]
                )
                time.sleep(0.005)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    writer = threading.Thread(target=write)
    source = collection(live_url, keys.green)
    entries: list[dict[str, Any]] = []
    writer.start()
    try:
        for envelope in as_pages(source.get_manifest, per_request=7):
            entries.extend(envelope.get("objects", []))
    finally:
        writer.join(timeout=30)
        stop.set()
    assert not errors, errors
    # Catch up from the last date_added received, as a polling client does.
    for envelope in as_pages(
        source.get_manifest, per_request=7, added_after=entries[-1]["date_added"]
    ):
        entries.extend(envelope.get("objects", []))
    received = [entry["id"] for entry in entries]
    assert len(received) == len(set(received)), "an object arrived twice"
    assert received == [row.stix_id for row in seeder.rows]
    assert len(received) == 6 + 60 + 120
