"""Hunt packs: which indicators go in, what the file shows, and matching with it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from medisac.hunt.pack import PackError, read_pack, write_pack
from medisac.members.orgs import Org, add_org
from medisac.model import TLP
from medisac.store.engine import begin_write
from medisac.store.tables import indicators, red_recipients
from tests.conftest import Store
from tests.helpers import ingest_text
from tests.hunt.helpers import hunt_with

LEVELS = {
    TLP.CLEAR: "clear.example.net",
    TLP.GREEN: "green.example.net",
    TLP.AMBER: "amber.example.net\n2001:db8:a::/48\n203.0.113.0/24",
    TLP.AMBER_STRICT: "strict.example.net",
    TLP.RED: "red-one.example.net\nred-two.example.net",
}


def _seed(store: Store, tmp_path: Path) -> Org:
    for level, text in LEVELS.items():
        ingest_text(
            store.engine, tmp_path, text + "\n", source=f"src-{level.name}", tlp=level
        )
    with begin_write(store.engine) as conn:
        org = add_org(conn, "Small Clinic", clearance=TLP.GREEN)
        named = conn.execute(
            sa.select(indicators.c.id).where(
                indicators.c.value == "red-one.example.net"
            )
        ).scalar_one()
        conn.execute(
            sa.insert(red_recipients).values(indicator_id=named, org_id=org.id)
        )
    return org


def _packed(store: Store, org: Org, path: Path, include_all: bool) -> set[str]:
    with store.engine.connect() as conn:
        write_pack(conn, org, path, include_all=include_all)
        index = read_pack(path)
        rows = conn.execute(sa.select(indicators.c.id, indicators.c.value))
        values = {row.id: row.value for row in rows}
    return {values[index.ids[slot]] for slot in range(len(index))}


def test_pack_selection(store: Store, tmp_path: Path) -> None:
    org = _seed(store, tmp_path)
    above = _packed(store, org, tmp_path / "above.pack", include_all=False)
    assert above == {
        "amber.example.net",
        "2001:db8:a::/48",
        "203.0.113.0/24",
        "strict.example.net",
        "red-one.example.net",
    }
    everything = _packed(store, org, tmp_path / "all.pack", include_all=True)
    assert everything == above | {"clear.example.net", "green.example.net"}
    assert "red-two.example.net" not in everything


def test_pack_lists_no_values(store: Store, tmp_path: Path) -> None:
    org = _seed(store, tmp_path)
    path = tmp_path / "clinic.pack"
    with store.engine.connect() as conn:
        summary = write_pack(conn, org, path, include_all=True)
    assert summary.total == 7
    assert summary.counts == {"cidr": 2, "domain": 5}
    content = path.read_bytes()
    for fragment in (b"example", b"amber", b"203.0.113", b"2001:db8", b"red-one"):
        assert fragment not in content


def test_pack_matching(store: Store, tmp_path: Path) -> None:
    org = _seed(store, tmp_path)
    path = tmp_path / "clinic.pack"
    with store.engine.connect() as conn:
        write_pack(conn, org, path)
    log = tmp_path / "mixed.log"
    log.write_text(
        "dst=203.0.113.200 query=cdn.amber.example.net\n"
        "dst=2001:db8:a:ffff::1\n"
        "query=green.example.net dst=203.0.114.1\n"
        "query=RED-ONE.example.net.\n"
    )
    hits, result = hunt_with(read_pack(path), [log])
    assert {(hit.line, hit.how, hit.indicator.type) for hit in hits} == {
        (1, "network", "cidr"),
        (1, "subdomain", "domain"),
        (2, "network", "cidr"),
        (4, "exact", "domain"),
    }
    assert all(hit.indicator.value is None for hit in hits)
    assert {hit.indicator.tlp for hit in hits} == {TLP.AMBER, TLP.RED}
    assert result.exit_code == 3


def test_damaged_pack(store: Store, tmp_path: Path) -> None:
    org = _seed(store, tmp_path)
    path = tmp_path / "clinic.pack"
    with store.engine.connect() as conn:
        write_pack(conn, org, path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pack"
    truncated.write_bytes(data[:-5])
    with pytest.raises(PackError, match="truncated"):
        read_pack(truncated)
    other = tmp_path / "other.pack"
    other.write_bytes(b"198.51.100.7\n")
    with pytest.raises(PackError, match="not a medisac hunt pack"):
        read_pack(other)
