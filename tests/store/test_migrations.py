"""The migrations create exactly the schema that ``tables.py`` defines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from medisac.store.tables import metadata
from tests.conftest import Store


def test_migrations_match_tables(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        differences = compare_metadata(context, metadata)
    assert differences == []
