"""Take the portal screenshots in docs/screenshots/ (run by hand, not by the tests).

    .venv/bin/python -m tests.portal.screenshots [--corpus ../shared/corpus]

The script builds a demonstration store in a temporary folder from the
threat-data corpus: Maltrail trails, a CISA medical advisory, a Trickbot
capture and a phishing e-mail. It serves the store on 127.0.0.1 and saves
one PNG per main page with Debian's Chromium.
"""

from __future__ import annotations

import argparse
import logging
import tarfile
import tempfile
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import Page, sync_playwright

from medisac.enrich.marks import set_healthcare
from medisac.members.orgs import OrgKind, add_org
from medisac.model import TLP
from medisac.model.time import now_us
from medisac.portal.users import Role, add_user
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store.engine import begin_write, create_engine
from medisac.store.migrate import upgrade
from medisac.store.publish import publish_static
from medisac.store.tables import provenance, sources, vuln_products
from medisac.vulns.inventory import InventoryItem, store_inventory
from tests.helpers import ingest_paths, serving
from tests.portal.test_browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
PASSWORD = "demonstration password"
TRAILS = ("malware/trickbot.txt",)
# Ransomware lists of the corpus; the script flags them as relevant to
# healthcare, as an analyst would.
RANSOMWARE = ("conti.txt", "hive_ransomware.txt", "rhysida.txt")


def _trail(corpus: Path, member: str, target: Path) -> Path | None:
    with tarfile.open(corpus / "scale/maltrail_static_trails.tar.gz") as archive:
        try:
            source = archive.extractfile(f"trails/static/{member}")
        except KeyError:
            return None
        if source is None:
            return None
        path = target / Path(member).name
        path.write_bytes(source.read())
    return path


def _store(corpus: Path, folder: Path) -> str:
    url = f"sqlite:///{folder / 'demo.db'}"
    engine = create_engine(url)
    upgrade(engine)
    with begin_write(engine) as conn:
        publish_static(conn)
        clinic = add_org(conn, "Valley Clinic", tier="basic", kind=OrgKind.CLINIC)
        add_org(conn, "Harbour Hospital", tier="standard", clearance=TLP.AMBER)
        add_user(
            conn,
            "sam@valley.example",
            PASSWORD,
            name="Sam Rivera",
            role=Role.MEMBER_ADMIN,
            org_id=clinic.id,
        )
        add_user(
            conn, "ana@exchange.example", PASSWORD, name="Ana Lyst", role=Role.ANALYST
        )
    for member in TRAILS:
        trail = _trail(corpus, member, folder)
        if trail is not None:
            name = "maltrail-" + Path(member).stem
            ingest_paths(engine, [trail], source=name, fmt="plain")
    lists = [corpus / "indicators/text/maltrail" / name for name in RANSOMWARE]
    ingest_paths(engine, lists, source="maltrail-ransomware", fmt="plain")
    ingest_paths(
        engine, [corpus / "vulns/csaf/icsma-17-009-01a.json"], source="cisa-icsma"
    )
    with begin_write(engine) as conn:
        flagged = conn.execute(
            sa.select(provenance.c.indicator_id)
            .join(sources, sources.c.id == provenance.c.source_id)
            .where(sources.c.name == "maltrail-ransomware")
        ).scalars()
        for indicator_id in list(flagged):
            set_healthcare(conn, indicator_id, True)
    with begin_write(engine) as conn:
        product = conn.execute(sa.select(vuln_products).limit(1)).first()
        if product is not None:
            item = InventoryItem(product.vendor, product.product, "")
            store_inventory(conn, clinic.id, [item], "csv", now_us())
    engine.dispose()
    return url


def _sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpus")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = _store(args.corpus, folder)
        engine = create_engine(url)
        app = create_app(engine, Settings.from_env(db=url))
        with serving(app) as base, sync_playwright() as runner:
            browser = runner.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            size = {"width": 1280, "height": 900}
            member = browser.new_context(base_url=base, viewport=size).new_page()
            member.goto("/login")
            _shot(member, "sign-in")
            _sign_in(member, "sam@valley.example")
            _shot(member, "dashboard")
            member.goto("/search?q=103.110.91.118")
            member.click("table.list a")
            _shot(member, "indicator")
            member.goto("/blocklists")
            _shot(member, "feeds")
            member.goto("/inventory")
            _shot(member, "inventory")
            member.goto("/hunts")
            log = args.corpus / "logs/zeek_tsv/trickbot_2018-11/conn.log"
            member.set_input_files("input[type=file]", str(log))
            member.click("text=Start the hunt")
            member.wait_for_selector("text=Status: done", timeout=120_000)
            _shot(member, "hunt")
            member.goto("/submissions")
            eml = args.corpus / "contrib/eml/phishing_pot_sample-10.eml"
            member.set_input_files(
                "form[action='/submissions/email'] input[type=file]", str(eml)
            )
            member.click("text=Send the e-mail")
            _shot(member, "contribution")
            analyst = browser.new_context(base_url=base, viewport=size).new_page()
            _sign_in(analyst, "ana@exchange.example")
            analyst.goto("/analyst/contributions/1")
            _shot(analyst, "review")
            analyst.goto("/analyst/feeds")
            _shot(analyst, "feed-health")
            analyst.goto("/analyst/members")
            _shot(analyst, "members")
            analyst.goto("/analyst/advisories/new")
            analyst.fill("input[name=title]", "Trickbot servers seen at a clinic")
            analyst.fill(
                "textarea[name=summary]",
                "A member's firewall logs show connections to Trickbot command "
                "servers. Block the addresses below and look for the infected "
                "host.",
            )
            analyst.click("main button:has-text('Publish')")
            member.goto("/advisories")
            member.click("text=Trickbot servers seen at a clinic")
            _shot(member, "advisory")
            browser.close()
        engine.dispose()
    print(f"wrote the screenshots to {OUT}")


if __name__ == "__main__":
    main()
