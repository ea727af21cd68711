"""Fixtures for member tests: the whole server app with organisations and keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from medisac.members.orgs import Org, OrgKind, add_org
from medisac.model import TLP
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store.engine import begin_write
from medisac.store.keys import create_key
from tests.conftest import Store


@dataclass(frozen=True)
class Member:
    """An organisation with one key of each kind."""

    org: Org
    reader: str
    submitter: str


def add_member(
    store: Store,
    name: str,
    *,
    tier: str = "standard",
    clearance: TLP = TLP.GREEN,
    trusted: bool = False,
) -> Member:
    """Add an organisation with a read key and a read+submit key."""
    with begin_write(store.engine) as conn:
        org = add_org(
            conn,
            name,
            tier=tier,
            clearance=clearance,
            kind=OrgKind.HOSPITAL_SYSTEM,
            trusted=trusted,
        )
        reader = create_key(conn, f"{name} reader", "read", org_id=org.id)
        submitter = create_key(conn, f"{name} submitter", "read,submit", org_id=org.id)
    return Member(org=org, reader=reader, submitter=submitter)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    """A client of the whole server, TAXII, exports and the API, without a key."""
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with TestClient(app) as test_client:
        yield test_client
