"""API keys and TAXII authentication: Basic, Bearer, and errors that leak nothing."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.engine import Engine

from medisac.model import TLP
from medisac.store.engine import begin_write
from medisac.store.keys import KeyRow, create_key, find_key, hash_key
from medisac.store.tables import api_keys
from medisac.taxii import TAXII_MEDIA_TYPE
from tests.taxii.support import TAXII_ACCEPT, Keys

API_ROOT = "/taxii2/api/"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Accept": TAXII_ACCEPT}


def assert_taxii_error(response: Response, status: int) -> dict[str, str]:
    assert response.status_code == status
    assert response.headers["content-type"] == TAXII_MEDIA_TYPE
    body = response.json()
    assert body["http_status"] == str(status)
    assert body["title"]
    return body


def test_hash_key_is_sha256_hex() -> None:
    assert hash_key("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_created_key_is_stored_as_hash_only(engine: Engine) -> None:
    with begin_write(engine) as conn:
        key = create_key(conn, "member", "read")
        again = create_key(conn, "member 2", "read")
    assert len(key) >= 43
    assert key != again
    with engine.connect() as conn:
        stored = conn.execute(sa.select(api_keys)).all()
    assert {row.key_hash for row in stored} == {hash_key(key), hash_key(again)}
    assert all(key not in str(tuple(row)) for row in stored)


def test_find_key_returns_row_until_revoked(engine: Engine) -> None:
    with begin_write(engine) as conn:
        key = create_key(conn, "member", "read, TLP:AMBER", key="k" * 40)
    with engine.connect() as conn:
        row = find_key(conn, key)
        assert find_key(conn, key + "x") is None
        assert find_key(conn, "") is None
    assert row is not None
    assert row.name == "member"
    assert row.scopes == frozenset({"read", "tlp:amber"})
    with begin_write(engine) as conn:
        conn.execute(sa.update(api_keys).values(revoked=True))
    with engine.connect() as conn:
        assert find_key(conn, key) is None


@pytest.mark.parametrize(
    ("scopes", "clearance"),
    [
        ({"read"}, TLP.GREEN),
        ({"read", "tlp:clear"}, TLP.CLEAR),
        ({"read", "tlp:amber"}, TLP.AMBER),
        ({"read", "tlp:amber+strict", "tlp:green"}, TLP.AMBER_STRICT),
        ({"read", "tlp:red"}, TLP.AMBER_STRICT),
        ({"read", "tlp:purple"}, TLP.GREEN),
        ({"admin"}, TLP.RED),
    ],
)
def test_key_clearance_from_scopes(scopes: set[str], clearance: TLP) -> None:
    row = KeyRow(id=1, name="k", scopes=frozenset(scopes), created=0)
    assert row.tlp_clearance is clearance


def test_bearer_and_basic_both_work(client: TestClient, keys: Keys) -> None:
    bearer = {"Authorization": f"Bearer {keys.green}", "Accept": TAXII_ACCEPT}
    assert client.get(API_ROOT, headers=bearer).status_code == 200
    assert client.get(API_ROOT, headers=basic("anyone", keys.green)).status_code == 200
    assert client.get(API_ROOT, headers=basic("", keys.green)).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer ",
        "Bearer not-a-key",
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Digest username=x",
    ],
)
def test_missing_or_bad_credentials_401(
    client: TestClient, keys: Keys, authorization: str | None
) -> None:
    headers = {"Accept": TAXII_ACCEPT}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = client.get(API_ROOT, headers=headers)
    assert_taxii_error(response, 401)
    assert response.headers["www-authenticate"] == 'Basic realm="medisac", Bearer'
    assert keys.green not in response.text


def test_revoked_key_gets_same_401(client: TestClient, keys: Keys) -> None:
    unknown = client.get(API_ROOT, headers=basic("u", "unknown-key-" + "x" * 30))
    revoked = client.get(API_ROOT, headers=basic("u", keys.revoked))
    assert_taxii_error(revoked, 401)
    assert revoked.json() == unknown.json()
    assert revoked.headers["www-authenticate"] == unknown.headers["www-authenticate"]


def test_key_without_read_scope_403(client: TestClient, keys: Keys) -> None:
    response = client.get(API_ROOT, headers=basic("u", keys.no_read))
    body = assert_taxii_error(response, 403)
    assert "read" in body["description"]


def test_auth_checked_before_media_type(client: TestClient) -> None:
    response = client.get(API_ROOT, headers={"Accept": "text/html"})
    assert_taxii_error(response, 401)


def test_request_log_names_key_id_not_key(
    client: TestClient, engine: Engine, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    with engine.connect() as conn:
        row = find_key(conn, keys.green)
    assert row is not None
    with caplog.at_level("DEBUG", logger="medisac.taxii"):
        client.get(API_ROOT, headers=basic("u", keys.green))
    lines = [r.getMessage() for r in caplog.records if r.name == "medisac.taxii.app"]
    assert len(lines) == 1
    assert "GET /taxii2/api/ -> 200" in lines[0]
    assert f"key={row.id} " in lines[0]
    assert keys.green not in caplog.text
