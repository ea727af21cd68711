"""Request rates per key, and the daily usage count behind ``medisac org usage``.

Both live in the serving process. The rate limiter is a token bucket per key:
a key may burst up to its tier's requests per minute, then gets one request
per ``60 / rate`` seconds. Usage counts are added up in memory and written to
the ``key_usage`` table at most every ``flush_seconds``, so counting costs no
database write per request.

NOTE: with several server processes each keeps its own buckets, so a key
can reach its rate once per process.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from medisac.model.time import now_us
from medisac.store.tables import api_keys, key_usage

log = logging.getLogger(__name__)


class RateLimiter:
    """Token buckets per key id; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # key id -> (tokens left, time of the last update)
        self._buckets: dict[int, tuple[float, float]] = {}

    def acquire(self, key_id: int, per_minute: int) -> float:
        """Take one request for ``key_id``; return 0, or the seconds to wait.

        A non-zero result means the request is over the rate and must be
        rejected; the caller sends it as ``Retry-After``.
        """
        rate = per_minute / 60.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """Return ``wait`` seconds as a ``Retry-After`` value, at least 1."""
        return str(max(1, math.ceil(wait)))


class UsageCounter:
    """Requests per key, UTC day and route group, written in batches."""

    def __init__(self, engine: Engine, flush_seconds: float = 10.0) -> None:
        self._engine = engine
        self._flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._pending: Counter[tuple[int, str, str]] = Counter()
        self._last_flush = time.monotonic()

    def count(self, key_id: int, route_group: str) -> None:
        """Count one request; write the counts when they are due."""
        day = datetime.now(UTC).date().isoformat()
        with self._lock:
            self._pending[(key_id, day, route_group)] += 1
            due = time.monotonic() - self._last_flush >= self._flush_seconds
        if due:
            self.flush()

    def flush(self) -> None:
        """Add the counts held in memory to the ``key_usage`` table."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._last_flush = time.monotonic()
        if not pending:
            return
        try:
            with self._engine.begin() as conn:
                for (key_id, day, group), requests in pending.items():
                    conn.execute(_upsert(self._engine, key_id, day, group, requests))
                conn.execute(
                    sa.update(api_keys)
                    .where(api_keys.c.id.in_({key for key, _, _ in pending}))
                    .values(last_used=now_us())
                )
        except sa.exc.SQLAlchemyError:
            # Usage is bookkeeping: a failed write loses counts, not requests.
            log.exception("writing %d usage counts failed", len(pending))


def _upsert(
    engine: Engine, key_id: int, day: str, group: str, requests: int
) -> sa.Executable:
    values = {"key_id": key_id, "day": day, "route_group": group, "requests": requests}
    insert = (
        postgresql.insert(key_usage)
        if engine.dialect.name == "postgresql"
        else sqlite.insert(key_usage)
    )
    statement = insert.values(**values)
    return statement.on_conflict_do_update(
        index_elements=["key_id", "day", "route_group"],
        set_={"requests": key_usage.c.requests + statement.excluded.requests},
    )
