"""The portal in Debian's Chromium, driven by Playwright, over real HTTP on loopback.

One server and one browser serve the whole module. The scenarios build on
each other (the member's hunt and e-mail are what the analyst and the other
member then look at), so one test runs them in order: under pytest-xdist,
separate tests of a module may run in different processes.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, profiles

from medisac.portal import users
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store.engine import begin_write, create_engine
from medisac.store.keys import create_key
from medisac.store.migrate import upgrade
from medisac.store.publish import publish_static
from tests.conftest import Store
from tests.helpers import ingest_paths, serving
from tests.hunt.helpers import extract_trail
from tests.portal.conftest import PASSWORD, Accounts, make_accounts

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.corpus]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TRICKBOT_CONN = "logs/zeek_tsv/trickbot_2018-11/conn.log"
PHISHING = "contrib/eml/phishing_pot_sample-10.eml"
# An address of Maltrail's Trickbot trail that the Trickbot capture reaches.
TRICKBOT_HOST = "103.110.91.118"


@dataclass
class Site:
    """The running server, its accounts and the browser."""

    url: str
    accounts: Accounts
    browser: Any
    corpus: Path
    tmp: Path
    shared: dict[str, str]


@pytest.fixture(scope="module")
def site(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM}")
    tmp = tmp_path_factory.mktemp("portal-browser")
    saved = users._hasher
    users._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    db_url = f"sqlite:///{tmp / 'medisac.db'}"
    engine = create_engine(db_url)
    upgrade(engine)
    with begin_write(engine) as conn:
        publish_static(conn)
        create_key(conn, "operator", "read,submit,admin", "browser-operator-key")
    accounts = make_accounts(Store(db_url, engine, "browser-operator-key"))
    trail = extract_trail(corpus_dir, "malware/trickbot.txt", tmp)
    ingest_paths(engine, [trail], source="maltrail-trickbot", fmt="plain")
    app = create_app(engine, Settings.from_env(db=db_url))
    runner = playwright_api.sync_playwright().start()
    try:
        browser = runner.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        with serving(app) as url:
            yield Site(url, accounts, browser, corpus_dir, tmp, {})
        browser.close()
    finally:
        runner.stop()
        users._hasher = saved
        engine.dispose()


def _signed_in(site: Site, email: str) -> Any:
    context = site.browser.new_context(base_url=site.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url + "/")
    return page


def _member_search_feed_and_hunt(site: Site) -> None:
    page = _signed_in(site, site.accounts.admin.email)
    page.fill("input[name=q]", TRICKBOT_HOST)
    page.click("form.search button")
    page.click(f"table.list a:has-text('{TRICKBOT_HOST}')")
    assert "maltrail-trickbot" in page.inner_text("main")
    page.goto("/blocklists")
    page.click("text=Create a key and show the addresses with it")
    address = page.input_value("input[data-format=edl][data-list='list=ip']")
    blocklist = httpx.get(address, timeout=30)
    assert blocklist.status_code == 200
    assert TRICKBOT_HOST in blocklist.text.split()
    page.goto("/hunts")
    log = site.tmp / "conn.log"
    shutil.copyfile(site.corpus / TRICKBOT_CONN, log)
    page.set_input_files("input[type=file]", str(log))
    page.click("text=Start the hunt")
    page.wait_for_selector("text=Status: done", timeout=60_000)
    assert TRICKBOT_HOST in page.inner_text("table.hits")
    assert int(page.inner_text("strong.hit-count")) > 0
    site.shared["hunt"] = page.url
    page.context.close()


def _phishing_reviewed(site: Site) -> None:
    member = _signed_in(site, site.accounts.admin.email)
    member.goto("/submissions")
    eml = site.tmp / "suspicious.eml"
    shutil.copyfile(site.corpus / PHISHING, eml)
    member.set_input_files(
        "form[action='/submissions/email'] input[type=file]", str(eml)
    )
    member.click("text=Send the e-mail")
    assert "access-accsecurity.com" in member.inner_text("table.items")
    site.shared["contribution"] = member.url
    contribution_id = member.url.rsplit("/", 1)[1]
    analyst = _signed_in(site, site.accounts.analyst.email)
    analyst.goto("/analyst/review")
    analyst.click(f"text=#{contribution_id}")
    assert "As received (analysts only)" in analyst.inner_text("main")
    assert "access-accsecurity.com" in analyst.inner_text("table.items")
    row = analyst.locator("table.items tr", has_text="access-accsecurity.com").first
    row.locator("select").select_option("accept")
    analyst.click("text=Apply the decisions")
    assert re.search(r"[1-9]\d* accepted", analyst.inner_text("p.notice"))
    member.reload()
    assert "accept" in member.inner_text("table.items")
    member.context.close()
    analyst.context.close()


def _advisory_reaches_member(site: Site) -> None:
    analyst = _signed_in(site, site.accounts.analyst.email)
    analyst.goto(f"/search?q={TRICKBOT_HOST}")
    analyst.click(f"table.list a:has-text('{TRICKBOT_HOST}')")
    stix_id = analyst.inner_text("dl.facts code")
    analyst.goto("/analyst/advisories/new")
    analyst.fill("input[name=title]", "Trickbot servers seen at a member clinic")
    analyst.fill("textarea[name=summary]", "Block these addresses at the firewall.")
    analyst.fill("textarea[name=indicators]", stix_id)
    analyst.select_option("select[name=tlp]", "RED")
    analyst.fill("input[name=recipients]", site.accounts.clinic.id)
    analyst.click("main button:has-text('Publish')")
    assert "Trickbot servers seen" in analyst.inner_text("h1")
    site.shared["advisory"] = analyst.url.removeprefix(site.url)
    member = _signed_in(site, site.accounts.admin.email)
    member.goto("/advisories")
    member.click("text=Trickbot servers seen at a member clinic")
    assert "Block these addresses" in member.inner_text("main")
    analyst.context.close()
    member.context.close()


def _other_member_locked_out(site: Site) -> None:
    other = _signed_in(site, site.accounts.other_admin.email)
    for name in ("hunt", "contribution", "advisory"):
        target = site.shared.get(name)
        assert target is not None, f"an earlier scenario did not record the {name}"
        answer = other.goto(target)
        assert answer is not None
        assert answer.status == 404, name
    assert "Trickbot servers seen" not in other.goto("/advisories").text()
    other.context.close()


def test_portal_scenarios(site: Site) -> None:
    _member_search_feed_and_hunt(site)
    _phishing_reviewed(site)
    _advisory_reaches_member(site)
    _other_member_locked_out(site)
