"""Member and analyst pages over a real store, and what other members cannot reach."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from medisac.feeds.registry import FeedSpec, add_feed
from medisac.feeds.runner import run_feed
from medisac.members.access import Audience
from medisac.members.submissions import Kind, submit
from medisac.model import TLP
from medisac.portal.app import MAX_REQUEST_BYTES
from medisac.portal.hunts import HuntRunner
from medisac.report import build_report
from medisac.store.engine import begin_write
from medisac.store.tables import indicators, portal_hunts
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text
from tests.portal.conftest import Accounts, ClientFor, csrf_of

TRICKBOT_CONN = "logs/zeek_tsv/trickbot_2018-11/conn.log"
PHISHING = "contrib/eml/phishing_pot_sample-10.eml"


def _stix_id(store: Store, value: str) -> str:
    with store.engine.connect() as conn:
        found = conn.execute(
            sa.select(indicators.c.stix_id).where(indicators.c.value == value)
        ).scalar_one()
    return str(found)


def test_search_and_detail(
    store: Store, accounts: Accounts, client_for: ClientFor, tmp_path: Path
) -> None:
    ingest_text(store.engine, tmp_path, "evil.example.com\n", source="feed-a")
    client = client_for(accounts.reader.email)
    page = client.get("/search", params={"q": "EVIL.example.com."})
    assert "Exact matches" in page.text
    stix_id = _stix_id(store, "evil.example.com")
    assert f"/indicators/{stix_id}" in page.text
    detail = client.get(f"/indicators/{stix_id}")
    assert "feed-a" in detail.text
    assert "Report a sighting" not in detail.text
    part = client.get("/search", params={"q": "l.exam"})
    assert "contains the text" in part.text
    assert "evil.example.com" in part.text


def test_clearance_hides_amber(
    store: Store, accounts: Accounts, client_for: ClientFor, tmp_path: Path
) -> None:
    ingest_text(
        store.engine, tmp_path, "amber.example.org\n", source="feed-b", tlp=TLP.AMBER
    )
    stix_id = _stix_id(store, "amber.example.org")
    clinic = client_for(accounts.admin.email)
    hospital = client_for(accounts.other_admin.email)
    assert clinic.get(f"/indicators/{stix_id}").status_code == 404
    assert "amber.example.org" not in clinic.get("/search?q=amber.example").text
    assert hospital.get(f"/indicators/{stix_id}").status_code == 200


def test_report_sighting(
    store: Store, accounts: Accounts, client_for: ClientFor, tmp_path: Path
) -> None:
    ingest_text(store.engine, tmp_path, "198.51.100.7\n", source="feed-a")
    stix_id = _stix_id(store, "198.51.100.7")
    reader = client_for(accounts.reader.email)
    refused = reader.post(
        f"/indicators/{stix_id}/report",
        data={"csrf_token": csrf_of(reader), "kind": "false-positive"},
    )
    assert refused.status_code == 403
    admin = client_for(accounts.admin.email)
    answer = admin.post(
        f"/indicators/{stix_id}/report",
        data={"csrf_token": csrf_of(admin), "kind": "sighting", "count": "3"},
    )
    assert "Your report was recorded (sighting)" in answer.text
    assert "Fewer than three organisations reported sightings" in answer.text


def test_feed_urls_carry_key(accounts: Accounts, client_for: ClientFor) -> None:
    client = client_for(accounts.admin.email)
    page = client.post("/blocklists", data={"csrf_token": csrf_of(client)})
    urls = re.findall(r'class="url" type="text" readonly value="([^"]+)"', page.text)
    assert urls
    prefix = f"http://{accounts.clinic.id}:"
    assert all(url.startswith(prefix) for url in urls)
    # The clinic's basic tier fetches plain, EDL, RPZ and CSV only.
    assert not any("/feeds/stix" in url for url in urls)


def test_keys_of_other_org(accounts: Accounts, client_for: ClientFor) -> None:
    other = client_for(accounts.other_admin.email)
    other.post("/keys", data={"csrf_token": csrf_of(other), "days": "30"})
    key_id = re.search(r"<td>(\d+)</td>", other.get("/keys").text)
    assert key_id is not None
    clinic = client_for(accounts.admin.email)
    answer = clinic.post(
        f"/keys/{key_id.group(1)}/revoke", data={"csrf_token": csrf_of(clinic)}
    )
    assert answer.status_code == 404
    assert "active" in other.get("/keys").text


def test_inventory_rejects_garbage(accounts: Accounts, client_for: ClientFor) -> None:
    client = client_for(accounts.admin.email)
    answer = client.post(
        "/inventory",
        data={"csrf_token": csrf_of(client)},
        files={"file": ("assets.json", b"{not json", "application/json")},
    )
    assert answer.status_code == 400
    assert "assets.json" in answer.text


def _wait_for_hunt(client: object, url: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text: str = client.get(url).text  # type: ignore[attr-defined]
        if "Status: <strong>done" in text or "Status: <strong>failed" in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"the hunt at {url} did not finish within 120 s")


@pytest.mark.corpus
def test_hunt_private_and_deleted(
    store: Store,
    accounts: Accounts,
    client_for: ClientFor,
    corpus_dir: Path,
    tmp_path: Path,
) -> None:
    log_text = (corpus_dir / TRICKBOT_CONN).read_bytes()
    ingest_text(store.engine, tmp_path, "103.110.91.118\n24.113.161.184\n")
    client = client_for(accounts.reader.email)
    answer = client.post(
        "/hunts",
        data={"csrf_token": csrf_of(client)},
        files={"file": ("conn.log", log_text, "text/plain")},
        follow_redirects=False,
    )
    url = answer.headers["location"]
    text = _wait_for_hunt(client, url)
    assert "103.110.91.118" in text
    assert "24.113.161.184" in text
    other = client_for(accounts.other_admin.email)
    assert other.get(url).status_code == 404
    runner_dir = client.app.state.portal.hunt_runner.upload_dir  # type: ignore[attr-defined]
    assert list(runner_dir.iterdir()) == []
    with store.engine.connect() as conn:
        status = conn.execute(sa.select(portal_hunts.c.status)).scalar_one()
    assert status == "done"


def test_assistance_thread(accounts: Accounts, client_for: ClientFor) -> None:
    member = client_for(accounts.reader.email)
    answer = member.post(
        "/assistance",
        data={
            "csrf_token": csrf_of(member),
            "subject": "Alert on 198.51.100.7",
            "body": "Our firewall blocked it; is it safe?",
        },
        follow_redirects=False,
    )
    url = answer.headers["location"]
    analyst = client_for(accounts.analyst.email)
    assert "Alert on 198.51.100.7" in analyst.get("/assistance").text
    analyst.post(url, data={"csrf_token": csrf_of(analyst), "body": "It is malicious."})
    thread = member.get(url).text
    assert "It is malicious." in thread
    assert "answered" in thread
    other = client_for(accounts.other_admin.email)
    assert other.get(url).status_code == 404
    assert "Alert on" not in other.get("/assistance").text


def test_curation(
    store: Store, accounts: Accounts, client_for: ClientFor, tmp_path: Path
) -> None:
    ingest_text(store.engine, tmp_path, "wrong.example.net\n", source="feed-a")
    stix_id = _stix_id(store, "wrong.example.net")
    analyst = client_for(accounts.analyst.email)
    invalid = analyst.post(
        f"/analyst/indicators/{stix_id}",
        data={"csrf_token": csrf_of(analyst), "action": "confidence", "value": "900"},
    )
    assert invalid.status_code == 400
    assert "not between 0 and 100" in invalid.text
    analyst.post(
        f"/analyst/indicators/{stix_id}",
        data={"csrf_token": csrf_of(analyst), "action": "false-positive"},
    )
    with store.engine.connect() as conn:
        state = conn.execute(
            sa.select(indicators.c.state).where(indicators.c.stix_id == stix_id)
        ).scalar_one()
    assert state == "false_positive"


def test_tier_change(store: Store, accounts: Accounts, client_for: ClientFor) -> None:
    analyst = client_for(accounts.analyst.email)
    analyst.post(
        f"/analyst/members/{accounts.clinic.id}",
        data={"csrf_token": csrf_of(analyst), "tier": "premium", "clearance": "amber"},
    )
    member = client_for(accounts.admin.email)
    page = member.get("/blocklists").text
    assert "/feeds/stix" in page


def test_red_advisory_named_only(
    store: Store, accounts: Accounts, client_for: ClientFor
) -> None:
    analyst = client_for(accounts.analyst.email)
    answer = analyst.post(
        "/analyst/advisories",
        data={
            "csrf_token": csrf_of(analyst),
            "title": "Ransomware aimed at Harbour",
            "summary": "Patch the VPN appliance now.",
            "tlp": "red",
            "recipients": accounts.hospital.id,
        },
        follow_redirects=False,
    )
    url = answer.headers["location"]
    assert client_for(accounts.other_admin.email).get(url).status_code == 200
    clinic = client_for(accounts.admin.email)
    assert clinic.get(url).status_code == 404
    assert "Ransomware aimed" not in clinic.get("/advisories").text


@pytest.mark.corpus
def test_phishing_contribution(
    store: Store, accounts: Accounts, client_for: ClientFor, corpus_dir: Path
) -> None:
    member = client_for(accounts.admin.email)
    answer = member.post(
        "/submissions/email",
        data={"csrf_token": csrf_of(member)},
        files={"file": ("suspicious.eml", (corpus_dir / PHISHING).read_bytes())},
        follow_redirects=False,
    )
    url = answer.headers["location"]
    page = member.get(url).text
    assert "access-accsecurity.com" in page
    contribution_id = url.rsplit("/", 1)[1]
    analyst = client_for(accounts.analyst.email)
    review = analyst.get(f"/analyst/contributions/{contribution_id}").text
    assert "As received (analysts only)" in review
    other = client_for(accounts.other_admin.email)
    assert other.get(url).status_code == 404
    item = re.search(r'name="action-(\d+)"', review)
    assert item is not None
    decided = analyst.post(
        f"/analyst/contributions/{contribution_id}",
        data={
            "csrf_token": csrf_of(analyst),
            f"action-{item.group(1)}": "accept",
            "tlp": "AMBER",
        },
        follow_redirects=False,
    )
    assert decided.status_code == 303
    with store.engine.connect() as conn:
        levels = set(conn.execute(sa.select(indicators.c.tlp)).scalars())
    assert levels == {int(TLP.AMBER)}


def test_feed_health_failing(
    store: Store, accounts: Accounts, client_for: ClientFor, tmp_path: Path
) -> None:
    good = tmp_path / "good.txt"
    good.write_text("good-feed.example.org\n", encoding="utf-8")
    with begin_write(store.engine) as conn:
        add_feed(conn, FeedSpec(name="local-good", location=str(good)))
        add_feed(conn, FeedSpec(name="local-gone", location=str(tmp_path / "gone")))
    run_feed(store.engine, "local-good")
    run_feed(store.engine, "local-gone")
    page = client_for(accounts.analyst.email).get("/analyst/feeds").text
    rows = {
        name: re.search(rf"<td>{name}</td>.*?<strong>([^<]+)</strong>", page, re.S)
        for name in ("local-good", "local-gone")
    }
    good_row, gone_row = rows["local-good"], rows["local-gone"]
    assert good_row is not None
    assert gone_row is not None
    assert good_row.group(1) == "healthy"
    assert gone_row.group(1) == "failing"


@pytest.mark.slow
def test_monthly_reports(
    store: Store, accounts: Accounts, client_for: ClientFor, tmp_path: Path
) -> None:
    build_report(store.engine, "2026-11", org_id=None, out_dir=tmp_path / "community")
    build_report(
        store.engine, "2026-11", org_id=accounts.hospital.id, out_dir=tmp_path / "own"
    )
    clinic = client_for(accounts.admin.email)
    listing = clinic.get("/reports").text
    assert "/reports/2026-11/community/html" in listing
    assert accounts.hospital.id not in listing
    report = clinic.get("/reports/2026-11/community/html")
    assert report.status_code == 200
    assert report.headers["content-security-policy"].startswith("sandbox")
    own = f"/reports/2026-11/{accounts.hospital.id}/pdf"
    assert clinic.get(own).status_code == 404
    hospital = client_for(accounts.other_admin.email)
    pdf = hospital.get(own)
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")


def test_inventory_matches(
    store: Store, accounts: Accounts, client_for: ClientFor, cases_dir: Path
) -> None:
    ingest_paths(store.engine, [cases_dir / "B34-csaf-branch-shapes.json"])
    client = client_for(accounts.admin.email)
    inventory = b"vendor,product,version\nExample Medical,InfusionPump X,2.1.0\n"
    page = client.post(
        "/inventory",
        data={"csrf_token": csrf_of(client)},
        files={"file": ("assets.csv", inventory, "text/csv")},
    )
    assert "assets.csv: 1 products added" in page.text
    assert "CVE-2099-0001" in page.text
    assert "certain" in page.text
    other = client_for(accounts.other_admin.email).get("/inventory").text
    assert "CVE-2099-0001" not in other


def test_submission_accepted(
    store: Store, accounts: Accounts, client_for: ClientFor
) -> None:
    body = {"indicators": [{"value": "accepted.example.org", "type": "domain"}]}
    stored = submit(store.engine, accounts.clinic, None, body, Kind.API)
    analyst = client_for(accounts.analyst.email)
    assert stored.id in analyst.get("/analyst/review").text
    page = analyst.post(
        f"/analyst/review/{stored.id}",
        data={"csrf_token": csrf_of(analyst), "decision": "accept"},
    )
    assert "accepted" in page.text
    member = client_for(accounts.admin.email)
    listing = member.get("/submissions").text
    assert stored.id in listing
    found = member.get("/search", params={"q": "accepted.example.org"}).text
    assert "Exact matches for" in found
    assert "/indicators/indicator--" in found


def test_hunt_shutdown_drops_queued(
    store: Store, accounts: Accounts, tmp_path: Path
) -> None:
    runner = HuntRunner(store.engine, tmp_path / "uploads")
    release = threading.Event()
    # Occupy the runner's only worker, so the next hunt waits in the queue.
    runner._executor.submit(release.wait, 30)
    hunt_id, _ = runner.start(
        iter([b"198.51.100.7\n"]),
        filename="fw.log",
        org_id=accounts.clinic.id,
        user_id=accounts.admin.id,
        audience=Audience.member(accounts.clinic.id, TLP.GREEN),
    )
    assert len(list((tmp_path / "uploads").iterdir())) == 1
    threading.Timer(0.5, release.set).start()
    runner.shutdown()
    assert list((tmp_path / "uploads").iterdir()) == []
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(portal_hunts.c.status, portal_hunts.c.error).where(
                portal_hunts.c.id == hunt_id
            )
        ).one()
    assert row.status == "failed"
    assert "upload the log again" in row.error


def test_oversized_upload_rejected_early(
    accounts: Accounts, client_for: ClientFor
) -> None:
    client = client_for(accounts.admin.email)
    answer = client.post(
        "/hunts",
        content=b"x",
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(MAX_REQUEST_BYTES + 1),
        },
    )
    assert answer.status_code == 413
    assert "Upload too large" in answer.text
