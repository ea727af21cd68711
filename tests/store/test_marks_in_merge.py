"""Known-benign and healthcare marks as the merge applies them, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from medisac.enrich.benign import ALLOW_DOMAIN, OPERATOR_ALLOW
from medisac.export.select import ExportFilter, selected_rows
from medisac.model import State
from medisac.settings import Settings
from medisac.store.engine import begin_write
from medisac.store.merge import republish, stale_digests
from medisac.store.tables import allow_list, indicators, stix_objects
from medisac.store.views import indicator_view, render_body
from medisac.taxii import TAXII_MOUNT_PATH, create_taxii_app
from medisac.taxii.collections import COLLECTIONS
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text, record
from tests.taxii.support import auth, collection_path


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    app = FastAPI()
    app.mount(TAXII_MOUNT_PATH, create_taxii_app(store.engine, Settings(db=store.url)))
    with TestClient(app) as http:
        yield http


def allow(store: Store, kind: str, value: str) -> None:
    with begin_write(store.engine) as conn:
        conn.execute(
            sa.insert(allow_list).values(
                type=kind, value=value, reason="clinic portal", created=1
            )
        )


def served_ids(client: TestClient, store: Store, alias: str) -> set[str]:
    response = client.get(
        collection_path(alias, "objects/"), headers=auth(store.operator_key)
    )
    assert response.status_code == 200, response.text
    return {obj["id"] for obj in response.json().get("objects", [])}


def versions_of(store: Store, stix_id: str) -> list[Any]:
    so = stix_objects.c
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(stix_objects).where(so.stix_id == stix_id).order_by(so.seq)
            )
        )


def exported(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {row.i_value for row in selected_rows(conn, ExportFilter())}


def test_benign_at_first_sight_unpublished(
    store: Store, tmp_path: Path, client: TestClient
) -> None:
    allow(store, ALLOW_DOMAIN, "portal.example.org")
    ingest_text(store.engine, tmp_path, "portal.example.org\nevil.example.org\n")
    row = record(store.engine, "domain", "portal.example.org")
    assert row.state == State.BENIGN
    assert row.benign == OPERATOR_ALLOW
    assert versions_of(store, row.stix_id) == []
    for collection in (c for c in COLLECTIONS if not c.writable):
        served = served_ids(client, store, collection.alias)
        assert row.stix_id not in served, collection.alias
    assert exported(store) == {"evil.example.org"}
    with store.engine.connect() as conn:
        assert stale_digests(conn) == []


def test_benign_later_withdraws(
    store: Store, tmp_path: Path, client: TestClient
) -> None:
    ingest_text(store.engine, tmp_path, "portal.example.org\n", source="a")
    stix_id = record(store.engine, "domain", "portal.example.org").stix_id
    assert stix_id in served_ids(client, store, "indicators")
    allow(store, ALLOW_DOMAIN, "example.org")
    # Read again by another source: the merge looks the value up again.
    ingest_text(store.engine, tmp_path, "portal.example.org\n", source="b")
    row = record(store.engine, "domain", "portal.example.org")
    assert row.state == State.BENIGN
    versions = versions_of(store, stix_id)
    assert [v.active for v in versions] == [True, False]
    body = client.get(
        collection_path("indicators", f"objects/{stix_id}/"),
        headers=auth(store.operator_key),
    ).json()["objects"][0]
    # The final version marks the value as no longer valid.
    assert body["x_medisac_state"] == "benign"
    assert body["valid_until"] == body["modified"]
    assert "portal.example.org" not in exported(store)


def test_false_positive_stays(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "portal.example.org\n", source="a")
    with begin_write(store.engine) as conn:
        conn.execute(sa.update(indicators).values(state=State.FALSE_POSITIVE.value))
    allow(store, ALLOW_DOMAIN, "portal.example.org")
    ingest_text(store.engine, tmp_path, "portal.example.org\n", source="b")
    row = record(store.engine, "domain", "portal.example.org")
    assert row.state == State.FALSE_POSITIVE
    assert row.benign == OPERATOR_ALLOW


def test_benign_cleared_when_list_drops(store: Store, tmp_path: Path) -> None:
    allow(store, ALLOW_DOMAIN, "portal.example.org")
    ingest_text(store.engine, tmp_path, "portal.example.org\n", source="a")
    with begin_write(store.engine) as conn:
        conn.execute(sa.delete(allow_list))
    ingest_text(store.engine, tmp_path, "portal.example.org\n", source="b")
    row = record(store.engine, "domain", "portal.example.org")
    assert row.benign is None
    assert row.state == State.ACTIVE
    # Never published while benign, so its first version is the active one.
    assert [v.active for v in versions_of(store, row.stix_id)] == [True]


def set_analyst_healthcare(store: Store, value: str, flag: bool | None) -> None:
    with begin_write(store.engine) as conn:
        indicator_id = conn.execute(
            sa.update(indicators)
            .where(indicators.c.value == value)
            .values(analyst_healthcare=flag)
            .returning(indicators.c.id)
        ).scalar_one()
        republish(conn, [indicator_id])


def test_analyst_healthcare_overrides(
    store: Store, tmp_path: Path, client: TestClient
) -> None:
    ingest_text(store.engine, tmp_path, "plain.example.org\n")
    row = record(store.engine, "domain", "plain.example.org")
    assert not row.healthcare
    assert row.stix_id not in served_ids(client, store, "healthcare")
    set_analyst_healthcare(store, "plain.example.org", True)
    assert record(store.engine, "domain", "plain.example.org").healthcare
    assert row.stix_id in served_ids(client, store, "healthcare")
    set_analyst_healthcare(store, "plain.example.org", None)
    assert not record(store.engine, "domain", "plain.example.org").healthcare


def test_analyst_can_clear_healthcare(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "tagged.csv"
    path.write_text("domain,tags\nward.example.org,hospital\n", encoding="utf-8")
    ingest_paths(store.engine, [path], fmt="csv")
    assert record(store.engine, "domain", "ward.example.org").healthcare
    set_analyst_healthcare(store, "ward.example.org", False)
    row = record(store.engine, "domain", "ward.example.org")
    assert not row.healthcare
    body = render_body(indicator_view(row))
    assert '"x_medisac_healthcare":false' in body
