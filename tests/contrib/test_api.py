"""The contribution routes of the JSON API over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from medisac.server import create_app
from medisac.settings import Settings
from tests.conftest import Store
from tests.contrib.test_service import NAME, RECIPIENT, forwarded_phish
from tests.helpers import serving
from tests.members.conftest import add_member, bearer

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# The alias of the TAXII collection of indicators.
INDICATORS = "indicators"


@pytest.fixture
def base_url(store: Store) -> Iterator[str]:
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with serving(app) as url:
        yield url


def test_member_upload_and_review(store: Store, base_url: str) -> None:
    member = add_member(store, "Valley Hospital")
    with httpx.Client(base_url=base_url, headers=bearer(member.submitter)) as http:
        posted = http.post(
            "/api/v1/contributions/email",
            params={"filename": "fwd.eml"},
            content=forwarded_phish(),
            headers={"Content-Type": "message/rfc822"},
        )
        assert posted.status_code == 201, posted.text
        body = posted.json()
        contribution_id = body["contribution"]["id"]
        assert RECIPIENT not in posted.text
        assert NAME not in posted.text
        assert body["original_analysis"] is None
        listed = http.get("/api/v1/contributions").json()
        assert [item["id"] for item in listed] == [contribution_id]
        refused = http.post(
            f"/api/v1/contributions/{contribution_id}/review",
            json={"decisions": {}, "analyst": "x"},
        )
        assert refused.status_code == 403
    with httpx.Client(base_url=base_url, headers=bearer(store.operator_key)) as http:
        shown = http.get(f"/api/v1/contributions/{contribution_id}").json()
        assert RECIPIENT in str(shown["original_analysis"])
        decisions = {
            str(item["id"]): {"action": "accept"}
            for item in shown["items"]
            if item["proposal"] == "indicator"
        }
        reviewed = http.post(
            f"/api/v1/contributions/{contribution_id}/review",
            json={"decisions": decisions, "analyst": "analyst-1"},
        )
        assert reviewed.status_code == 200, reviewed.text
        assert reviewed.json()["stored"] == len(decisions)
    with httpx.Client(base_url=base_url, headers=bearer(member.reader)) as http:
        found = http.get("/api/v1/indicators", params={"limit": 1000})
        assert found.status_code == 200, found.text
        assert "mailbox-quota.net" in found.text
        assert RECIPIENT not in found.text
        assert NAME not in found.text
        taxii = http.get(
            f"/taxii2/api/collections/{INDICATORS}/objects/",
            headers={"Accept": "application/taxii+json;version=2.1"},
        )
        assert taxii.status_code == 200, taxii.text
        assert "mailbox-quota.net" in taxii.text
        assert RECIPIENT not in taxii.text
        assert NAME not in taxii.text


def test_other_member_not_found(store: Store, base_url: str) -> None:
    owner = add_member(store, "Valley Hospital")
    other = add_member(store, "Hill Clinic")
    with httpx.Client(base_url=base_url, headers=bearer(owner.submitter)) as http:
        posted = http.post(
            "/api/v1/contributions/email", content=forwarded_phish()
        ).json()
    with httpx.Client(base_url=base_url, headers=bearer(other.submitter)) as http:
        missing = http.get(f"/api/v1/contributions/{posted['contribution']['id']}")
    assert missing.status_code == 404


def test_report_upload(store: Store, base_url: str, reports_dir: Path) -> None:
    name = "prodaft_WizardSpider_IOCs.md"
    member = add_member(store, "Valley Hospital")
    with httpx.Client(base_url=base_url, headers=bearer(member.submitter)) as http:
        posted = http.post(
            "/api/v1/contributions/report",
            params={"filename": name, "publisher": "prodaft.com"},
            content=(reports_dir / name).read_bytes(),
        )
    assert posted.status_code == 201, posted.text
    items = {item["value"]: item for item in posted.json()["items"]}
    assert (
        items["https://resources.prodaft.com/wizard-spider-report"]["proposal"]
        == "context"
    )


def test_upload_too_large(
    store: Store, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDISAC_MAX_CONTRIBUTION_BYTES", "1000")
    member = add_member(store, "Valley Hospital")
    with httpx.Client(base_url=base_url, headers=bearer(member.submitter)) as http:
        posted = http.post(
            "/api/v1/contributions/email",
            params={"filename": "big.eml"},
            content=b"x" * 5000,
        )
    assert posted.status_code == 413
    assert "big.eml" in posted.json()["description"]


def test_encrypted_report_rejected(store: Store, base_url: str) -> None:
    from tests.contrib.test_reports import encrypted_pdf

    member = add_member(store, "Valley Hospital")
    with httpx.Client(base_url=base_url, headers=bearer(member.submitter)) as http:
        posted = http.post(
            "/api/v1/contributions/report",
            params={"filename": "locked.pdf"},
            content=encrypted_pdf(),
        )
    assert posted.status_code == 400
    assert "encrypted" in posted.json()["description"]


def test_reader_cannot_upload(store: Store, base_url: str) -> None:
    member = add_member(store, "Valley Hospital")
    with httpx.Client(base_url=base_url, headers=bearer(member.reader)) as http:
        posted = http.post("/api/v1/contributions/email", content=forwarded_phish())
    assert posted.status_code == 403
