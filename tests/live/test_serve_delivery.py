"""Without Redis, ``medisac serve`` delivers webhooks itself."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from medisac.live.webhooks import SignatureCheck
from medisac.model import TLP
from medisac.server import create_app
from medisac.settings import Settings
from tests.conftest import Store
from tests.live.support import add_member, bearer, certificates, https_receiver


def test_server_delivers_webhooks(store: Store, tmp_path: Path) -> None:
    certs = certificates(tmp_path)
    member = add_member(store.engine, "Solo Clinic", TLP.GREEN)
    with https_receiver(certs.server) as (port, received):
        settings = Settings.from_env(
            db=store.url, ca_file=str(certs.ca_file), webhook_allow=f"localhost:{port}"
        )
        with TestClient(create_app(store.engine, settings)) as client:
            created = client.post(
                "/api/v1/webhooks",
                json={"url": f"https://localhost:{port}/in"},
                headers=bearer(member.key),
            ).json()
            client.post(
                "/api/v1/sightings:batch",
                json={
                    "batch_id": "solo-1",
                    "tlp": "green",
                    "sightings": ["solo.example.org"],
                },
                headers=bearer(member.key),
            )
            deadline = time.monotonic() + 15
            while not received.requests and time.monotonic() < deadline:
                time.sleep(0.1)
    headers, body = received.requests[0]
    assert SignatureCheck(created["secret"]).verify(body, headers) is None
    assert [e["value"] for e in orjson.loads(body)["events"]] == ["solo.example.org"]
