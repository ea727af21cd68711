"""The change feed of one server process, and server-sent events from it.

One :class:`ChangeFeed` per process reads new events from the store and
keeps the most recent ones in memory for its stream clients. It reads when
a writer announces a commit on the Redis channel (any process, any machine)
and at least every :data:`POLL_SECONDS` otherwise, so changes committed by
a process that announces nothing still arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from medisac.live.events import (
    ChangeEvent,
    Subscription,
    latest_seq,
    load_events,
    visible,
)
from medisac.members.access import Audience
from medisac.sensors.queue import changes_channel

log = logging.getLogger(__name__)

# Maximum seconds between two reads of the store without an announcement.
POLL_SECONDS = 1.0
# Without Redis nothing announces commits, so the feed reads more often.
POLL_SECONDS_ALONE = 0.25
# Events kept in memory; a client that resumes from before them reads the store.
BUFFER = 20_000
# Seconds between comment lines that keep idle connections open.
KEEPALIVE_SECONDS = 15.0
# Events read from the store per query when a client catches up.
CATCH_UP = 5_000


def announce(client: redis.Redis | None, prefix: str) -> None:
    """Tell every server process that new changes are committed."""
    if client is None:
        return
    try:
        client.publish(changes_channel(prefix), b"1")
    except redis.RedisError as exc:
        # Readers still poll the store, so the change arrives a little later.
        log.warning("could not announce committed changes on Redis: %s", exc)


class ChangeFeed:
    """Committed change events of this process's store, for stream clients."""

    def __init__(
        self, engine: Engine, *, redis_url: str | None = None, prefix: str = "medisac"
    ) -> None:
        self.engine = engine
        self.redis_url = redis_url
        self.prefix = prefix
        self.head = 0
        # Events with seq above ``base`` are all in ``buffer``.
        self.base = 0
        self.buffer: deque[ChangeEvent] = deque()
        self._changed: asyncio.Condition | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start reading the store, once, in the running event loop."""
        if self._task is not None:
            return
        self._changed = asyncio.Condition()
        self.head = self.base = await asyncio.to_thread(self._latest)
        self._task = asyncio.create_task(self._run(), name="medisac-change-feed")

    async def stop(self) -> None:
        """Stop reading the store."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def after(
        self, cursor: int, timeout: float = KEEPALIVE_SECONDS
    ) -> tuple[list[ChangeEvent], int]:
        """Return the events after ``cursor`` and the new cursor.

        Waits up to ``timeout`` seconds when there are none yet.
        """
        await self.start()
        assert self._changed is not None
        if cursor < self.base:
            return await asyncio.to_thread(self._catch_up, cursor)
        if cursor >= self.head:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self.head > cursor), timeout
                    )
        if cursor < self.base:
            return await asyncio.to_thread(self._catch_up, cursor)
        events = [event for event in self.buffer if event.seq > cursor]
        return events, max(cursor, self.head)

    def _latest(self) -> int:
        with self.engine.connect() as conn:
            return latest_seq(conn)

    def _catch_up(self, cursor: int) -> tuple[list[ChangeEvent], int]:
        with self.engine.connect() as conn:
            events = load_events(conn, cursor, CATCH_UP)
        if len(events) == CATCH_UP:
            return events, events[-1].seq
        # Fewer than a page: every event up to ``base`` was read.
        last = events[-1].seq if events else cursor
        return events, max(last, self.base)

    def _read(self) -> list[ChangeEvent]:
        with self.engine.connect() as conn:
            return load_events(conn, self.head, CATCH_UP)

    async def _publish(self) -> None:
        assert self._changed is not None
        try:
            events = await asyncio.to_thread(self._read)
        except SQLAlchemyError as exc:
            log.warning("change feed could not read the store: %s", exc)
            return
        if not events:
            return
        for event in events:
            if len(self.buffer) >= BUFFER:
                self.base = self.buffer.popleft().seq
            self.buffer.append(event)
        self.head = events[-1].seq
        async with self._changed:
            self._changed.notify_all()

    async def _run(self) -> None:
        if self.redis_url is None:
            while True:
                await self._publish()
                await asyncio.sleep(POLL_SECONDS_ALONE)
        while True:
            try:
                await self._listen(self.redis_url)
            except (redis.RedisError, OSError) as exc:
                log.warning(
                    "change feed lost Redis (%s); polling until it is back", exc
                )
                for _ in range(int(5 / POLL_SECONDS_ALONE)):
                    await self._publish()
                    await asyncio.sleep(POLL_SECONDS_ALONE)

    async def _listen(self, url: str) -> None:
        client = aioredis.Redis.from_url(url, socket_connect_timeout=5)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(changes_channel(self.prefix))
                await self._publish()
                while True:
                    await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_SECONDS
                    )
                    await self._publish()
        finally:
            await client.aclose()


def format_event(event: ChangeEvent) -> bytes:
    """Return ``event`` as one server-sent event."""
    data = orjson.dumps(event.body()).decode()
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n".encode()


async def event_stream(
    feed: ChangeFeed,
    audience: Audience,
    subscription: Subscription,
    cursor: int | None,
    disconnected: Callable[[], Any],
    sent: Callable[[list[ChangeEvent]], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    """Yield the server-sent events one reader receives, from ``cursor`` on.

    ``sent``, when given, is awaited with the events of each write, after
    the write, so that the caller can audit them.
    """
    await feed.start()
    position = feed.head if cursor is None else cursor
    # Clients wait this long (ms) before they reconnect with Last-Event-ID.
    yield b"retry: 2000\n: connected\n\n"
    while True:
        events, position_after = await feed.after(position)
        if await disconnected():
            return
        chosen = [
            event
            for event in events
            if visible(event, audience) and subscription.accepts(event)
        ]
        # One write per wake-up, however many events it brought.
        chunk = b"".join(format_event(event) for event in chosen)
        position = position_after
        yield chunk or b": keep-alive\n\n"
        if chosen and sent is not None:
            await sent(chosen)
