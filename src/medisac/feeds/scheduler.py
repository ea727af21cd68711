"""The feed scheduler that ``medisac serve`` runs beside its HTTP server.

An APScheduler 3.x ``BackgroundScheduler`` runs every job in its own thread
pool, so polling never blocks a request. One job looks for due feeds every
``poll_seconds`` (and once at start) and hands each to the pool, skipping a
feed whose previous run has not ended, so each feed has one run at a time.
A second job publishes the expiry of indicators past their ``valid_until``
with :func:`medisac.score.expire_due`, when that module is installed.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from medisac.feeds.runner import due_feeds, run_feed
from medisac.settings import DEFAULT_MAX_INPUT_BYTES

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 30
DEFAULT_EXPIRE_SECONDS = 300
DEFAULT_WORKERS = 4


class FeedScheduler:
    """Poll due feeds and expire indicators in background threads.

    Call :meth:`start` once and :meth:`shutdown` when the server stops.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        expire_seconds: float = DEFAULT_EXPIRE_SECONDS,
        workers: int = DEFAULT_WORKERS,
        max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES,
    ) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.expire_seconds = expire_seconds
        self.max_input_bytes = max_input_bytes
        # One extra worker keeps the poll and expiry jobs from waiting behind
        # a pool full of slow feeds.
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(workers + 2)},
            # misfire_grace_time None: a job that starts late still runs.
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": None,
            },
            timezone=UTC,
        )
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start polling now, then every ``poll_seconds``."""
        now = datetime.now(UTC)
        self._scheduler.add_job(
            self.poll,
            "interval",
            seconds=self.poll_seconds,
            id="feeds-poll",
            next_run_time=now,
        )
        expire = _expire_function()
        if expire is not None:
            engine = self.engine
            self._scheduler.add_job(
                lambda: _expire(expire, engine),
                "interval",
                seconds=self.expire_seconds,
                id="expire-due",
                next_run_time=now,
            )
        self._scheduler.start()
        log.info("feed scheduler started: polling every %g s", self.poll_seconds)

    def shutdown(self, *, wait: bool = False) -> None:
        """Stop the jobs; with ``wait``, also wait for runs in progress.

        Without ``wait`` a run in progress finishes in its thread, so a
        server stops at once even while a slow feed downloads.
        """
        self._scheduler.shutdown(wait=wait)
        log.info("feed scheduler stopped")

    def poll(self) -> list[str]:
        """Hand every due feed that is not running to the pool; return their names."""
        try:
            due = due_feeds(self.engine)
        except Exception:
            # The store may be briefly unreachable; the next poll tries again.
            log.exception("feed scheduler: cannot read the due feeds")
            return []
        started = []
        for name in due:
            with self._lock:
                if name in self._running:
                    continue
                self._running.add(name)
            self._scheduler.add_job(self._run, args=(name,), id=f"feed:{name}")
            started.append(name)
        return started

    def _run(self, name: str) -> None:
        try:
            run_feed(self.engine, name, max_input_bytes=self.max_input_bytes)
        except Exception:
            # run_feed records a feed's own failures; this is a feed removed
            # meanwhile or an unreachable store.
            log.exception("feed %s: the scheduled run failed", name)
        finally:
            with self._lock:
                self._running.discard(name)


def _expire_function() -> Callable[..., int] | None:
    """Return ``medisac.score.expire_due`` if that module is present."""
    try:
        module = importlib.import_module("medisac.score")
    except ImportError:
        return None
    function = getattr(module, "expire_due", None)
    return function if callable(function) else None


def _expire(expire: Callable[..., int], engine: Engine) -> None:
    try:
        count = expire(engine)
    except Exception:
        log.exception("expiring indicators past their valid_until failed")
        return
    if count:
        log.info("expired %d indicator(s) past their valid_until", count)
