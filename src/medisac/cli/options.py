"""Options shared by several commands, and the settings they build."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import typer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from medisac.errors import StoreError
from medisac.model import TLP
from medisac.settings import Settings
from medisac.store.engine import create_engine
from medisac.store.migrate import is_current

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (sqlite:///file or postgresql://…); "
        "default MEDISAC_DB, else medisac.db in the working directory.",
        show_default=False,
    ),
]


def open_store(settings: Settings) -> Engine:
    """Open the store and check that ``medisac init`` has created it.

    Raises :class:`StoreError` that tells the user to run ``medisac init``.
    """
    engine = create_engine(settings.db)
    where = engine.url.render_as_string()
    try:
        current = is_current(engine)
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StoreError(f"cannot open the store at {where}: {detail}") from exc
    if not current:
        raise StoreError(
            f"the store at {where} is missing or older "
            "than this medisac; run `medisac init` first"
        )
    return engine


@contextlib.contextmanager
def opened_store(db: str | None) -> Iterator[Engine]:
    """Open the store for one command and close its connections after it."""
    engine = open_store(Settings.from_env(db=db))
    try:
        yield engine
    finally:
        engine.dispose()


def parse_tlp(text: str, hint: str = "--tlp") -> TLP:
    """Read a TLP level from an option; a bad one is a usage error naming ``hint``."""
    try:
        return TLP.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None
