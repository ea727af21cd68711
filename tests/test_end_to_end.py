"""The main job end to end: real corpus in, `medisac serve` out, real clients.

The server runs as its own process, as an operator starts it; the real
taxii2-client pages through it while another `medisac ingest` process writes,
and every object served is checked with stix2-validator.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import Server, as_pages

from medisac.store.tables import stix_objects
from tests.conftest import Store

# Corpus folders loaded before the server starts: every input format, and a
# large list so paging has many pages. One more folder is loaded while a
# client pages, so paging is checked against a concurrent writer.
FORMATS = ["stix21", "stix20/unit42", "misp/events", "openioc", "stix1", "reports"]
LARGE = "indicators/text/maltrail"
DURING = "indicators/text/avast"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(store: Store) -> dict[str, str]:
    return {**os.environ, "MEDISAC_DB": store.url}


def _ingest(store: Store, path: Path, source: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medisac",
            "ingest",
            str(path),
            "--source",
            source,
            "--rejects-ok",
        ],
        env=_env(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def served(
    request: pytest.FixtureRequest, store: Store, corpus_dir: Path, tmp_path: Path
) -> Iterator[str]:
    """Load the corpus folders given as the parameter, start `medisac serve`."""
    for folder in request.param:
        process = _ingest(store, corpus_dir / folder, folder.replace("/", "-"))
        _, stderr = process.communicate(timeout=300)
        assert process.returncode in (0, 1), stderr
    port = _free_port()
    log = tmp_path / "serve.log"
    log_handle = log.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "medisac", "serve", "--port", str(port)],
        env=_env(store),
        stdout=subprocess.DEVNULL,
        stderr=log_handle,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()
            try:
                requests.get(f"{base}/taxii2/", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, (
                    "medisac serve did not start in 30 s"
                )
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        log_handle.close()


@pytest.mark.corpus
@pytest.mark.slow
@pytest.mark.parametrize("served", [[*FORMATS, LARGE]], indirect=True)
def test_client_pages_exactly_once_while_ingesting(
    served: str, store: Store, corpus_dir: Path
) -> None:
    with store.engine.connect() as conn:
        before = set(
            conn.execute(
                sa.select(stix_objects.c.stix_id).where(
                    stix_objects.c.is_latest.is_(True)
                )
            ).scalars()
        )
    assert len(before) > 1000
    server = Server(f"{served}/taxii2/", user="operator", password=store.operator_key)
    collection = next(c for c in server.default.collections if "ndicator" in c.title)
    received: list[tuple[str, str]] = []
    writer: subprocess.Popen[str] | None = None
    for page, envelope in enumerate(as_pages(collection.get_objects, per_request=250)):
        received.extend(
            (obj["id"], obj.get("modified", obj["created"]))
            for obj in envelope.get("objects", [])
        )
        if page == 1:
            writer = _ingest(store, corpus_dir / DURING, "avast")
    assert writer is not None
    _, stderr = writer.communicate(timeout=300)
    assert writer.returncode in (0, 1), stderr
    assert len(received) == len(set(received)), "a version arrived twice"
    ids = [stix_id for stix_id, _ in received]
    assert before <= set(ids), "an object present before paging was missed"
    # An object arrives again only when the concurrent ingest changed it, and
    # then as a newer version.
    last: dict[str, str] = {}
    for stix_id, modified in received:
        if stix_id in last:
            assert modified > last[stix_id], stix_id
        last[stix_id] = modified


@pytest.mark.corpus
@pytest.mark.slow
@pytest.mark.parametrize("served", [FORMATS], indirect=True)
def test_every_served_object_validates(served: str, store: Store) -> None:
    server = Server(f"{served}/taxii2/", user="operator", password=store.operator_key)
    collection = next(c for c in server.default.collections if "ndicator" in c.title)
    options = ValidationOptions(version="2.1")
    failures: list[str] = []
    count = 0
    for envelope in as_pages(collection.get_objects, per_request=1000):
        for obj in envelope.get("objects", []):
            count += 1
            result = validate_instance(obj, options)
            if not result.is_valid:
                failures.append(f"{obj['id']}: {[str(e) for e in result.errors][:3]}")
    assert count > 500
    assert not failures, failures[:10]
