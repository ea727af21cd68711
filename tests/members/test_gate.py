"""Keys, scopes, tiers and rates on every route group of the server."""

from __future__ import annotations

import base64
import hmac
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from medisac.members.gate import Gate
from medisac.members.tiers import get_tier
from medisac.model.time import now_us
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store import keys as keys_module
from medisac.store.engine import begin_write
from medisac.store.keys import create_key, resolve_key_id, revoke_key
from medisac.store.tables import key_usage
from medisac.taxii.media import TAXII_MEDIA_TYPE
from tests.conftest import Store
from tests.members.conftest import add_member, bearer

SUBMISSION = {"indicators": [{"value": "198.51.100.200"}]}

# One request per route group: method, path, extra headers, JSON body.
ROUTES: dict[str, tuple[str, str, dict[str, str], Any]] = {
    "taxii": ("GET", "/taxii2/api/collections/", {"Accept": TAXII_MEDIA_TYPE}, None),
    "feeds": ("GET", "/feeds/plain", {}, None),
    "api": ("GET", "/api/v1/me", {}, None),
    "submit": ("POST", "/api/v1/submissions", {}, SUBMISSION),
}


def call(client: TestClient, group: str, headers: dict[str, str]) -> Any:
    method, path, extra, body = ROUTES[group]
    return client.request(method, path, headers={**extra, **headers}, json=body)


def basic(user: str, key: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize("group", ROUTES)
def test_bad_keys_get_same_401(store: Store, client: TestClient, group: str) -> None:
    member = add_member(store, "Gate Hospital")
    with begin_write(store.engine) as conn:
        expired = create_key(
            conn, "old", "read,submit", org_id=member.org.id, expires=now_us() - 1
        )
        revoked = create_key(conn, "gone", "read,submit", org_id=member.org.id)
        revoke_key(conn, resolve_key_id(conn, revoked))
    answers = [
        call(client, group, {}),
        call(client, group, bearer("not-a-key")),
        call(client, group, bearer(expired)),
        call(client, group, bearer(revoked)),
        call(client, group, basic("someone", "")),
    ]
    for response in answers:
        assert response.status_code == 401, response.text
        assert "WWW-Authenticate" in response.headers
    bodies = {response.text for response in answers}
    assert len(bodies) == 1


def test_basic_needs_own_org_id(store: Store, client: TestClient) -> None:
    member = add_member(store, "Basic Clinic")
    other = add_member(store, "Other Clinic")
    assert call(client, "api", basic(member.org.id, member.reader)).status_code == 200
    assert call(client, "api", basic(other.org.id, member.reader)).status_code == 401
    # An operator key is accepted with any user name, as TAXII clients send one.
    assert call(client, "api", basic("taxii", store.operator_key)).status_code == 200


def test_read_key_cannot_submit(store: Store, client: TestClient) -> None:
    member = add_member(store, "Reader Only")
    response = call(client, "submit", bearer(member.reader))
    assert response.status_code == 403
    assert "'submit' scope" in response.json()["description"]


@pytest.mark.parametrize("group", ["feeds", "api", "submit"])
def test_basic_tier_groups_allowed(
    store: Store, client: TestClient, group: str
) -> None:
    member = add_member(store, "Small Clinic", tier="basic")
    response = call(client, group, bearer(member.submitter))
    assert response.status_code in (200, 202), response.text


def test_basic_tier_has_no_taxii(store: Store, client: TestClient) -> None:
    member = add_member(store, "Small Clinic", tier="basic")
    response = call(client, "taxii", bearer(member.reader))
    assert response.status_code == 403
    assert "basic tier" in response.json()["description"]


def test_basic_tier_export_formats(store: Store, client: TestClient) -> None:
    member = add_member(store, "Small Clinic", tier="basic")
    headers = bearer(member.reader)
    assert client.get("/feeds/edl", headers=headers).status_code == 200
    refused = client.get("/feeds/stix", headers=headers)
    assert refused.status_code == 403
    assert "stix" in refused.json()["description"]
    assert client.get("/feeds/misp/manifest.json", headers=headers).status_code == 403


@pytest.mark.parametrize("group", ROUTES)
def test_rate_limit_gives_429(store: Store, group: str) -> None:
    tier = "standard" if group == "taxii" else "basic"
    member = add_member(store, "Busy Member", tier=tier)
    limit = get_tier(tier).requests_per_minute
    clock = FrozenClock()
    gate = Gate(store.engine, clock=clock)
    app = create_app(store.engine, Settings.from_env(db=store.url), gate=gate)
    headers = bearer(member.submitter)
    with TestClient(app) as client:
        for _ in range(limit):
            assert gate.limiter.acquire(_key_id(store, member.submitter), limit) == 0
        over = call(client, group, headers)
        assert over.status_code == 429
        assert over.headers["Retry-After"] == "1"
        # The operator is bound by no tier.
        assert call(client, "api", bearer(store.operator_key)).status_code == 200
        # The bucket refills at the tier's rate: one request per 60 / rate s.
        clock.now += 60 / limit
        assert call(client, group, headers).status_code in (200, 202)
        assert call(client, group, headers).status_code == 429


def test_revocation_applies_next_request(store: Store, client: TestClient) -> None:
    member = add_member(store, "Revoked Clinic")
    headers = bearer(member.reader)
    assert call(client, "api", headers).status_code == 200
    with begin_write(store.engine) as conn:
        revoke_key(conn, resolve_key_id(conn, member.reader))
    for group in ROUTES:
        assert call(client, group, headers).status_code == 401


def test_key_compared_in_constant_time(
    store: Store, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = add_member(store, "Timing Clinic")
    compared: list[tuple[object, object]] = []
    original = hmac.compare_digest

    def spy(left: Any, right: Any) -> bool:
        compared.append((left, right))
        return original(left, right)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    assert call(client, "api", bearer(member.reader)).status_code == 200
    assert compared
    digest = keys_module.hash_key(member.reader)
    assert (digest, digest) in compared


def test_usage_counted_per_group(store: Store) -> None:
    member = add_member(store, "Counted Clinic")
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with TestClient(app) as client:
        for _ in range(3):
            call(client, "api", bearer(member.submitter))
        call(client, "feeds", bearer(member.submitter))
        call(client, "submit", bearer(member.submitter))
    key_id = _key_id(store, member.submitter)
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(key_usage.c.route_group, key_usage.c.requests).where(
                key_usage.c.key_id == key_id
            )
        ).all()
    assert dict(rows) == {"api": 3, "feeds": 1, "submit": 1}


class FrozenClock:
    """A monotonic clock that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _key_id(store: Store, key: str) -> int:
    with store.engine.connect() as conn:
        return resolve_key_id(conn, key)
