"""The multi-machine shape: two servers and two workers share PostgreSQL and Redis."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from medisac.model import TLP
from medisac.sensors.queue import GROUP, stream_key
from medisac.store.tables import sensor_batches, sightings
from tests.live.cluster import REDIS_URL, Cluster, cluster, store_engine
from tests.live.support import Member, add_member, bearer, read_events

pytestmark = pytest.mark.slow


def test_two_servers_two_workers(tmp_path: Path) -> None:
    # One test starts the processes once, because xdist may run the tests
    # of one module on different workers.
    with cluster(tmp_path) as running:
        engine = store_engine(running)
        try:
            member = add_member(engine, "Cluster Hospital", TLP.AMBER)
        finally:
            engine.dispose()
        check_sighting_across_servers(running, member)
        check_stream_across_servers(running, member)
        check_killed_worker(running, member)


def post(base: str, member: Member, batch_id: str, items: list[object]) -> None:
    response = httpx.post(
        f"{base}/api/v1/sightings:batch",
        json={"batch_id": batch_id, "tlp": "green", "sightings": items},
        headers=bearer(member.key),
        timeout=30,
    )
    assert response.status_code == 202, response.text


def lookup(base: str, member: Member, value: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{base}/api/v1/indicators/lookup",
        params={"value": value},
        headers=bearer(member.key),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()
    return found


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def check_sighting_across_servers(running: Cluster, member: Member) -> None:
    first, second = running.servers
    post(
        first, member, "visible-1", [{"value": "cross-server.example.org", "count": 4}]
    )

    # The operator sees the count; members see none from one organisation.
    operator = Member(member.org, running.env["MEDISAC_OPERATOR_KEY"])

    def sighted() -> bool:
        found = lookup(second, operator, "cross-server.example.org")
        return bool(found) and found[0]["community"]["sightings"] == 4  # type: ignore[index]

    wait_for(sighted)


def check_stream_across_servers(running: Cluster, member: Member) -> None:
    first, second = running.servers
    ready = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        events = pool.submit(
            read_events,
            f"{second}/api/v1/stream",
            member.key,
            1,
            ready=ready,
            timeout=30,
        )
        assert ready.wait(10)
        post(first, member, "stream-1", ["streamed-across.example.org"])
        received = events.result(timeout=40)
    assert [(e.event, e.data["value"]) for e in received] == [
        ("new", "streamed-across.example.org")
    ]


def check_killed_worker(running: Cluster, member: Member) -> None:
    first, second = running.servers
    batches = 12
    per_batch = 1_000
    # Only w1 reads while the batches arrive, so some are pending on it when killed.
    running.stop_worker("w2")
    for number in range(batches):
        items = [
            {"value": f"h{number}-{i}.kill-test.example.org", "count": 1 + i % 3}
            for i in range(per_batch)
        ]
        server = first if number % 2 else second
        post(server, member, f"kill-{number}", items)
        if number % 5 == 0:
            # A sensor that did not see the reply sends the batch again.
            post(first, member, f"kill-{number}", items)
    expected = batches * sum(1 + i % 3 for i in range(per_batch))
    engine = store_engine(running)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        held = 0
        deadline = time.monotonic() + 30
        while held == 0 and time.monotonic() < deadline:
            held = _pending_of(client, running.prefix, "w1")
        running.kill_worker("w1")
        assert held > 0, "w1 held no unacknowledged batch when it was killed"
        running.start_worker("w2")
        running.start_worker("w1")
        wait_for(lambda: _applied(engine) == batches, timeout=120)
        wait_for(lambda: _pending(client, running.prefix) == 0)
        with engine.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.sum(sightings.c.count)).where(
                    sightings.c.origin == "sensor",
                    sightings.c.first_seen > 0,
                    sightings.c.indicator_id.in_(_kill_test_ids(conn)),
                )
            ).scalar_one()
        assert total == expected
    finally:
        client.close()
        engine.dispose()


def _kill_test_ids(conn: sa.Connection) -> sa.ScalarSelect[int]:
    from medisac.store.tables import indicators

    return (
        sa.select(indicators.c.id)
        .where(indicators.c.value.like("%.kill-test.example.org"))
        .scalar_subquery()
    )


def _applied(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(sensor_batches)
                .where(sensor_batches.c.batch_id.like("kill-%"))
            ).scalar_one()
        )


def _pending(client: redis.Redis, prefix: str) -> int:
    summary = client.xpending(stream_key(prefix), GROUP)
    return int(summary["pending"])


def _pending_of(client: redis.Redis, prefix: str, consumer: str) -> int:
    for entry in client.xinfo_consumers(stream_key(prefix), GROUP):
        if entry["name"] in (consumer, consumer.encode()):
            return int(entry["pending"])
    return 0


def test_worker_needs_redis(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {"MEDISAC_DB": f"sqlite:///{tmp_path / 'm.db'}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "medisac", "worker"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "MEDISAC_REDIS" in result.stderr
