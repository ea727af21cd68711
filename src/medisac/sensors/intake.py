"""Taking a validated sensor batch: queue it on Redis, or apply it at once.

The JSON API's ``sightings:batch`` route and the TAXII ``sightings``
collection both hand their batches to one :class:`SensorIntake`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from sqlalchemy.engine import Engine

from medisac.errors import MedisacError
from medisac.sensors.apply import BatchApplier
from medisac.sensors.batch import SensorBatch
from medisac.sensors.queue import connect, enqueue
from medisac.settings import Settings

log = logging.getLogger(__name__)


class QueueUnavailable(MedisacError):
    """Redis did not take the batch; the sensor should retry it later."""


@dataclass(frozen=True, slots=True)
class Intake:
    """The fate of a batch: queued for the workers, or applied, or a repeat."""

    queued: bool
    duplicate: bool


class SensorIntake:
    """Queue batches when Redis is configured; otherwise apply them in this process."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.prefix = settings.redis_prefix
        self.client: redis.Redis | None = None
        if settings.redis is not None:
            self.client = connect(settings.redis.reveal())
        self.applier = BatchApplier(engine)

    def take(self, batch: SensorBatch) -> Intake:
        """Queue or apply ``batch``.

        Raises :class:`QueueUnavailable` when Redis does not take it.
        """
        if self.client is None:
            outcome = self.applier.apply(batch)
            return Intake(queued=False, duplicate=outcome.duplicate)
        try:
            enqueue(self.client, self.prefix, batch)
        except redis.RedisError as exc:
            log.error("could not queue sensor batch %s: %s", batch.batch_id, exc)
            raise QueueUnavailable(
                "the sensor queue is unavailable; retry the batch later"
            ) from None
        return Intake(queued=True, duplicate=False)
