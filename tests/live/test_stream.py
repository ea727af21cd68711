"""The event stream in one process (no Redis): delivery, TLP, filters, resume."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from medisac.enrich.marks import mark_false_positive, set_tlp
from medisac.model import TLP
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store.engine import begin_write
from medisac.store.tables import audit_log, indicators
from tests.conftest import Store
from tests.helpers import serving
from tests.live.support import Member, SseEvent, add_member, bearer, read_events


@pytest.fixture
def base(store: Store) -> Iterator[str]:
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with serving(app) as url:
        yield url


def post(base: str, member: Member, batch_id: str, values: list[str], tlp: str) -> None:
    response = httpx.post(
        f"{base}/api/v1/sightings:batch",
        json={"batch_id": batch_id, "tlp": tlp, "sightings": values},
        headers=bearer(member.key),
    )
    assert response.status_code == 200, response.text


def listen(
    base: str, member: Member, count: int, **options: object
) -> Future[list[SseEvent]]:
    ready = threading.Event()
    pool = ThreadPoolExecutor(1)
    future = pool.submit(
        read_events, f"{base}/api/v1/stream", member.key, count, ready=ready, **options
    )
    assert ready.wait(10), "the stream did not open"
    pool.shutdown(wait=False)
    return future


def test_new_indicator_streamed(base: str, store: Store) -> None:
    member = add_member(store.engine, "Stream Clinic", TLP.AMBER)
    events = listen(base, member, 1)
    post(base, member, "s1", ["bad-stream.example.org"], "green")
    received = events.result(timeout=15)
    assert [(e.event, e.data["value"]) for e in received] == [
        ("new", "bad-stream.example.org")
    ]


def test_stream_respects_clearance(base: str, store: Store) -> None:
    sensor = add_member(store.engine, "Sensor Org", TLP.AMBER)
    green = add_member(store.engine, "Green Clinic", TLP.GREEN)
    events = listen(base, green, 1)
    post(base, sensor, "a1", ["amber-only.example.org"], "amber")
    post(base, sensor, "g1", ["green-ok.example.org"], "green")
    received = events.result(timeout=15)
    assert [e.data["value"] for e in received] == ["green-ok.example.org"]


def test_resume_after_last_event_id(base: str, store: Store) -> None:
    member = add_member(store.engine, "Resume Clinic", TLP.AMBER)
    first = listen(base, member, 1)
    post(base, member, "r1", ["first-resume.example.org"], "green")
    last_id = first.result(timeout=15)[0].id
    post(base, member, "r2", ["second-resume.example.org"], "green")
    later = read_events(
        f"{base}/api/v1/stream", member.key, 1, last_event_id=last_id, timeout=10
    )
    assert [e.data["value"] for e in later] == ["second-resume.example.org"]


def test_type_filter(base: str, store: Store) -> None:
    member = add_member(store.engine, "Filter Clinic", TLP.AMBER)
    events = listen(base, member, 1, params={"type": "ipv4"})
    post(base, member, "f1", ["filtered-out.example.org", "198.51.100.23"], "green")
    assert [e.data["value"] for e in events.result(timeout=15)] == ["198.51.100.23"]


def test_invalid_last_event_id(base: str, store: Store) -> None:
    member = add_member(store.engine, "Bad Id Clinic")
    response = httpx.get(
        f"{base}/api/v1/stream",
        headers={**bearer(member.key), "Last-Event-ID": "abc"},
    )
    assert response.status_code == 400


def test_withdrawal_streamed(base: str, store: Store) -> None:
    member = add_member(store.engine, "Withdraw Clinic", TLP.AMBER)
    post(base, member, "w1", ["withdrawn-later.example.org"], "green")
    events = listen(base, member, 1)
    with begin_write(store.engine) as conn:
        found = conn.execute(
            sa.select(indicators.c.id).where(
                indicators.c.value == "withdrawn-later.example.org"
            )
        ).scalar_one()
        mark_false_positive(conn, found)
    received = events.result(timeout=15)
    assert [(e.event, e.data["state"]) for e in received] == [
        ("withdrawn", "false_positive")
    ]


def test_red_event_only_to_named(base: str, store: Store) -> None:
    named = add_member(store.engine, "Named Clinic", TLP.AMBER)
    other = add_member(store.engine, "Other Clinic", TLP.AMBER_STRICT)
    post(base, named, "red1", ["red-stream.example.org"], "green")
    to_named = listen(base, named, 1)
    to_other = listen(base, other, 1, timeout=3)
    with begin_write(store.engine) as conn:
        found = conn.execute(
            sa.select(indicators.c.id).where(
                indicators.c.value == "red-stream.example.org"
            )
        ).scalar_one()
        set_tlp(conn, found, TLP.RED, [named.org.id])
    assert [e.data["tlp"] for e in to_named.result(timeout=15)] == ["RED"]
    assert to_other.result(timeout=15) == []


def test_amber_events_audited(base: str, store: Store) -> None:
    member = add_member(store.engine, "Audited Clinic", TLP.AMBER)
    events = listen(base, member, 1)
    post(base, member, "au1", ["amber-audit.example.org"], "amber")
    received = events.result(timeout=15)
    assert [e.data["value"] for e in received] == ["amber-audit.example.org"]
    deadline = time.monotonic() + 10
    rows: list[sa.Row[tuple[str, str]]] = []
    while not rows and time.monotonic() < deadline:
        with store.engine.connect() as conn:
            rows = list(
                conn.execute(
                    sa.select(audit_log.c.action, audit_log.c.target).where(
                        audit_log.c.org_id == member.org.id
                    )
                )
            )
        time.sleep(0.1)
    assert ("read.amber", "api stream") in [tuple(row) for row in rows]
