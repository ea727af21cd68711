"""One run per feed at a time, within a process and across processes.

Inside one process a lock per feed id keeps the scheduler's threads and a
caller apart. Across processes the store holds the lock: PostgreSQL a
session-level advisory lock keyed by the feed id, SQLite an ``flock`` on a
small file beside the database (``<database>.feed-<id>.lock``), since SQLite
has no lock that outlives a transaction. An in-memory SQLite store is only
visible to one process, so the in-process lock is enough there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# PostgreSQL's two-key advisory locks held during a feed run take a key
# derived from this text and the schema, then the source id. The one-key
# publish lock of medisac.store.engine lives in a separate key space.
_LOCK_PREFIX = "medisac feed run:"

_process_locks: dict[tuple[str, int], threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(engine: Engine, feed_id: int) -> threading.Lock:
    key = (engine.url.render_as_string(hide_password=True), feed_id)
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


@contextlib.contextmanager
def feed_lock(engine: Engine, feed_id: int) -> Iterator[bool]:
    """Hold the run lock of ``feed_id`` if it is free; yield whether it was.

    The lock is released when the block ends, and by the operating system
    or the database server when the process dies.
    """
    lock = _process_lock(engine, feed_id)
    if not lock.acquire(blocking=False):
        yield False
        return
    try:
        with _store_lock(engine, feed_id) as held:
            yield held
    finally:
        lock.release()


@contextlib.contextmanager
def _store_lock(engine: Engine, feed_id: int) -> Iterator[bool]:
    if engine.dialect.name == "postgresql":
        with _postgres_lock(engine, feed_id) as held:
            yield held
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield True
        return
    with _file_lock(Path(f"{database}.feed-{feed_id}.lock")) as held:
        yield held


@contextlib.contextmanager
def _postgres_lock(engine: Engine, feed_id: int) -> Iterator[bool]:
    with engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        # Advisory locks are per database, and each schema holds its own
        # store with its own source ids, so the schema is part of the key.
        schema = auto.execute(sa.text("SELECT current_schema()")).scalar_one()
        keys = {"kind": _schema_key(str(schema)), "id": feed_id}
        held = auto.execute(
            sa.text("SELECT pg_try_advisory_lock(:kind, :id)"), keys
        ).scalar_one()
        try:
            yield bool(held)
        finally:
            if held:
                auto.execute(sa.text("SELECT pg_advisory_unlock(:kind, :id)"), keys)


def _schema_key(schema: str) -> int:
    """Return a signed 32-bit key for the feed locks of ``schema``."""
    key = zlib.crc32(f"{_LOCK_PREFIX}{schema}".encode())
    return key - 2**32 if key >= 2**31 else key


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX system
        yield True
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
