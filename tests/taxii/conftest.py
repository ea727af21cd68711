"""Fixtures for the TAXII server: a store made with create_all, keys and a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from medisac.settings import Settings
from medisac.store.engine import begin_write, create_engine
from medisac.store.keys import create_key
from medisac.store.tables import api_keys, metadata
from medisac.taxii import TAXII_MOUNT_PATH, create_taxii_app
from tests.taxii.support import Keys, Seeder


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An empty store on SQLite or PostgreSQL, with the current schema."""
    engine = create_engine(db_url)
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def seeder(engine: Engine) -> Seeder:
    """A seeder that has already published the static objects."""
    seeder = Seeder(engine)
    seeder.static()
    return seeder


@pytest.fixture
def keys(engine: Engine) -> Keys:
    """One key per kind of caller; ``revoked`` was revoked after creation."""
    with begin_write(engine) as conn:
        made = Keys(
            admin=create_key(conn, "operator", "read,submit,admin"),
            amber=create_key(conn, "amber member", "read,tlp:amber"),
            green=create_key(conn, "green member", "read"),
            no_read=create_key(conn, "sensor", "submit"),
            revoked=create_key(conn, "old member", "read,tlp:amber"),
        )
        conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.name == "old member")
            .values(revoked=True)
        )
    return made


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings with small pages, so paging shows with few objects."""
    return Settings(db=db_url, taxii_default_page=5, taxii_max_page=50)


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    """A test client for an app that mounts the TAXII server at /taxii2."""
    app = FastAPI()
    app.mount(TAXII_MOUNT_PATH, create_taxii_app(engine, settings))
    with TestClient(app) as http:
        yield http
