"""Fixtures for portal tests: organisations, accounts and signed-in clients."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher, profiles
from fastapi import FastAPI
from fastapi.testclient import TestClient

from medisac.members.orgs import Org, OrgKind, add_org
from medisac.model import TLP
from medisac.portal import users
from medisac.portal.app import create_portal_app
from medisac.portal.users import Role, User, add_user
from medisac.store.engine import begin_write
from tests.conftest import Store

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


@dataclass(frozen=True)
class Accounts:
    """Two member organisations and one account of every role."""

    clinic: Org
    hospital: Org
    reader: User
    admin: User
    other_admin: User
    analyst: User
    operator: User


def make_accounts(store: Store) -> Accounts:
    """Add a clinic and a hospital, with accounts, to ``store``."""
    with begin_write(store.engine) as conn:
        clinic = add_org(
            conn,
            "Valley Clinic",
            tier="basic",
            kind=OrgKind.CLINIC,
            clearance=TLP.GREEN,
        )
        hospital = add_org(
            conn,
            "Harbour Hospital",
            tier="standard",
            kind=OrgKind.HOSPITAL_SYSTEM,
            clearance=TLP.AMBER,
        )

        def user(email: str, role: Role, org: Org | None) -> User:
            return add_user(
                conn,
                email,
                PASSWORD,
                name=email.split("@")[0].title(),
                role=role,
                org_id=None if org is None else org.id,
            )

        return Accounts(
            clinic=clinic,
            hospital=hospital,
            reader=user("reader@valley.example", Role.MEMBER_READER, clinic),
            admin=user("admin@valley.example", Role.MEMBER_ADMIN, clinic),
            other_admin=user("admin@harbour.example", Role.MEMBER_ADMIN, hospital),
            analyst=user("analyst@exchange.example", Role.ANALYST, None),
            operator=user("operator@exchange.example", Role.OPERATOR, None),
        )


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    """Sign ``client`` in through the sign-in form; fail the test if it cannot."""
    page = client.get("/login")
    token = _LOGIN_TOKEN.search(page.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"email": email, "password": password, "login_token": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def csrf_of(client: TestClient, path: str = "/") -> str:
    """Return the CSRF token in the forms of the page at ``path``."""
    found = _CSRF.search(client.get(path).text)
    assert found is not None
    return found.group(1)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash passwords with argon2's cheapest parameters: the same format, faster."""
    monkeypatch.setattr(
        users, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST)
    )


@pytest.fixture
def accounts(store: Store) -> Accounts:
    return make_accounts(store)


@pytest.fixture
def portal_app(store: Store, accounts: Accounts) -> FastAPI:
    return create_portal_app(store.engine)


ClientFor = Callable[[str | None], TestClient]


@pytest.fixture
def client_for(portal_app: FastAPI) -> Iterator[ClientFor]:
    """A factory of clients signed in as the given e-mail address."""
    clients: list[TestClient] = []

    def make(email: str | None) -> TestClient:
        client = TestClient(portal_app, base_url="http://127.0.0.1")
        clients.append(client)
        if email is not None:
            sign_in(client, email)
        return client

    yield make
    for client in clients:
        client.close()
