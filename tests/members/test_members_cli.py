"""The member commands: org, key, review, audit, mark --tlp and search --as."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from medisac.members.orgs import get_org
from medisac.members.submissions import Kind, submit
from medisac.model import TLP
from medisac.store.keys import find_key
from tests.cli.test_feeds_cli import invoke, run_ok
from tests.conftest import Store
from tests.helpers import ingest_text, records
from tests.members.conftest import add_member, bearer


def test_org_add_list_set(store: Store) -> None:
    org_id = run_ok(
        "org",
        "add",
        "Valley Clinic",
        "--tier",
        "basic",
        "--clearance",
        "amber",
        "--kind",
        "clinic",
        "--contact",
        "Ann Lee <ann@valley.example>",
        store=store,
    ).strip()
    assert org_id.startswith("org-")
    listed = run_ok("org", "list", store=store)
    assert "Valley Clinic" in listed
    assert "AMBER" in listed
    run_ok(
        "org", "set", "valley clinic", "--tier", "standard", "--trusted", store=store
    )
    with store.engine.connect() as conn:
        org = get_org(conn, org_id)
    assert org.tier == "standard"
    assert org.trusted is True
    assert org.contacts == ({"name": "Ann Lee", "email": "ann@valley.example"},)
    shown = run_ok("org", "show", org_id, store=store)
    assert "ann@valley.example" in shown


def test_org_rejects_bad_values(store: Store) -> None:
    tier = invoke("org", "add", "X", "--tier", "gold", db=store.url)
    assert tier.returncode == 2
    assert "unknown tier 'gold'" in " ".join(tier.stderr.split())
    run_ok("org", "add", "Twice", store=store)
    again = invoke("org", "add", "twice", db=store.url)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    missing = invoke("org", "show", "nobody", db=store.url)
    assert missing.returncode == 1
    assert "medisac org list" in missing.stderr


def test_key_create_revoke_rotate(store: Store) -> None:
    run_ok("org", "add", "Key Clinic", store=store)
    created = run_ok(
        "key",
        "create",
        "Key Clinic",
        "--scopes",
        "read,submit",
        "--expires",
        "30d",
        store=store,
    )
    key = created.strip().splitlines()[-1]
    with store.engine.connect() as conn:
        row = find_key(conn, key)
    assert row is not None
    assert row.scopes == frozenset({"read", "submit"})
    assert row.expires is not None
    listed = run_ok("key", "list", "Key Clinic", store=store)
    assert key not in listed
    rotated = run_ok("key", "rotate", str(row.id), store=store)
    new_key = rotated.strip().splitlines()[-1]
    with store.engine.connect() as conn:
        assert find_key(conn, key) is None
        assert find_key(conn, new_key) is not None
    # A leaked key is revoked by the key itself.
    run_ok("key", "revoke", new_key, store=store)
    with store.engine.connect() as conn:
        assert find_key(conn, new_key) is None
    audit = run_ok("audit", "--action", "key.", "--json", store=store)
    actions = [json.loads(line)["action"] for line in audit.splitlines()]
    assert actions == ["key.revoke", "key.rotate", "key.create"]
    assert key not in audit
    assert new_key not in audit


def test_key_needs_org_or_admin(store: Store) -> None:
    result = invoke("key", "create", "--scopes", "read", db=store.url)
    assert result.returncode == 2
    bad = invoke("key", "create", "--scopes", "read,fly", db=store.url)
    assert bad.returncode == 2
    assert "unknown scope 'fly'" in " ".join(bad.stderr.split())


def test_review_accept_and_reject(store: Store) -> None:
    member = add_member(store, "Queue Clinic")
    body = {
        "description": "Call me at 555-201-7788.",
        "indicators": [{"value": "198.51.100.88"}],
    }
    first = submit(store.engine, member.org, None, body, Kind.API)
    second = submit(store.engine, member.org, None, body, Kind.API)
    listed = run_ok("review", "list", store=store)
    assert first.id in listed
    assert second.id in listed
    shown = run_ok("review", "show", first.id, store=store)
    assert "555-201-7788" not in shown
    original = run_ok("review", "show", first.id, "--original", store=store)
    assert "555-201-7788" in original
    accepted = run_ok("review", "accept", first.id, store=store)
    assert "accepted, 1 values stored" in accepted
    run_ok("review", "reject", second.id, "--note", "duplicate", store=store)
    assert records(store.engine) == {("ipv4", "198.51.100.88")}
    again = invoke("review", "accept", second.id, db=store.url)
    assert again.returncode == 2


def test_red_shared_with_named_org(
    store: Store, client: TestClient, tmp_path: Path
) -> None:
    ingest_text(store.engine, tmp_path, "198.51.100.99\n", source="partner")
    named = add_member(store, "Named Hospital", clearance=TLP.AMBER)
    other = add_member(store, "Other Hospital", clearance=TLP.AMBER)
    run_ok(
        "mark", "198.51.100.99", "--tlp", "red", "--for", "Named Hospital", store=store
    )
    for member, visible in ((named, True), (other, False)):
        found = client.get(
            "/api/v1/indicators/lookup",
            params={"value": "198.51.100.99"},
            headers=bearer(member.reader),
        ).json()
        assert bool(found) is visible, member.org.name
        result = invoke("search", "198.51.100.99", "--as", member.org.id, db=store.url)
        assert (result.returncode == 0) is visible, member.org.name
    bad = invoke(
        "mark",
        "198.51.100.99",
        "--tlp",
        "amber",
        "--for",
        "Named Hospital",
        db=store.url,
    )
    assert bad.returncode == 2
