"""Hostile values (script tags, quotes) are escaped on every page that shows them."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import sqlalchemy as sa

from medisac.store.tables import indicators
from tests.conftest import Store
from tests.helpers import ingest_paths
from tests.portal.conftest import Accounts, ClientFor, csrf_of

# Each payload would run a script or break out of an attribute if a page
# inserted it unescaped.
VALUE = "\"'><script>alert(1)</script>.exe"
TAG = "<img src=x onerror=alert(2)>"
SOURCE = 'feed"><script>alert(3)</script>'
TITLE = "<script>alert(4)</script> \"quoted\" 'single'"
PAYLOADS = (VALUE, TAG, SOURCE, TITLE)
_RAW = re.compile(r"<script>alert|<img src=x|\"><script|'><script")


def _assert_escaped(html: str, where: str) -> None:
    assert _RAW.search(html) is None, where


def _hostile_indicator(store: Store, tmp_path: Path) -> str:
    body = {
        "indicators": [
            {"value": VALUE, "type": "filename", "tags": [TAG], "confidence": 80}
        ]
    }
    path = tmp_path / "hostile.json"
    path.write_bytes(orjson.dumps(body))
    ingest_paths(store.engine, [path], source=SOURCE, fmt="submission")
    with store.engine.connect() as conn:
        found = conn.execute(
            sa.select(indicators.c.stix_id).where(indicators.c.type == "filename")
        ).scalar_one()
    return str(found)


def test_indicator_pages_escape(
    store: Store, accounts: Accounts, client_for: ClientFor, tmp_path: Path
) -> None:
    stix_id = _hostile_indicator(store, tmp_path)
    analyst = client_for(accounts.analyst.email)
    member = client_for(accounts.admin.email)
    published = analyst.post(
        "/analyst/advisories",
        data={
            "csrf_token": csrf_of(analyst),
            "title": TITLE,
            "summary": TITLE,
            "tlp": "green",
            "indicators": stix_id,
        },
        follow_redirects=False,
    )
    advisory = published.headers["location"]
    pages = {
        "dashboard": member.get("/"),
        "search exact": member.get("/search", params={"q": VALUE}),
        "search text": member.get("/search", params={"q": "script"}),
        "detail": member.get(f"/indicators/{stix_id}"),
        "analyst detail": analyst.get(f"/indicators/{stix_id}"),
        "advisory": member.get(advisory),
        "advisories": member.get("/advisories"),
    }
    for where, page in pages.items():
        assert page.status_code == 200, where
        _assert_escaped(page.text, where)
    detail = pages["detail"].text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert "&lt;img src=x onerror=alert(2)&gt;" in detail
    assert "feed&#34;&gt;&lt;script&gt;alert(3)" in detail


def test_member_text_escaped(accounts: Accounts, client_for: ClientFor) -> None:
    member = client_for(accounts.admin.email)
    thread = member.post(
        "/assistance",
        data={"csrf_token": csrf_of(member), "subject": TITLE, "body": VALUE},
    )
    hunt = member.post(
        "/hunts",
        data={"csrf_token": csrf_of(member)},
        files={"file": (TITLE, b"no indicators here\n", "text/plain")},
    )
    analyst = client_for(accounts.analyst.email)
    pages = {
        "thread": thread,
        "assistance": member.get("/assistance"),
        "analyst assistance": analyst.get("/assistance"),
        "hunt": hunt,
        "hunts": member.get("/hunts"),
    }
    for where, page in pages.items():
        assert page.status_code == 200, where
        _assert_escaped(page.text, where)
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in pages["hunts"].text


def test_error_page_escapes(accounts: Accounts, client_for: ClientFor) -> None:
    member = client_for(accounts.admin.email)
    page = member.get("/indicators/%22%3E%3Cscript%3Ealert(5)")
    assert page.status_code == 404
    _assert_escaped(page.text, "error page")
    assert "&lt;script&gt;alert(5)" in page.text


def test_pages_forbid_scripts(accounts: Accounts, client_for: ClientFor) -> None:
    page = client_for(accounts.admin.email).get("/")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
