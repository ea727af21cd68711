"""``medisac allow`` end to end: the real command in a child process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from medisac.export.plain import write_plain
from medisac.export.select import ExportFilter
from medisac.model import TLP
from medisac.store.tables import stix_objects
from tests.conftest import Store
from tests.helpers import ingest_text, record


def medisac(*args: str, store: Store) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEDISAC_DB": store.url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "medisac", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def exported(store: Store) -> set[str]:
    out = io.BytesIO()
    with store.engine.connect() as conn:
        write_plain(conn, ExportFilter(tlp=TLP.RED), out)
    return set(out.getvalue().decode().splitlines())


def latest_active(store: Store, indicator_id: int) -> bool:
    so = stix_objects.c
    with store.engine.connect() as conn:
        return bool(
            conn.execute(
                sa.select(so.active).where(
                    so.indicator_id == indicator_id, so.is_latest.is_(True)
                )
            ).scalar_one()
        )


FEED = (
    "portal.clinic.example.org\n"
    "www.portal.clinic.example.org\n"
    "phish.example.net\n"
    "198.51.100.7\n"
    "http://198.51.100.7/drop.bin\n"
)


def test_allow_domain_and_remove(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, FEED, source="feed")
    assert "portal.clinic.example.org" in exported(store)

    added = medisac(
        "allow",
        "add",
        "--domain",
        "Portal.Clinic.Example.org",
        "--reason",
        "our patient portal",
        store=store,
    )
    assert added.returncode == 0, added.stderr
    assert "added domain portal.clinic.example.org" in added.stdout
    assert "2 stored value(s) re-marked" in added.stdout
    for name in ("portal.clinic.example.org", "www.portal.clinic.example.org"):
        row = record(store.engine, "domain", name)
        assert row.benign == "operator-allow"
        assert row.state == "benign"
        assert not latest_active(store, row.id)
        assert name not in exported(store)
    assert "phish.example.net" in exported(store)

    listed = medisac("allow", "list", store=store)
    assert listed.returncode == 0, listed.stderr
    assert "portal.clinic.example.org" in listed.stdout
    assert "our patient portal" in listed.stdout

    removed = medisac(
        "allow", "remove", "--domain", "portal.clinic.example.org", store=store
    )
    assert removed.returncode == 0, removed.stderr
    row = record(store.engine, "domain", "portal.clinic.example.org")
    assert row.benign is None
    assert row.state == "active"
    assert latest_active(store, row.id)
    assert "portal.clinic.example.org" in exported(store)


def test_allow_network_and_new_values(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, FEED, source="feed")
    added = medisac(
        "allow", "add", "198.51.100.0/24", "--reason", "partner NAT", store=store
    )
    assert added.returncode == 0, added.stderr
    assert "2 stored value(s) re-marked" in added.stdout
    assert record(store.engine, "ipv4", "198.51.100.7").benign == "operator-allow"
    url = record(store.engine, "url", "http://198.51.100.7/drop.bin")
    assert url.benign == "operator-allow"
    # A value the entry covers that arrives later is held back at once.
    ingest_text(store.engine, tmp_path, "198.51.100.99\n", source="feed", name="b")
    assert record(store.engine, "ipv4", "198.51.100.99").state == "benign"
    assert "198.51.100.99" not in exported(store)


# Argument checks do not depend on the backend: SQLite only, to keep the
# number of child processes down.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_allow_rejects_bad_entries(store: Store) -> None:
    broad = medisac("allow", "add", "0.0.0.0/1", "--reason", "x", store=store)
    assert broad.returncode == 1
    assert "shorter than /8" in broad.stderr
    suffix = medisac("allow", "add", "--domain", "co.uk", "--reason", "x", store=store)
    assert suffix.returncode == 1
    assert "public suffix" in suffix.stderr
    missing = medisac("allow", "remove", "203.0.113.1", store=store)
    assert missing.returncode == 1
    assert "not on the allow list" in missing.stderr
    no_reason = medisac("allow", "add", "203.0.113.1", store=store)
    assert no_reason.returncode == 2
    assert "--reason" in no_reason.stderr
