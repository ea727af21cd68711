"""Shared fixtures: the corpus and hard cases beside the checkout, and stores."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

# `medisac init` enables the catalogue's default feeds on a new store, which
# the scheduler of `medisac serve` would then fetch from the internet. Tests,
# and the commands they start, never do.
os.environ["MEDISAC_DEFAULT_FEEDS"] = "none"

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _shared_folder(name: str) -> Path:
    folder = SHARED / name
    if not folder.is_dir():
        pytest.skip(f"{name}/ not found beside the checkout (expected at {folder})")
    return folder


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The public threat-data corpus; tests that need it skip without it."""
    return _shared_folder("corpus")


@pytest.fixture(scope="session")
def cases_dir() -> Path:
    """Hard cases distilled from public bug reports of other tools."""
    return _shared_folder("cases")


# -- stores: every test that takes `store` runs on SQLite and on PostgreSQL --
PG_URL = os.environ.get("MEDISAC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Store:
    """A migrated, empty store for one test."""

    url: str
    engine: Engine
    operator_key: str


def _pg_schema_url(schema: str) -> str:
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'medisac.db'}"
        return
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    schema = f"medisac_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A store created as `medisac init` creates it, with a known operator key."""
    from medisac.store.engine import begin_write, create_engine
    from medisac.store.keys import create_key
    from medisac.store.migrate import upgrade
    from medisac.store.publish import publish_static

    engine = create_engine(db_url)
    upgrade(engine)
    key = "test-operator-key-" + uuid.uuid4().hex
    with begin_write(engine) as conn:
        publish_static(conn)
        create_key(conn, "operator", "read,submit,admin", key)
    try:
        yield Store(db_url, engine, key)
    finally:
        engine.dispose()
