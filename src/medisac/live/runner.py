"""Background delivery: webhooks and digests, in a worker or in ``serve``."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from medisac.errors import MedisacError
from medisac.live.digests import DigestSender
from medisac.live.webhooks import WebhookSender
from medisac.settings import Settings

log = logging.getLogger(__name__)

# Seconds between rounds of webhook deliveries and digest checks.
ROUND_SECONDS = 1.0
DIGEST_EVERY_ROUNDS = 60


class DeliveryLoop:
    """Deliver webhooks every second and due digests every minute, in a thread."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(
            target=self.run, name="medisac-delivery", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for its round to end."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def run(self) -> None:
        """Run rounds until :meth:`stop`."""
        hooks = WebhookSender(self.engine, self.settings)
        digests = DigestSender(self.engine, self.settings)
        rounds = 0
        try:
            while not self.stop_event.is_set():
                try:
                    hooks.run_due()
                    if self.settings.smtp_host and rounds % DIGEST_EVERY_ROUNDS == 0:
                        digests.run_due()
                except (SQLAlchemyError, MedisacError):
                    log.exception("delivery round failed; the next one retries")
                rounds += 1
                self.stop_event.wait(ROUND_SECONDS)
        finally:
            hooks.close()
