"""No organisation ever receives a record above its clearance, on any read path.

Hypothesis draws organisations with random clearances and indicators with
random TLP levels, sources and named RED recipients. For every organisation,
every read path (TAXII objects, manifest, object and versions with their
paging, the served exports and delta, the JSON API list, lookup and get,
and the search on its behalf) must return exactly the records it may read:
nothing above its clearance, no RED record that does not name it, and no
``more`` flag or cursor that betrays hidden records.
"""

from __future__ import annotations

import itertools
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medisac.members.access import Audience
from medisac.members.lookup import find_visible, parse_value
from medisac.model import TLP
from medisac.server import create_app
from medisac.settings import Settings
from medisac.stix.render import stix_id_for
from medisac.store.engine import begin_write
from medisac.store.tables import red_recipients
from medisac.taxii.media import TAXII_MEDIA_TYPE
from tests.conftest import Store
from tests.helpers import ingest_text, record
from tests.members.conftest import Member, add_member, bearer

COLLECTION = "/taxii2/api/collections/indicators"
LEVELS = list(TLP)
# Documentation networks (RFC 5737), which no known-benign list holds.
ADDRESSES = (
    f"{net}.{host}"
    for net in ("198.51.100", "203.0.113", "192.0.2")
    for host in range(1, 255)
)


@dataclass
class World:
    """Every record made so far: value -> (TLP, organisations named on it)."""

    records: dict[str, tuple[TLP, frozenset[str]]] = field(default_factory=dict)
    addresses: Iterator[str] = field(default_factory=lambda: iter(ADDRESSES))
    sources: Iterator[int] = field(default_factory=itertools.count)

    def readable(self, org_id: str, clearance: TLP) -> set[str]:
        audience = Audience.member(org_id, clearance)
        return {
            value
            for value, (level, named) in self.records.items()
            if audience.may_read(level, named)
        }


organisations = st.lists(st.sampled_from(LEVELS), min_size=1, max_size=3)
indicators = st.lists(
    st.tuples(st.sampled_from(LEVELS), st.sets(st.integers(0, 2), max_size=2)),
    min_size=1,
    max_size=6,
)


@pytest.fixture
def world() -> World:
    return World()


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(clearances=organisations, drawn=indicators)
def test_no_read_path_leaks(
    store: Store,
    world: World,
    clearances: list[TLP],
    drawn: list[tuple[TLP, set[int]]],
) -> None:
    members = [
        add_member(store, f"org {uuid.uuid4().hex[:8]}", tier="premium", clearance=c)
        for c in clearances
    ]
    new_values = make_records(store, world, members, drawn)
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with TestClient(app) as client:
        for member in members:
            expected = world.readable(member.org.id, member.org.clearance)
            check_member(store, client, member, expected, new_values)


def make_records(
    store: Store,
    world: World,
    members: list[Member],
    drawn: list[tuple[TLP, set[int]]],
) -> dict[str, TLP]:
    """Ingest the drawn indicators, one source per TLP level; name RED readers."""
    made: dict[str, TLP] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for level in TLP:
            values = [next(world.addresses) for tlp, _ in drawn if tlp == level]
            if not values:
                continue
            source = f"source-{next(world.sources)}"
            ingest_text(
                store.engine,
                Path(tmp),
                "\n".join(values) + "\n",
                source=source,
                tlp=level,
            )
            made.update(dict.fromkeys(values, level))
    ordered = list(made)
    for value, (_level, picks) in zip(ordered, drawn, strict=False):
        level = made[value]
        named = frozenset(
            members[index].org.id for index in picks if index < len(members)
        )
        if level == TLP.RED and named:
            indicator_id = record(store.engine, "ipv4", value).id
            with begin_write(store.engine) as conn:
                conn.execute(
                    red_recipients.insert(),
                    [{"indicator_id": indicator_id, "org_id": org} for org in named],
                )
        world.records[value] = (level, named if level == TLP.RED else frozenset())
    return made


def check_member(
    store: Store,
    client: TestClient,
    member: Member,
    expected: set[str],
    new_values: dict[str, TLP],
) -> None:
    headers = bearer(member.reader)
    taxii = {**headers, "Accept": TAXII_MEDIA_TYPE}
    label = f"{member.org.name} at {member.org.clearance.label}"

    # The collections also serve the exchange's identity and the TLP markings.
    objects = page_taxii(client, f"{COLLECTION}/objects/", taxii)
    served = {
        pattern_value(obj["pattern"]) for obj in objects if obj["type"] == "indicator"
    }
    assert served == expected, label
    manifest = page_taxii(client, f"{COLLECTION}/manifest/", taxii)
    ids = {entry["id"] for entry in manifest if entry["id"].startswith("indicator--")}
    assert ids == {stix_id_for("ipv4", value) for value in expected}, label

    for value in new_values:
        stix_id = stix_id_for("ipv4", value)
        visible = value in expected
        one = client.get(f"{COLLECTION}/objects/{stix_id}/", headers=taxii)
        assert one.status_code == (200 if visible else 404), (label, value)
        versions = client.get(
            f"{COLLECTION}/objects/{stix_id}/versions/", headers=taxii
        )
        assert versions.status_code == (200 if visible else 404), (label, value)
        api_one = client.get(f"/api/v1/indicators/{stix_id}", headers=headers)
        assert api_one.status_code == (200 if visible else 404), (label, value)
        lookup = client.get(
            "/api/v1/indicators/lookup", params={"value": value}, headers=headers
        )
        assert lookup.status_code == 200
        assert bool(lookup.json()) is visible, (label, value)
        with store.engine.connect() as conn:
            found = find_visible(conn, parse_value(value), member.org.audience)
        assert bool(found) is visible, (label, value)

    plain = client.get("/feeds/plain", params={"tlp": "red"}, headers=headers)
    assert set(plain.text.split()) == expected, label
    delta = client.get(
        "/feeds/delta",
        params={"since": "1970-01-01T00:00:00Z", "tlp": "red"},
        headers=headers,
    ).json()
    assert set(delta["added"].get("ipv4", [])) == expected, label
    assert set(delta["withdrawn"].get("ipv4", [])) == set(), label
    assert {value for value in page_api(client, headers)} == expected, label


def page_taxii(client: TestClient, path: str, headers: dict[str, str]) -> list[Any]:
    """Follow ``next`` with two items per page; a page after ``more`` is never empty."""
    found: list[Any] = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if token:
            params["next"] = token
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items = body.get("objects", [])
        if token:
            assert items, "a page promised by 'more' is empty"
        found.extend(items)
        if not body["more"]:
            return found
        token = body["next"]


def page_api(client: TestClient, headers: dict[str, str]) -> Iterator[str]:
    after = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if after:
            params["after"] = after
        body = client.get("/api/v1/indicators", params=params, headers=headers).json()
        if after:
            assert body["indicators"], "a page promised by 'next' is empty"
        yield from (item["value"] for item in body["indicators"])
        after = body["next"]
        if after is None:
            return


def pattern_value(pattern: str) -> str:
    return pattern.split("'")[1]
