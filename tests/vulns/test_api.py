"""The JSON API over real HTTP on loopback: keys, organisations, matches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from medisac.members.orgs import add_org
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store.engine import begin_write
from medisac.store.keys import create_key
from medisac.store.tables import api_keys
from tests.conftest import Store
from tests.helpers import serving
from tests.vulns.support import ingest_files

B34 = "B34-csaf-branch-shapes.json"


def member_key(store: Store, org_name: str, scopes: str) -> tuple[str, str]:
    """Create an organisation and a key owned by it; return (org id, key)."""
    with begin_write(store.engine) as conn:
        org = add_org(conn, org_name)
        key = create_key(conn, f"{org_name} key", scopes)
        conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.name == f"{org_name} key")
            .values(org_id=org.id)
        )
    return org.id, key


@pytest.fixture
def base_url(store: Store) -> Iterator[str]:
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with serving(app) as url:
        yield url


def test_affects_me(store: Store, base_url: str, cases_dir: Path) -> None:
    clinic, key = member_key(store, "pump-clinic", "read,submit")
    inventory = {
        "items": [
            {"vendor": "Example Medical", "product": "InfusionPump X", "version": v}
            for v in ("2.1.0", "2.5.0", "3.0.0")
        ]
        + [{"product": "no vendor"}]
    }
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}
    ) as http:
        posted = http.post("/api/v1/inventory", json=inventory)
        assert posted.status_code == 200, posted.text
        body = posted.json()
        assert body["org"] == clinic
        assert body["added"] == 3
        assert body["rejected"] == [
            {"location": "items[3]", "reason": "field vendor is missing"}
        ]

        ingest_files(store.engine, cases_dir / B34, source="b34")

        mine = http.get("/api/v1/vulnerabilities", params={"affects": "me"})
        assert mine.status_code == 200, mine.text
        matches = mine.json()["matches"]
        assert [(m["cve"], m["asset"]["version"], m["certain"]) for m in matches] == [
            ("CVE-2099-0001", "2.1.0", True),
            ("CVE-2099-0001", "2.5.0", True),
        ]
        assert matches[0]["priority"] >= matches[1]["priority"]

        listed = http.get("/api/v1/vulnerabilities", params={"healthcare": "true"})
        assert [v["cve"] for v in listed.json()["vulnerabilities"]] == ["CVE-2099-0001"]
        none = http.get("/api/v1/vulnerabilities", params={"kev": "true"})
        assert none.json()["vulnerabilities"] == []


def test_csv_inventory_post(store: Store, base_url: str) -> None:
    _org, key = member_key(store, "small-clinic", "read,submit")
    csv_body = "vendor,product,version\nBaxter,Connex Spot Monitor,1.50\n"
    response = httpx.post(
        f"{base_url}/api/v1/inventory",
        content=csv_body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["added"] == 1


def test_operator_key_names_org(store: Store, base_url: str) -> None:
    with begin_write(store.engine) as conn:
        add_org(conn, "named-clinic")
    auth = ("operator", store.operator_key)
    without = httpx.get(f"{base_url}/api/v1/vulnerabilities?affects=me", auth=auth)
    assert without.status_code == 400
    assert "?org=" in without.json()["detail"]
    named = httpx.get(
        f"{base_url}/api/v1/vulnerabilities",
        params={"affects": "me", "org": "named-clinic"},
        auth=auth,
    )
    assert named.status_code == 200
    assert named.json()["matches"] == []
    unknown = httpx.get(
        f"{base_url}/api/v1/vulnerabilities",
        params={"affects": "me", "org": "nobody"},
        auth=auth,
    )
    assert unknown.status_code == 404


def test_keys_checked(store: Store, base_url: str) -> None:
    _org, reader = member_key(store, "reader-clinic", "read")
    member_key(store, "other-clinic", "read,submit")
    missing = httpx.get(f"{base_url}/api/v1/vulnerabilities")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Basic")
    wrong = httpx.get(
        f"{base_url}/api/v1/vulnerabilities", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401

    headers = {"Authorization": f"Bearer {reader}"}
    no_submit = httpx.post(
        f"{base_url}/api/v1/inventory", json={"items": []}, headers=headers
    )
    assert no_submit.status_code == 403
    other = httpx.get(
        f"{base_url}/api/v1/vulnerabilities",
        params={"affects": "me", "org": "other-clinic"},
        headers=headers,
    )
    assert other.status_code == 403

    bad_json = httpx.post(
        f"{base_url}/api/v1/inventory",
        content=b"{not json",
        headers={
            "Authorization": f"Bearer {store.operator_key}",
            "Content-Type": "application/json",
        },
    )
    assert bad_json.status_code == 400
    assert json.loads(bad_json.text)["detail"].startswith("invalid JSON")
