"""Advisories: publishing, validation, and who reads them over TAXII."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from stix2validator import ValidationOptions, validate_instance

from medisac.advisories import (
    AdvisoryError,
    get_advisory,
    list_advisories,
    publish_advisory,
)
from medisac.members.access import Audience
from medisac.members.orgs import add_org
from medisac.model import TLP
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store.engine import begin_write
from medisac.store.keys import create_key
from medisac.store.tables import advisories, indicators
from tests.conftest import Store
from tests.helpers import ingest_text, serving

TAXII_ACCEPT = "application/taxii+json;version=2.1"
OBJECTS = "/taxii2/api/collections/advisories/objects/"
UNKNOWN = "0f6b0c3e-0000-4000-8000-000000000000"


@dataclass
class Members:
    """Three organisations with a read key each."""

    green: str
    amber: str
    other: str
    keys: dict[str, str]


@pytest.fixture
def members(store: Store) -> Members:
    with begin_write(store.engine) as conn:
        green = add_org(conn, "Valley Clinic", clearance=TLP.GREEN).id
        amber = add_org(conn, "City Hospital", clearance=TLP.AMBER).id
        other = add_org(conn, "Hill Clinic", clearance=TLP.GREEN).id
        keys = {
            org: create_key(conn, f"{org}-read", "read", org_id=org)
            for org in (green, amber, other)
        }
    return Members(green, amber, other, keys)


def _stix_ids(store: Store, tmp_path: Path, text: str, tlp: TLP) -> list[str]:
    ingest_text(store.engine, tmp_path, text, source=f"feed-{tlp.name}", tlp=tlp)
    values = text.split()
    with store.engine.connect() as conn:
        found = list(
            conn.execute(
                sa.select(indicators.c.stix_id)
                .where(indicators.c.value.in_(values))
                .order_by(indicators.c.value)
            ).scalars()
        )
    assert len(found) == len(values), "the test indicators were not stored"
    return found


def _publish(store: Store, **changes: object) -> str:
    fields: dict[str, object] = {
        "title": "Ransomware loader aimed at radiology systems",
        "summary": "Block the listed domains and patch the PACS server.",
        "indicator_ids": [],
        "cves": ["cve-2024-1275"],
        "tlp": TLP.GREEN,
        "author": "analyst",
    }
    fields.update(changes)
    return publish_advisory(store.engine, **fields)  # type: ignore[arg-type]


def _taxii_ids(base: str, key: str) -> set[str]:
    headers = {"Accept": TAXII_ACCEPT, "Authorization": f"Bearer {key}"}
    response = httpx.get(base + OBJECTS, headers=headers)
    assert response.status_code == 200, response.text
    return {
        obj["id"]
        for obj in response.json().get("objects", [])
        if obj["type"] == "report"
    }


def test_advisory_valid_stix(store: Store, tmp_path: Path) -> None:
    refs = _stix_ids(store, tmp_path, "pacs-update-check.xyz\n", TLP.GREEN)
    stix_id = _publish(store, indicator_ids=refs)
    view = get_advisory(store.engine, stix_id, Audience.everything())
    assert view is not None
    result = validate_instance(view.body, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(error) for error in result.errors]
    assert view.body["object_refs"][0] == refs[0]
    assert view.cves == ("CVE-2024-1275",)


def test_advisory_tlp_filter(store: Store, members: Members) -> None:
    green = _publish(store, tlp=TLP.GREEN)
    amber = _publish(store, tlp=TLP.AMBER)
    seen_green = {
        view.stix_id
        for view in list_advisories(
            store.engine, Audience.member(members.green, TLP.GREEN)
        )
    }
    seen_amber = {
        view.stix_id
        for view in list_advisories(
            store.engine, Audience.member(members.amber, TLP.AMBER)
        )
    }
    assert seen_green == {green}
    assert seen_amber == {green, amber}


def test_red_advisory_named_only(store: Store, members: Members) -> None:
    red = _publish(store, tlp=TLP.RED, red_recipients=["Valley Clinic"])
    named = Audience.member(members.green, TLP.GREEN)
    unnamed = Audience.member(members.other, TLP.AMBER_STRICT)
    assert get_advisory(store.engine, red, named) is not None
    assert get_advisory(store.engine, red, unnamed) is None
    assert get_advisory(store.engine, red, Audience.everything()) is not None


def test_taxii_advisories_audience(store: Store, members: Members) -> None:
    green = _publish(store, tlp=TLP.GREEN)
    amber = _publish(store, tlp=TLP.AMBER)
    red = _publish(store, tlp=TLP.RED, red_recipients=[members.other])
    app = create_app(store.engine, Settings(db=store.url))
    with serving(app) as base:
        assert _taxii_ids(base, members.keys[members.green]) == {green}
        assert _taxii_ids(base, members.keys[members.amber]) == {green, amber}
        assert _taxii_ids(base, members.keys[members.other]) == {green, red}
        assert _taxii_ids(base, store.operator_key) == {green, amber, red}


def test_indicator_above_tlp(store: Store, tmp_path: Path) -> None:
    refs = _stix_ids(store, tmp_path, "radiology-sync.top\n", TLP.AMBER)
    with pytest.raises(AdvisoryError, match="TLP:AMBER, more restricted"):
        _publish(store, indicator_ids=refs, tlp=TLP.GREEN)
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(advisories))
        assert stored.scalar_one() == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title": " "}, "title is empty"),
        ({"summary": ""}, "summary is empty"),
        ({"cves": ["2024-1275"]}, "is not a CVE id"),
        (
            {"indicator_ids": ["indicator--0f6b0c3e-0000-4000-8000-000000000000"]},
            "not stored",
        ),
        ({"tlp": TLP.RED}, "needs red_recipients"),
        ({"red_recipients": ["Valley Clinic"]}, "only for a TLP:RED"),
    ],
)
def test_advisory_rejects(
    store: Store, members: Members, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(AdvisoryError, match=message):
        _publish(store, **changes)
