"""``medisac serve``: the TAXII 2.1 server and the feed scheduler."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from medisac.cli.options import DbOption, open_store
from medisac.server import create_app
from medisac.settings import Settings


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (MEDISAC_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port to listen on (MEDISAC_PORT).")
    ] = None,
    no_scheduler: Annotated[
        bool,
        typer.Option(
            "--no-scheduler",
            help="Serve only; do not poll feeds (run them with `medisac feeds run`).",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Serve TAXII 2.1 on 127.0.0.1:8700 and poll due feeds in the background."""
    settings = Settings.from_env(db=db, host=host, port=port)
    engine = open_store(settings)
    app = create_app(engine, settings, run_feeds=not no_scheduler)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command()(serve)
