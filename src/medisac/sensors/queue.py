"""The Redis stream between the API and the workers that apply sensor batches.

The API appends each validated batch to the stream ``<prefix>:sightings``.
Workers read it in the consumer group ``appliers`` and acknowledge a message
only after the transaction that applied its batch has committed. A worker
that dies leaves its messages pending: it reads them again when it restarts
under the same name, and any worker claims them after
``claim_idle_ms`` of silence. Batch ids make the second application a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy.exc import SQLAlchemyError

from medisac.sensors.apply import BatchApplier, BatchOutcome
from medisac.sensors.batch import SensorBatch

log = logging.getLogger(__name__)

GROUP = "appliers"
# Entries kept in the stream; acknowledged batches beyond it are trimmed.
MAX_STREAM_LENGTH = 1_000_000


def stream_key(prefix: str) -> str:
    """Return the Redis key of the sightings stream."""
    return f"{prefix}:sightings"


def changes_channel(prefix: str) -> str:
    """Return the Redis channel on which writers announce committed changes."""
    return f"{prefix}:changes"


def connect(url: str) -> redis.Redis:
    """Return a Redis client for ``url`` with timeouts on every call."""
    return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)


def enqueue(client: redis.Redis, prefix: str, batch: SensorBatch) -> str:
    """Append ``batch`` to the stream; return the entry id."""
    entry = client.xadd(
        stream_key(prefix),
        {"batch": batch.to_message()},
        maxlen=MAX_STREAM_LENGTH,
        approximate=True,
    )
    return entry.decode() if isinstance(entry, bytes) else str(entry)


def ensure_group(client: redis.Redis, prefix: str) -> None:
    """Create the consumer group (and the stream) unless they exist."""
    try:
        client.xgroup_create(stream_key(prefix), GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class SensorConsumer:
    """One consumer in the group: reads, applies and acknowledges batches."""

    def __init__(
        self,
        client: redis.Redis,
        applier: BatchApplier,
        *,
        prefix: str,
        name: str,
        count: int = 16,
        block_ms: int = 1000,
        claim_idle_ms: int = 60_000,
        on_applied: Callable[[BatchOutcome], None] | None = None,
    ) -> None:
        self.client = client
        self.applier = applier
        self.stream = stream_key(prefix)
        self.name = name
        self.count = count
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.on_applied = on_applied
        self.applied = 0
        self.duplicates = 0

    def run(self, stop: threading.Event) -> None:
        """Apply batches until ``stop`` is set; first those left pending."""
        ensure_group(self.client, self.stream.rsplit(":", 1)[0])
        self._drain_own_pending(stop)
        rounds = 0
        while not stop.is_set():
            if rounds % 30 == 0:
                self._claim_abandoned()
            rounds += 1
            reply = self.client.xreadgroup(
                GROUP,
                self.name,
                {self.stream: ">"},
                count=self.count,
                block=self.block_ms,
            )
            self._handle(reply)

    def _drain_own_pending(self, stop: threading.Event) -> None:
        """Apply the messages this consumer read but never acknowledged."""
        while not stop.is_set():
            reply: Any = self.client.xreadgroup(
                GROUP, self.name, {self.stream: "0"}, count=self.count
            )
            if not any(entries for _stream, entries in reply or []):
                return
            log.info("consumer %s resumes its pending batches", self.name)
            self._handle(reply)

    def _claim_abandoned(self) -> None:
        """Take over messages other consumers left pending too long."""
        start = "0-0"
        while True:
            reply = self.client.xautoclaim(
                self.stream,
                GROUP,
                self.name,
                min_idle_time=self.claim_idle_ms,
                start_id=start,
                count=self.count,
            )
            start, entries = reply[0], reply[1]
            if entries:
                log.warning(
                    "consumer %s took over %d abandoned batch(es)",
                    self.name,
                    len(entries),
                )
                self._apply_entries(entries)
            if start in (b"0-0", "0-0") or not entries:
                return

    def _handle(self, reply: Any) -> None:
        for _stream, entries in reply or []:
            self._apply_entries(entries)

    def _apply_entries(self, entries: list[Any]) -> None:
        """Apply entries, each sender's together in one transaction, then ack."""
        groups: dict[str, list[tuple[Any, SensorBatch]]] = {}
        for entry_id, fields in entries:
            if not fields:
                # Trimmed from the stream while pending; nothing left to apply.
                self.client.xack(self.stream, GROUP, entry_id)
                continue
            try:
                batch = SensorBatch.from_message(fields[b"batch"])
            except (KeyError, TypeError, ValueError):
                log.exception("dropped unreadable stream entry %r", entry_id)
                self.client.xack(self.stream, GROUP, entry_id)
                continue
            groups.setdefault(batch.sender, []).append((entry_id, batch))
        for group in groups.values():
            try:
                outcomes = self.applier.apply_many([batch for _, batch in group])
            except SQLAlchemyError:
                # Left pending: this consumer or another one retries them.
                log.exception(
                    "%d sensor batch(es) of %s failed; they stay pending",
                    len(group),
                    group[0][1].sender,
                )
                time.sleep(1.0)
                return
            # Acknowledge only after the commit: a crash before this line
            # leaves the messages pending, and batch ids make a retry a no-op.
            self.client.xack(self.stream, GROUP, *[entry_id for entry_id, _ in group])
            for outcome in outcomes:
                if outcome.duplicate:
                    self.duplicates += 1
                else:
                    self.applied += 1
                if self.on_applied is not None:
                    self.on_applied(outcome)
