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
from medisac.members.gate import Gate
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

    TAXII 2.1 is mounted at ``/taxii2`` and the exports at ``/feeds``; the
    JSON API and the portal join them on the same server later. With
    ``run_feeds`` the feed scheduler starts with the application (in its
    lifespan) and stops with it.
    """

    gate = gate or Gate(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        if run_feeds:
            scheduler = FeedScheduler(engine, max_input_bytes=settings.max_input_bytes)
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()
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
    app.mount(API_MOUNT_PATH, create_api_app(engine, gate))
    return app
