"""The ``medisac serve`` application: every HTTP interface on one server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from medisac import __version__
from medisac.api.app import API_MOUNT_PATH, create_api_app
from medisac.export.served import FEEDS_MOUNT_PATH, create_feeds_app
from medisac.feeds.scheduler import FeedScheduler
from medisac.live.runner import DeliveryLoop
from medisac.members.gate import Gate
from medisac.portal.app import PORTAL_MOUNT_PATH, create_portal_app
from medisac.settings import Settings
from medisac.taxii.app import TAXII_MOUNT_PATH, create_taxii_app


def create_app(
    engine: Engine,
    settings: Settings,
    *,
    run_feeds: bool = False,
    gate: Gate | None = None,
) -> FastAPI:
    """Build the server over the store behind ``engine``.

    TAXII 2.1 is mounted at ``/taxii2``, the exports at ``/feeds``, the
    JSON API at ``/api/v1`` and the portal at ``/``. With
    ``run_feeds`` the feed scheduler starts with the application (in its
    lifespan) and stops with it.
    """

    gate = gate or Gate(engine)

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        # Without Redis there are no workers, so this process delivers.
        delivery = DeliveryLoop(engine, settings) if settings.redis is None else None
        if delivery is not None:
            delivery.start()
        if run_feeds:
            scheduler = FeedScheduler(engine, max_input_bytes=settings.max_input_bytes)
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()
            if delivery is not None:
                delivery.stop()
            application.state.portal.hunt_runner.shutdown()
            gate.usage.flush()

    app = FastAPI(
        title="medisac",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.mount(TAXII_MOUNT_PATH, create_taxii_app(engine, settings, gate))
    app.mount(FEEDS_MOUNT_PATH, create_feeds_app(engine, gate))
    app.mount(API_MOUNT_PATH, create_api_app(engine, gate, settings))
    # -- portal: it serves every path the mounts above do not, so it stays last.
    portal = create_portal_app(engine, gate)
    app.mount(PORTAL_MOUNT_PATH, portal)
    # A mounted application's lifespan does not run, so this one stops the
    # portal's hunts.
    app.state.portal = portal.state.portal
    return app
