"""Create or migrate the store with Alembic."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from medisac.errors import StoreError

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate the store to the newest schema; return (old, new) revisions.

    Raises :class:`StoreError` when the database cannot be reached or migrated.
    """
    config = _config()
    head = ScriptDirectory.from_config(config).get_current_head() or ""
    try:
        with engine.begin() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate the store: {exc}") from exc
    if before != head:
        log.info("store migrated from %s to %s", before or "empty", head)
    return before, head


def current_revision(engine: Engine) -> str | None:
    """Return the store's schema revision, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: Engine) -> bool:
    """Tell whether the store has the newest schema."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    return current_revision(engine) == head
