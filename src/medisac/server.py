"""The ``medisac serve`` application: every HTTP interface on one server."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from medisac import __version__
from medisac.settings import Settings
from medisac.taxii.app import TAXII_MOUNT_PATH, create_taxii_app


def create_app(engine: Engine, settings: Settings) -> FastAPI:
    """Build the server over the store behind ``engine``.

    TAXII 2.1 is mounted at ``/taxii2``; the JSON API and the portal join it
    on the same server later.
    """
    app = FastAPI(title="medisac", version=__version__, docs_url=None, redoc_url=None)
    app.mount(TAXII_MOUNT_PATH, create_taxii_app(engine, settings))
    return app
