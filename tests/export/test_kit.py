"""The starter kit: ready lists, a zone BIND accepts, and a README."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from medisac.export.kit import (
    DOMAIN_FILE,
    IP_FILE,
    README_FILE,
    ZONE_FILE,
    write_kit,
)
from medisac.export.select import ExportFilter
from medisac.model import TLP
from tests.conftest import Store
from tests.export.test_rpz import check_zone
from tests.helpers import ingest_text

ORIGIN = "rpz.kit.example"


def load(store: Store, tmp_path: Path) -> None:
    low = "".join(f"198.51.100.{n}\n" for n in range(1, 21))
    ingest_text(
        store.engine, tmp_path, low, source="low", name="low.txt", confidence=40
    )
    high = "".join(f"203.0.113.{n}\n" for n in range(1, 11))
    high += "".join(f"bad{n}.kit.example.org\n" for n in range(8))
    high += "http://bad0.kit.example.org/payload.exe\n"
    ingest_text(
        store.engine, tmp_path, high, source="high", name="high.txt", confidence=90
    )


def export_kit(store: Store, directory: Path, **options: object) -> object:
    selection = ExportFilter(tlp=TLP.RED, min_confidence=60)
    with store.engine.connect() as conn:
        return write_kit(
            conn,
            selection,
            directory,
            rpz_origin=ORIGIN,
            **options,  # type: ignore[arg-type]
        )


def test_kit_lists_highest_confidence(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path)
    kit = tmp_path / "kit"
    counts = export_kit(store, kit, top=5)
    ips = (kit / IP_FILE).read_text().split()
    domains = (kit / DOMAIN_FILE).read_text().split()
    assert len(ips) == 5
    assert all(
        ipaddress.ip_address(ip) in ipaddress.ip_network("203.0.113.0/24") for ip in ips
    )
    assert len(domains) == 5
    assert all(name.endswith(".kit.example.org") for name in domains)
    assert counts.ips == 5  # type: ignore[attr-defined]
    assert counts.domains == 5  # type: ignore[attr-defined]


def test_kit_zone_passes_named_checkzone(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path)
    kit = tmp_path / "kit"
    counts = export_kit(store, kit, top=3)
    zone = (kit / ZONE_FILE).read_text()
    check_zone(tmp_path, zone, ORIGIN)
    assert counts.zone == 3  # type: ignore[attr-defined]
    assert "rpz-ip" not in zone
    records = [
        line
        for line in zone.splitlines()
        if line.endswith(" CNAME .") and line[0] != ";"
    ]
    assert len(records) == 6


def test_kit_readme_names_every_file(store: Store, tmp_path: Path) -> None:
    load(store, tmp_path)
    kit = tmp_path / "kit"
    export_kit(store, kit, top=5, feed_url="https://exchange.example.org/feeds/")
    readme = (kit / README_FILE).read_text()
    for name in (IP_FILE, DOMAIN_FILE, ZONE_FILE):
        assert name in readme
    assert "(5 entries)" in readme
    assert "https://exchange.example.org/feeds/edl?list=ip" in readme
    assert ORIGIN in readme
    assert "once a\nday" in readme


def test_kit_readme_without_feed_url(store: Store, tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    counts = export_kit(store, kit)
    readme = (kit / README_FILE).read_text()
    assert "Ask the exchange for the web addresses" in readme
    assert "(0 entries)" in readme
    assert counts.ips == 0  # type: ignore[attr-defined]
    assert (kit / IP_FILE).read_text() == ""
    check_zone(tmp_path, (kit / ZONE_FILE).read_text(), ORIGIN)
