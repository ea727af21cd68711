"""Known-benign values through ingest: stored with the list name, never published."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from medisac.export.plain import write_plain
from medisac.export.select import ExportFilter
from medisac.model import TLP, State
from medisac.store.tables import stix_objects
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text, record


def _exported(store: Store) -> set[str]:
    out = io.BytesIO()
    with store.engine.connect() as conn:
        write_plain(conn, ExportFilter(tlp=TLP.RED), out)
    return set(out.getvalue().decode().splitlines())


def _published_active(store: Store, indicator_id: int) -> bool:
    """Tell whether the indicator's latest TAXII version is an active one."""
    so = stix_objects.c
    with store.engine.connect() as conn:
        active = conn.execute(
            sa.select(so.active).where(
                so.indicator_id == indicator_id, so.is_latest.is_(True)
            )
        ).scalar_one_or_none()
    return bool(active)


def assert_held_back(store: Store, kind: str, value: str, list_name: str) -> None:
    row = record(store.engine, kind, value)
    assert row is not None, f"{kind} {value} not stored"
    assert row.benign == list_name
    assert row.state == State.BENIGN.value
    assert not _published_active(store, row.id)
    assert value not in _exported(store)


def test_blocklist_omits_non_global_ranges(store: Store, tmp_path: Path) -> None:
    # One line of a feed must not make every member block the whole Internet
    # or its own loopback and private networks.
    text = "0.0.0.0/0\n::/0\n127.0.0.1\n10.0.0.0/8\n192.168.1.104\n198.51.100.4\n"
    ingest_text(store.engine, tmp_path, text, source="feed")
    exported = _exported(store)
    for value in ("0.0.0.0/0", "::/0", "127.0.0.1", "10.0.0.0/8", "192.168.1.104"):
        assert value not in exported, f"{value} published in the blocklist"
    assert "198.51.100.4" in exported


@pytest.mark.corpus
def test_public_resolver_from_stix1(store: Store, corpus_dir: Path) -> None:
    # A PyMISP STIX 1 export that lists 8.8.8.8 as an observable.
    ingest_paths(store.engine, [corpus_dir / "stix1/pymisp_stix1.xml"], fmt="stix1")
    assert_held_back(
        store, "ipv4", "8.8.8.8", "misp:List of known IPv4 public DNS resolvers"
    )


@pytest.mark.corpus
def test_private_address_from_misp_event(store: Store, corpus_dir: Path) -> None:
    # A CIRCL OSINT event (FALLCHILL) with 10.10.30.110 as an IDS ip-dst.
    path = corpus_dir / "misp/events/circl/to_delete2.json"
    ingest_paths(store.engine, [path], fmt="misp")
    assert_held_back(
        store, "ipv4", "10.10.30.110", "reserved:private network (RFC 1918)"
    )


@pytest.mark.corpus
def test_top_site_from_c2_list(store: Store, corpus_dir: Path) -> None:
    # signature-base's C2 list names the proxyware site repocket.com, a
    # Tranco top-10K site; the C2 addresses around it stay published.
    path = corpus_dir / "indicators/text/signature-base/c2-iocs.txt"
    ingest_paths(store.engine, [path], fmt="plain")
    assert_held_back(
        store, "domain", "repocket.com", "misp:Top 10K most-used sites from Tranco"
    )
    assert "speedshare.app" in _exported(store)


def test_b31_warning_list_hits(store: Store, cases_dir: Path) -> None:
    ingest_paths(store.engine, [cases_dir / "B31-to-ids-and-benign.json"], fmt="misp")
    google = record(store.engine, "domain", "www.google.com")
    resolver = record(store.engine, "ipv4", "8.8.8.8")
    accounts = record(store.engine, "url", "https://accounts.google.com/")
    # Warning lists apply whatever the value of the IDS flag.
    assert google.benign is not None
    assert google.to_ids is False
    assert resolver.benign == "misp:List of known IPv4 public DNS resolvers"
    assert accounts.benign is not None
    exported = _exported(store)
    for value in ("www.google.com", "8.8.8.8", "https://accounts.google.com/"):
        assert value not in exported
    assert "203.0.113.99" in exported
