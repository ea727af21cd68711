"""``medisac worker``: apply sensor batches and deliver webhooks and digests."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from types import FrameType
from typing import Annotated

import typer

from medisac.cli.options import DbOption, open_store
from medisac.errors import ConfigError
from medisac.live.runner import DeliveryLoop
from medisac.live.stream import announce
from medisac.sensors.apply import BatchApplier, BatchOutcome
from medisac.sensors.queue import SensorConsumer, connect
from medisac.settings import Settings

log = logging.getLogger(__name__)


def worker(
    name: Annotated[
        str | None,
        typer.Option(
            help="Consumer name in the Redis group; keep it across restarts so the "
            "worker resumes its own pending batches (default host name and PID)."
        ),
    ] = None,
    claim_after: Annotated[
        float,
        typer.Option(
            help="Seconds after which a batch another worker left pending is "
            "taken over."
        ),
    ] = 60.0,
    no_delivery: Annotated[
        bool,
        typer.Option("--no-delivery", help="Apply sensor batches only."),
    ] = False,
    db: DbOption = None,
) -> None:
    """Apply queued sensor batches; deliver webhooks and digests (needs Redis)."""
    settings = Settings.from_env(db=db)
    if settings.redis is None:
        raise ConfigError(
            "medisac worker needs MEDISAC_REDIS (such as redis://127.0.0.1:6379/0); "
            "without it `medisac serve` does this work itself"
        )
    engine = open_store(settings)
    client = connect(settings.redis.reveal())
    consumer_name = name or f"{socket.gethostname()}-{os.getpid()}"

    def announce_changes(outcome: BatchOutcome) -> None:
        if outcome.merged:
            announce(client, settings.redis_prefix)

    consumer = SensorConsumer(
        client,
        BatchApplier(engine),
        prefix=settings.redis_prefix,
        name=consumer_name,
        claim_idle_ms=int(claim_after * 1000),
        on_applied=announce_changes,
    )
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    delivery = None if no_delivery else DeliveryLoop(engine, settings)
    if delivery is not None:
        delivery.start()
    log.info("worker %s started", consumer_name)
    try:
        consumer.run(stop)
    finally:
        if delivery is not None:
            delivery.stop()
        log.info(
            "worker %s stopped: %d batches applied, %d repeats skipped",
            consumer_name,
            consumer.applied,
            consumer.duplicates,
        )
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add ``worker`` to ``app``."""
    app.command()(worker)
