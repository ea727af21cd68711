"""Two ``medisac serve`` and two ``medisac worker`` processes sharing a store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from medisac.store.engine import create_engine
from tests.conftest import PG_URL

REDIS_URL = os.environ.get("MEDISAC_TEST_REDIS", "redis://127.0.0.1:6379/0")
MEDISAC = [sys.executable, "-m", "medisac"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """The processes, their store and their Redis key prefix."""

    db_url: str
    prefix: str
    env: dict[str, str]
    log_dir: Path
    servers: list[str] = field(default_factory=list)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        """Start ``medisac worker --name NAME``."""
        with (self.log_dir / f"worker-{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [*MEDISAC, "-v", "worker", "--name", name, "--claim-after", "3"],
                env=self.env,
                stdout=log,
                stderr=log,
            )
        self.workers[name] = process
        self.processes.append(process)
        return process

    def start_server(self) -> str:
        """Start ``medisac serve`` on a free port; return its base URL."""
        port = free_port()
        log_path = self.log_dir / f"serve-{port}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [*MEDISAC, "serve", "--port", str(port), "--no-scheduler"],
                env=self.env,
                stdout=log,
                stderr=log,
            )
        self.processes.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"medisac serve exited; see {log_path}"
            try:
                httpx.get(f"{base}/taxii2/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (
                    "medisac serve did not start in 30 s"
                )
                time.sleep(0.1)
        self.servers.append(base)
        return base

    def kill_worker(self, name: str) -> None:
        """Kill a worker with SIGKILL, as a crash or the OOM killer would."""
        process = self.workers[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_worker(self, name: str) -> None:
        """Stop a worker with SIGTERM and wait for it."""
        process = self.workers[name]
        process.terminate()
        process.wait(timeout=30)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@contextmanager
def cluster(tmp: Path) -> Iterator[Cluster]:
    """Create a PostgreSQL schema and start two servers and two workers on it."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    schema = f"medisac_cluster_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    db_url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    prefix = f"medisac-test-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "MEDISAC_DB": db_url,
        "MEDISAC_REDIS": REDIS_URL,
        "MEDISAC_REDIS_PREFIX": prefix,
        "MEDISAC_DEFAULT_FEEDS": "none",
        "MEDISAC_OPERATOR_KEY": "cluster-operator-" + uuid.uuid4().hex,
    }
    subprocess.run([*MEDISAC, "init"], env=env, check=True, capture_output=True)
    running = Cluster(db_url, prefix, env, tmp)
    try:
        running.start_server()
        running.start_server()
        running.start_worker("w1")
        running.start_worker("w2")
        yield running
    finally:
        running.stop()
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def store_engine(running: Cluster) -> sa.Engine:
    return create_engine(running.db_url)
