"""Benchmark: sensor sightings through two workers, and commit-to-stream latency.

Usage: python bench/live_delivery.py [--known 100000] [--batches 100]
       [--batch-size 5000] [--new-share 0.02]

Starts, on 127.0.0.1, one ``medisac serve`` and two ``medisac worker``
processes on a fresh PostgreSQL schema and a fresh Redis key prefix, then:

1. seeds ``--known`` values through the queue (every one a new indicator);
2. queues ``--batches`` batches of ``--batch-size`` sightings, a share
   ``--new-share`` of them new values and the rest repeats of known values,
   and measures how fast the two workers drain the queue;
3. meanwhile reads the server's event stream and measures, for each new
   indicator, the time from its ``committed`` stamp to its arrival;
4. posts more batches to ``POST /api/v1/sightings:batch`` from four threads
   to measure what the API accepts per second.

The ``committed`` stamp is taken inside the writing transaction, before the
commit, so the latency includes the rest of that transaction. Results are
written to bench/out/live_delivery.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import redis
import sqlalchemy as sa

from medisac.members.orgs import OrgKind, add_org
from medisac.model import TLP
from medisac.sensors.batch import SensorBatch, Sighting
from medisac.sensors.queue import enqueue
from medisac.store.engine import begin_write, create_engine
from medisac.store.keys import create_key
from medisac.store.tables import sensor_batches

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PG_URL = os.environ.get("MEDISAC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MEDISAC_TEST_REDIS", "redis://127.0.0.1:6379/0")
MEDISAC = [sys.executable, "-m", "medisac"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_batch(
    batch_id: str, org_id: str, key_id: int, values: list[str]
) -> SensorBatch:
    now = int(time.time() * 1_000_000)
    return SensorBatch(
        sender=org_id,
        batch_id=batch_id,
        org_id=org_id,
        key_id=key_id,
        tlp=TLP.GREEN,
        received=now,
        sightings=[Sighting("domain", v, 1, now, now) for v in values],
    )


def applied(engine: sa.Engine, prefix: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(sensor_batches)
                .where(sensor_batches.c.batch_id.like(f"{prefix}%"))
            ).scalar_one()
        )


def wait_applied(engine: sa.Engine, prefix: str, count: int) -> float:
    while applied(engine, prefix) < count:
        time.sleep(0.05)
    return time.perf_counter()


def read_stream(
    base: str, key: str, latencies: list[float], stop: threading.Event
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream(
        "GET", f"{base}/api/v1/stream", headers=headers, timeout=httpx.Timeout(None)
    ) as response:
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith("data: "):
                received = time.time()
                body = json.loads(line[6:])
                committed = datetime.fromisoformat(
                    body["committed"].replace("Z", "+00:00")
                )
                latencies.append(received - committed.timestamp())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--known", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--new-share", type=float, default=0.02)
    args = parser.parse_args()

    schema = f"medisac_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    db_url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    prefix = f"medisac-bench-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "MEDISAC_DB": db_url,
        "MEDISAC_REDIS": REDIS_URL,
        "MEDISAC_REDIS_PREFIX": prefix,
        "MEDISAC_DEFAULT_FEEDS": "none",
    }
    subprocess.run([*MEDISAC, "init"], env=env, check=True, capture_output=True)
    engine = create_engine(db_url)
    with begin_write(engine) as conn:
        org = add_org(
            conn,
            "Bench Sensors",
            tier="premium",
            clearance=TLP.AMBER,
            kind=OrgKind.HOSPITAL_SYSTEM,
            trusted=False,
        )
        key = create_key(conn, "bench", "read,submit,sensor", org_id=org.id)
        key_id = int(conn.execute(sa.text("SELECT max(id) FROM api_keys")).scalar_one())
    client = redis.Redis.from_url(REDIS_URL)
    processes: list[subprocess.Popen[bytes]] = []
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    stop = threading.Event()
    results: dict[str, object] = {}
    try:
        processes.append(
            subprocess.Popen(
                [*MEDISAC, "serve", "--port", str(port), "--no-scheduler"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        for name in ("w1", "w2"):
            processes.append(
                subprocess.Popen(
                    [*MEDISAC, "worker", "--name", name, "--no-delivery"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        while True:
            try:
                httpx.get(f"{base}/taxii2/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)

        # 1. Seed known values: every sighting is a new indicator.
        known = [f"k{n}.bench-known.example.org" for n in range(args.known)]
        seed = [
            known[i : i + args.batch_size]
            for i in range(0, len(known), args.batch_size)
        ]
        started = time.perf_counter()
        for number, values in enumerate(seed):
            enqueue(
                client, prefix, make_batch(f"seed-{number}", org.id, key_id, values)
            )
        ended = wait_applied(engine, "seed-", len(seed))
        results["new_values_per_s"] = round(args.known / (ended - started))

        # 2. Steady load: repeats of known values with a share of new ones.
        reader = threading.Thread(
            target=read_stream, args=(base, key, latencies, stop), daemon=True
        )
        reader.start()
        time.sleep(1.0)
        rng = random.Random(7)
        fresh = 0
        loads = []
        for number in range(args.batches):
            values = []
            for _ in range(args.batch_size):
                if rng.random() < args.new_share:
                    values.append(f"n{fresh}.bench-new.example.org")
                    fresh += 1
                else:
                    values.append(rng.choice(known))
            loads.append(make_batch(f"load-{number}", org.id, key_id, values))
        started = time.perf_counter()
        for batch in loads:
            enqueue(client, prefix, batch)
        ended = wait_applied(engine, "load-", len(loads))
        elapsed = ended - started
        results["sightings_per_s"] = round(args.batches * args.batch_size / elapsed)
        results["load_seconds"] = round(elapsed, 2)
        results["new_values_in_load"] = fresh
        time.sleep(2.0)
        stop.set()
        if latencies:
            ordered = sorted(latencies)
            results["events"] = len(ordered)
            results["latency_p50_s"] = round(statistics.median(ordered), 3)
            results["latency_p99_s"] = round(ordered[int(len(ordered) * 0.99) - 1], 3)
            results["latency_max_s"] = round(ordered[-1], 3)

        # 4. The API path: four threads posting batches of repeats.
        def post(number: int) -> None:
            values = [rng.choice(known) for _ in range(args.batch_size)]
            response = httpx.post(
                f"{base}/api/v1/sightings:batch",
                json={"batch_id": f"api-{number}", "tlp": "green", "sightings": values},
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
            response.raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(post, range(40)))
        results["api_accepted_per_s"] = round(
            40 * args.batch_size / (time.perf_counter() - started)
        )
    finally:
        stop.set()
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        for redis_key in client.scan_iter(f"{prefix}:*"):
            client.delete(redis_key)
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    results["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"
    )
    results["arguments"] = vars(args)
    OUT.mkdir(exist_ok=True)
    (OUT / "live_delivery.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
