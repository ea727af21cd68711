"""E-mail digests over SMTP with STARTTLS to a real aiosmtpd server on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from medisac.enrich.marks import set_healthcare
from medisac.live.digests import DigestError, DigestSender, build_digest, subscribe
from medisac.members.orgs import get_org
from medisac.model import TLP
from medisac.model.time import now_us
from medisac.sensors.apply import BatchApplier
from medisac.sensors.batch import parse_batch
from medisac.settings import Settings
from medisac.store.engine import begin_write
from medisac.store.tables import indicators, vuln_notifications, vulnerabilities
from tests.conftest import Store
from tests.live.support import add_member, certificates


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.tls: list[bool] = []

    async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.tls.append(session.ssl is not None)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Settings, Inbox]]:
    certs = certificates(tmp_path)
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=certs.server,
        require_starttls=True,
        server_hostname="localhost",
    )
    controller.start()
    try:
        yield (
            Settings(
                smtp_host="localhost",
                smtp_port=port,
                smtp_from="digest@exchange.medisac.test",
                ca_file=str(certs.ca_file),
            ),
            inbox,
        )
    finally:
        controller.stop()


def ingest_healthcare(store: Store, batch_id: str, value: str, tlp: str) -> None:
    batch = parse_batch(
        {"batch_id": batch_id, "tlp": tlp, "sightings": [value]}, org_id=None, key_id=1
    )
    BatchApplier(store.engine).apply(batch)
    with begin_write(store.engine) as conn:
        row_id = conn.execute(
            sa.select(indicators.c.id).where(indicators.c.value == value)
        ).scalar_one()
        set_healthcare(conn, row_id, True)
        conn.execute(
            sa.update(indicators).where(indicators.c.id == row_id).values(confidence=90)
        )


def test_digest_respects_tlp(store: Store) -> None:
    since = now_us() - 1
    ingest_healthcare(store, "d1", "green-digest.example.org", "green")
    ingest_healthcare(store, "d2", "amber-digest.example.org", "amber")
    ingest_healthcare(store, "d3", "red-digest.example.org", "red")
    member = add_member(store.engine, "Digest Clinic", TLP.GREEN)
    with store.engine.connect() as conn:
        digest = build_digest(conn, get_org(conn, member.org.id), since, now_us())
    assert "green-digest.example.org" in digest.text
    assert "amber-digest.example.org" not in digest.text
    assert "red-digest.example.org" not in digest.text


def test_digest_never_mails_red(store: Store) -> None:
    since = now_us() - 1
    ingest_healthcare(store, "d3", "red-mail.example.org", "red")
    member = add_member(store.engine, "Operator-like Clinic", TLP.AMBER_STRICT)
    with store.engine.connect() as conn:
        digest = build_digest(conn, get_org(conn, member.org.id), since, now_us())
    assert "red-mail.example.org" not in digest.text


def test_digest_sent_over_starttls(store: Store, smtp: tuple[Settings, Inbox]) -> None:
    settings, inbox = smtp
    member = add_member(store.engine, "Mail Clinic", TLP.AMBER)
    with store.engine.begin() as conn:
        subscribe(conn, member.org.id, ["soc@mail-clinic.example.org"], "daily")
    ingest_healthcare(store, "m1", "mailed.example.org", "amber")
    sent = DigestSender(store.engine, settings).run_due(force=True)
    assert sent == 1
    assert inbox.tls == [True]
    message = inbox.messages[0]
    assert message["Subject"].startswith("[TLP:AMBER]")
    assert "mailed.example.org" in message.get_payload()


def test_digest_not_due_yet(store: Store, smtp: tuple[Settings, Inbox]) -> None:
    settings, inbox = smtp
    member = add_member(store.engine, "Weekly Clinic", TLP.AMBER)
    with store.engine.begin() as conn:
        subscribe(conn, member.org.id, ["soc@weekly.example.org"], "weekly")
    assert DigestSender(store.engine, settings).run_due() == 0
    assert inbox.messages == []


def test_invalid_frequency_rejected(store: Store) -> None:
    member = add_member(store.engine, "Monthly Clinic")
    with (
        pytest.raises(DigestError, match="daily or weekly"),
        store.engine.begin() as conn,
    ):
        subscribe(conn, member.org.id, ["a@b.example.org"], "monthly")


def test_relay_without_starttls_skipped(store: Store, tmp_path: Path) -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = Settings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_from="digest@medisac.test"
        )
        member = add_member(store.engine, "Plain Clinic", TLP.AMBER)
        with store.engine.begin() as conn:
            subscribe(conn, member.org.id, ["soc@plain.example.org"], "daily")
        sent = DigestSender(store.engine, settings).run_due(force=True)
    finally:
        controller.stop()
    assert sent == 0
    assert inbox.messages == []


def test_digest_lists_inventory_matches(store: Store) -> None:
    since = now_us() - 1
    member = add_member(store.engine, "Pump Clinic", TLP.GREEN)
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(vulnerabilities).values(
                cve="CVE-2024-1275",
                title="Infusion pump hard-coded credentials",
                first_seen=since,
                modified=since,
                digest="0" * 64,
                kev=True,
            )
        )
        conn.execute(
            sa.insert(vuln_notifications).values(
                org_id=member.org.id, cve="CVE-2024-1275", created=now_us()
            )
        )
    with store.engine.connect() as conn:
        digest = build_digest(conn, get_org(conn, member.org.id), since, now_us() + 1)
    assert digest.vulnerabilities == 1
    assert "CVE-2024-1275: Infusion pump hard-coded credentials" in digest.text
    assert "exploited in the wild" in digest.text
