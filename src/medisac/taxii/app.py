"""The TAXII 2.1 server as a FastAPI application to mount at ``/taxii2``."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medisac.members.gate import Gate
from medisac.sensors.intake import SensorIntake
from medisac.settings import Settings
from medisac.store.keys import KeyRow
from medisac.taxii.api_root import api_root_router
from medisac.taxii.auth import READ_SCOPE
from medisac.taxii.collections import collections_router
from medisac.taxii.discovery import discovery_router
from medisac.taxii.errors import install_error_handlers
from medisac.taxii.media import check_accept
from medisac.taxii.objects import objects_router
from medisac.taxii.submit import submissions_router

log = logging.getLogger(__name__)

TAXII_MOUNT_PATH = "/taxii2"


def create_taxii_app(
    engine: Engine, settings: Settings, gate: Gate | None = None
) -> FastAPI:
    """Build the TAXII 2.1 application over the store behind ``engine``.

    Its paths are relative to where it is mounted; mount it at
    :data:`TAXII_MOUNT_PATH` (``app.mount("/taxii2", create_taxii_app(...))``)
    so discovery is ``/taxii2/`` and the API root ``/taxii2/api/``. Every
    resource needs an API key with the ``read`` scope, admitted by ``gate``
    (one of its own when None), and every response, errors included, has
    the TAXII 2.1 media type.
    """
    app = FastAPI(
        title="medisac TAXII 2.1",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    gate = gate or Gate(engine)
    authenticate = gate.require("taxii", READ_SCOPE)

    def require_reader(request: Request) -> KeyRow:
        # Credentials are checked first, so a caller without them learns
        # nothing, not even which media types the server speaks.
        key = authenticate(request)
        check_accept(request.headers.get("accept"))
        return key

    app.include_router(discovery_router(require_reader))
    app.include_router(api_root_router(require_reader))

    def require_any(request: Request) -> KeyRow:
        key = gate.admit_any(request, "taxii", (READ_SCOPE, "submit", "sensor"))
        check_accept(request.headers.get("accept"))
        return key

    app.include_router(collections_router(require_reader, require_any))
    app.include_router(objects_router(engine, settings, require_reader))

    def require_taxii_submitter(request: Request) -> KeyRow:
        # ``submit`` keys add to the submissions collection and ``sensor``
        # keys to the sightings collection; the route checks which.
        key = gate.admit_any(request, "submit", ("submit", "sensor"))
        check_accept(request.headers.get("accept"))
        return key

    intake = SensorIntake(engine, settings)
    app.include_router(submissions_router(engine, require_taxii_submitter, intake))
    install_error_handlers(app)
    app.add_middleware(RequestLogMiddleware)
    return app


class RequestLogMiddleware:
    """Log one DEBUG line per request: method, path, status, key id and time.

    The key id comes from ``request.state.key_id``, which authentication sets;
    the key itself is never logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.DEBUG):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            state = scope.get("state") or {}
            log.debug(
                "TAXII %s %s -> %d key=%s %.1f ms",
                scope["method"],
                scope["path"],
                status,
                state.get("key_id", "-"),
                (time.perf_counter() - started) * 1000,
            )
