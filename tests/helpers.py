"""Small helpers shared by tests: ingesting text and reading the store back."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp

from medisac.ingest.pipeline import IngestRequest, ingest
from medisac.ingest.summary import IngestSummary
from medisac.model import TLP
from medisac.store.tables import indicators, provenance, sources, stix_objects


def ingest_text(
    engine: Engine,
    tmp_path: Path,
    text: str,
    *,
    source: str = "test",
    name: str = "input.txt",
    fmt: str | None = "plain",
    tlp: TLP | None = None,
    confidence: int | None = None,
) -> IngestSummary:
    """Write ``text`` to a file and ingest it."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return ingest_paths(
        engine, [path], source=source, fmt=fmt, tlp=tlp, confidence=confidence
    )


def ingest_paths(
    engine: Engine,
    paths: list[Path],
    *,
    source: str = "test",
    fmt: str | None = None,
    tlp: TLP | None = None,
    confidence: int | None = None,
    max_input_bytes: int = 256 * 1024 * 1024,
) -> IngestSummary:
    """Ingest files under one source name."""
    request = IngestRequest(
        inputs=tuple(paths),
        source=source,
        format=fmt,
        tlp=tlp,
        confidence=confidence,
        max_input_bytes=max_input_bytes,
    )
    return ingest(engine, request)


def records(engine: Engine) -> set[tuple[str, str]]:
    """Every stored (type, value) pair."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(indicators.c.type, indicators.c.value))
        return {(row.type, row.value) for row in rows}


def record(engine: Engine, kind: str, value: str) -> Any:
    """The indicator row for (type, value), or None."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(indicators).where(
                indicators.c.type == kind, indicators.c.value == value
            )
        ).first()


def provenance_of(engine: Engine, kind: str, value: str) -> dict[str, Any]:
    """Provenance rows of one record, by source name."""
    pc, ic, sc = provenance.c, indicators.c, sources.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(sc.name, provenance)
            .join(sources, sc.id == pc.source_id)
            .join(indicators, ic.id == pc.indicator_id)
            .where(ic.type == kind, ic.value == value)
        )
        return {row.name: row for row in rows}


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The content of the tables that ingest writes, for before/after checks."""
    with engine.connect() as conn:
        return {
            table.name: sorted(tuple(row) for row in conn.execute(sa.select(table)))
            for table in (indicators, provenance, stix_objects)
        }


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free port of 127.0.0.1; yield its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
