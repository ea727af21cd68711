"""Sign-in, sessions, expiry, CSRF and roles."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from medisac.portal.app import SIGN_IN_ATTEMPTS_PER_MINUTE, create_portal_app
from medisac.portal.sessions import SESSION_COOKIE, SessionPolicy
from medisac.portal.users import Role, UserError, add_user, verify_login
from medisac.store.engine import begin_write
from medisac.store.tables import portal_users
from tests.conftest import Store
from tests.portal.conftest import (
    PASSWORD,
    Accounts,
    ClientFor,
    csrf_of,
    sign_in,
)


def test_anonymous_redirected(client_for: ClientFor) -> None:
    client = client_for(None)
    answer = client.get("/search?q=x", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fsearch%3Fq%3Dx"


def test_sign_in_reaches_dashboard(client_for: ClientFor, accounts: Accounts) -> None:
    client = client_for(accounts.admin.email)
    page = client.get("/")
    assert page.status_code == 200
    assert "Dashboard" in page.text


def test_bad_sign_in_rejected(client_for: ClientFor, accounts: Accounts) -> None:
    client = client_for(None)
    page = client.get("/login")
    token = page.text.split('name="login_token" value="')[1].split('"')[0]
    wrong = client.post(
        "/login",
        data={"email": accounts.admin.email, "password": "wrong", "login_token": token},
    )
    assert wrong.status_code == 401
    assert SESSION_COOKIE not in client.cookies
    tokenless = client.post(
        "/login", data={"email": accounts.admin.email, "password": PASSWORD}
    )
    assert tokenless.status_code == 403
    assert "security token" in tokenless.text
    assert SESSION_COOKIE not in client.cookies


def test_next_stays_on_site(client_for: ClientFor, accounts: Accounts) -> None:
    client = client_for(None)
    page = client.get("/login?next=//evil.example/x")
    token = page.text.split('name="login_token" value="')[1].split('"')[0]
    answer = client.post(
        "/login",
        data={
            "email": accounts.admin.email,
            "password": PASSWORD,
            "login_token": token,
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_password_hash_is_argon2(store: Store, accounts: Accounts) -> None:
    with store.engine.connect() as conn:
        stored = conn.execute(portal_users.select()).first()
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


def test_account_rules(store: Store) -> None:
    with begin_write(store.engine) as conn:
        with pytest.raises(UserError, match="at least 12 characters"):
            add_user(conn, "a@b.example", "short", name="A", role=Role.ANALYST)
        with pytest.raises(UserError, match="belongs to an organisation"):
            add_user(conn, "a@b.example", PASSWORD, name="A", role=Role.MEMBER_ADMIN)


def test_disabled_cannot_sign_in(store: Store, accounts: Accounts) -> None:
    with begin_write(store.engine) as conn:
        conn.execute(portal_users.update().values(disabled=True))
        found = verify_login(conn, accounts.admin.email, PASSWORD)
    assert found is None


def test_csrf_checked(client_for: ClientFor, accounts: Accounts) -> None:
    client = client_for(accounts.admin.email)
    for path in ("/indicators/indicator--x/report", "/keys", "/blocklists"):
        missing = client.post(path, data={"kind": "sighting"})
        assert missing.status_code == 403, path
        assert "security token" in missing.text, path
    other = client_for(accounts.admin.email)
    form = {"subject": "s", "body": "b"}
    stolen = other.post("/assistance", data={**form, "csrf_token": csrf_of(client)})
    assert stolen.status_code == 403
    valid = client.post(
        "/assistance",
        data={**form, "csrf_token": csrf_of(client)},
        follow_redirects=False,
    )
    assert valid.status_code == 303


def test_ended_or_forged_session(client_for: ClientFor, accounts: Accounts) -> None:
    client = client_for(accounts.admin.email)
    cookie = client.cookies[SESSION_COOKIE]
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    replay = client_for(None)
    replay.cookies.set(SESSION_COOKIE, cookie)
    assert replay.get("/", follow_redirects=False).status_code == 303
    forged = client_for(None)
    forged.cookies.set(SESSION_COOKIE, "forged.value")
    assert forged.get("/", follow_redirects=False).status_code == 303


class Clock:
    """A settable clock in µs."""

    def __init__(self) -> None:
        self.now = 1_800_000_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds * 1_000_000


def _expiring_client(store: Store, clock: Clock) -> TestClient:
    app = create_portal_app(
        store.engine,
        policy=SessionPolicy(idle_seconds=600, max_seconds=3600),
        clock=clock,
    )
    return TestClient(app, base_url="http://127.0.0.1")


def test_session_expiry(store: Store, accounts: Accounts) -> None:
    clock = Clock()
    idle = _expiring_client(store, clock)
    sign_in(idle, accounts.admin.email)
    clock.advance(599)
    assert idle.get("/", follow_redirects=False).status_code == 200
    clock.advance(601)
    expired = idle.get("/", follow_redirects=False)
    assert expired.status_code == 303
    assert expired.headers["location"].startswith("/login")
    # Requests every 500 s keep a session alive until its maximum of 3600 s.
    busy = _expiring_client(store, clock)
    sign_in(busy, accounts.admin.email)
    for _ in range(7):
        clock.advance(500)
        assert busy.get("/", follow_redirects=False).status_code == 200
    clock.advance(500)
    assert busy.get("/", follow_redirects=False).status_code == 303


# (account, page, status): what each role may open.
ROLE_CASES = [
    ("reader@valley.example", "/", 200),
    ("reader@valley.example", "/hunts", 200),
    ("reader@valley.example", "/keys", 403),
    ("reader@valley.example", "/analyst/feeds", 403),
    ("admin@valley.example", "/keys", 200),
    ("admin@valley.example", "/analyst/review", 403),
    ("admin@valley.example", "/analyst/members", 403),
    ("analyst@exchange.example", "/analyst/review", 200),
    ("analyst@exchange.example", "/analyst/feeds", 200),
    ("analyst@exchange.example", "/blocklists", 403),
    ("operator@exchange.example", "/analyst/members", 200),
]


def test_roles(client_for: ClientFor, accounts: Accounts) -> None:
    clients = {}
    for email, path, status in ROLE_CASES:
        if email not in clients:
            clients[email] = client_for(email)
        answer = clients[email].get(path)
        assert answer.status_code == status, f"{email} {path}"


def test_analyst_cannot_add_users(client_for: ClientFor, accounts: Accounts) -> None:
    client = client_for(accounts.analyst.email)
    answer = client.post(
        "/analyst/users",
        data={
            "csrf_token": csrf_of(client),
            "email": "new@exchange.example",
            "name": "New",
            "role": "operator",
            "password": PASSWORD,
        },
    )
    assert answer.status_code == 403


def test_sign_in_attempts_limited(client_for: ClientFor, accounts: Accounts) -> None:
    client = client_for(None)
    statuses = []
    for _ in range(SIGN_IN_ATTEMPTS_PER_MINUTE + 1):
        page = client.get("/login")
        token = page.text.split('name="login_token" value="')[1].split('"')[0]
        answer = client.post(
            "/login",
            data={
                "email": accounts.admin.email,
                "password": "wrong",
                "login_token": token,
            },
        )
        statuses.append(answer.status_code)
    assert statuses[:-1] == [401] * SIGN_IN_ATTEMPTS_PER_MINUTE
    assert statuses[-1] == 429
