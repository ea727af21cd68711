"""Webhooks: signed delivery to a real HTTPS receiver, TLP, retries, SSRF guard."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from medisac.live.webhooks import (
    SignatureCheck,
    WebhookError,
    WebhookSender,
    check_target,
    check_url,
    create_webhook,
    parse_allow,
    retry_delay,
    sign,
)
from medisac.model import TLP
from medisac.sensors.apply import BatchApplier
from medisac.sensors.batch import parse_batch
from medisac.settings import Settings
from medisac.store.tables import webhooks
from tests.conftest import Store
from tests.live.support import Received, add_member, certificates, https_receiver


def ingest(store: Store, batch_id: str, values: list[str], tlp: str) -> None:
    batch = parse_batch(
        {"batch_id": batch_id, "tlp": tlp, "sightings": values}, org_id=None, key_id=1
    )
    BatchApplier(store.engine).apply(batch)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[Settings, int, Received]]:
    certs = certificates(tmp_path)
    with https_receiver(certs.server) as (port, received):
        settings = Settings(
            ca_file=str(certs.ca_file), webhook_allow=f"localhost:{port}"
        )
        yield settings, port, received


def test_delivery_signed_and_filtered(
    store: Store, receiver: tuple[Settings, int, Received]
) -> None:
    settings, port, received = receiver
    member = add_member(store.engine, "Hook Clinic", TLP.GREEN)
    with store.engine.begin() as conn:
        _, secret = create_webhook(
            conn,
            member.org.id,
            f"https://localhost:{port}/hook",
            parse_allow(settings.webhook_allow),
        )
    ingest(store, "w1", ["green-hook.example.org"], "green")
    ingest(store, "w2", ["amber-hook.example.org"], "amber")
    sender = WebhookSender(store.engine, settings)
    try:
        assert sender.run_due() == 1
    finally:
        sender.close()
    headers, body = received.requests[0]
    assert SignatureCheck(secret).verify(body, headers) is None
    values = [event["value"] for event in orjson.loads(body)["events"]]
    assert values == ["green-hook.example.org"]


def test_failed_delivery_retried_later(
    store: Store, receiver: tuple[Settings, int, Received]
) -> None:
    settings, port, received = receiver
    received.status = 500
    member = add_member(store.engine, "Down Clinic", TLP.GREEN)
    with store.engine.begin() as conn:
        hook_id, _ = create_webhook(
            conn,
            member.org.id,
            f"https://localhost:{port}/x",
            parse_allow(settings.webhook_allow),
        )
    ingest(store, "w1", ["retry-hook.example.org"], "green")
    sender = WebhookSender(store.engine, settings)
    try:
        sender.run_due()
        assert sender.run_due() == 0
    finally:
        sender.close()
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(webhooks).where(webhooks.c.id == hook_id)).one()
    assert len(received.requests) == 1
    assert row.failures == 1
    assert row.next_attempt > time.time() * 1_000_000 + 5_000_000
    assert row.last_error == "HTTP 500"


def test_untrusted_certificate_fails(store: Store, tmp_path: Path) -> None:
    certs = certificates(tmp_path)
    with https_receiver(certs.server) as (port, received):
        settings = Settings(webhook_allow=f"localhost:{port}")
        member = add_member(store.engine, "Cert Clinic", TLP.GREEN)
        with store.engine.begin() as conn:
            create_webhook(
                conn,
                member.org.id,
                f"https://localhost:{port}/",
                parse_allow(settings.webhook_allow),
            )
        ingest(store, "w1", ["cert-hook.example.org"], "green")
        sender = WebhookSender(store.engine, settings)
        try:
            assert sender.run_due() == 0
        finally:
            sender.close()
    assert received.requests == []


def test_forged_signature_detected() -> None:
    body = b'{"events": []}'
    now = int(time.time())
    headers = {
        "X-Medisac-Timestamp": str(now),
        "X-Medisac-Signature": sign("attacker-secret", now, body),
        "X-Medisac-Delivery": "1-1-1",
    }
    assert (
        SignatureCheck("real-secret").verify(body, headers)
        == "signature does not match"
    )


def test_altered_body_detected() -> None:
    now = int(time.time())
    headers = {
        "X-Medisac-Timestamp": str(now),
        "X-Medisac-Signature": sign("s", now, b'{"events": []}'),
        "X-Medisac-Delivery": "1-1-1",
    }
    assert SignatureCheck("s").verify(b'{"events": [1]}', headers) is not None


def test_replayed_delivery_detected() -> None:
    body = b"{}"
    now = int(time.time())
    headers = {
        "X-Medisac-Timestamp": str(now),
        "X-Medisac-Signature": sign("s", now, body),
        "X-Medisac-Delivery": "9-1-2",
    }
    check = SignatureCheck("s")
    assert check.verify(body, headers) is None
    assert "replayed" in (check.verify(body, headers) or "")


def test_old_timestamp_detected() -> None:
    then = int(time.time()) - 3600
    headers = {
        "X-Medisac-Timestamp": str(then),
        "X-Medisac-Signature": sign("s", then, b"{}"),
        "X-Medisac-Delivery": "9-1-3",
    }
    assert "replayed" in (SignatureCheck("s").verify(b"{}", headers) or "")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
    ],
)
def test_private_target_rejected(url: str) -> None:
    with pytest.raises(WebhookError, match="not a public address"):
        check_target(url)


@pytest.mark.parametrize(
    "url", ["https://127.1/hook", "https://2130706433/hook", "https://0x7f.1/hook"]
)
def test_numeric_spellings_rejected_at_registration(url: str) -> None:
    # Resolvers read these as 127.0.0.1; registration must not accept them.
    with pytest.raises(WebhookError, match=r"resolves to 127\.0\.0\.1"):
        check_url(url)


def test_plain_http_rejected() -> None:
    with pytest.raises(WebhookError, match="https"):
        check_target("http://198.51.100.20/hook")


def test_allowed_target_accepted() -> None:
    target = check_target("https://127.0.0.1:8443/hook", parse_allow("127.0.0.1:8443"))
    assert target.address == "127.0.0.1"


def test_allow_names_port() -> None:
    with pytest.raises(WebhookError):
        check_target("https://127.0.0.1:9443/hook", parse_allow("127.0.0.1:8443"))


def test_register_rejects_private(store: Store) -> None:
    member = add_member(store.engine, "Private Clinic")
    with pytest.raises(WebhookError), store.engine.begin() as conn:
        create_webhook(conn, member.org.id, "https://10.0.0.5/hook")


def test_backoff_doubles_to_cap() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 12)] == [10, 20, 40, 3600]
