"""Open the store: SQLite in WAL mode by default, PostgreSQL through psycopg 3."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from medisac.errors import ConfigError

log = logging.getLogger(__name__)

# Key of the PostgreSQL advisory lock that serialises publishing, so that
# ``stix_objects.date_added`` grows in commit order on every backend.
PUBLISH_LOCK_KEY = 0x6D656469  # "medi"


def create_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings medisac relies on.

    ``postgresql://`` URLs use the psycopg 3 driver. SQLite connections run in
    WAL mode and open write transactions with ``BEGIN IMMEDIATE``, so a writer
    takes the database lock before it reads what it will change.
    Raises :class:`ConfigError` for an unsupported database.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True, **kwargs)
    if backend == "sqlite":
        engine = sa.create_engine(parsed, **kwargs)
        _configure_sqlite(engine)
        return engine
    raise ConfigError(
        f"unsupported database {backend!r} in {parsed.render_as_string()!r}; "
        "use sqlite:///path or postgresql://user@host/db"
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module, whose implicit
        # BEGIN would defer the write lock until the first write.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def begin_write(engine: Engine) -> Any:
    """Begin a transaction that writes and publishes, holding the publish lock.

    On SQLite this is ``BEGIN IMMEDIATE``; on PostgreSQL a transaction-scoped
    advisory lock. Use as ``with begin_write(engine) as conn:``.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE").begin()
    return _PostgresWrite(engine)


class _PostgresWrite:
    def __init__(self, engine: Engine) -> None:
        self._context = engine.begin()

    def __enter__(self) -> Connection:
        conn = self._context.__enter__()
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK_KEY}
        )
        return conn

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)
