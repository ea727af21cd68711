"""External dynamic lists: one valid entry per line, within a count limit."""

from __future__ import annotations

import io
import ipaddress
import logging
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import idna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medisac.export.edl import (
    MAX_URL_LENGTH,
    LeftOut,
    ip_entry,
    url_entry,
    write_edl,
    write_edl_dir,
)
from medisac.export.select import ExportFilter
from medisac.model import TLP, IndicatorType
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text, record

MIXED = """\
198.51.100.10
2001:DB8::10
203.0.113.0/24
2001:db8:abcd::/48
Blocked.Example.ORG
xn--klinik-mnchen-3ob.example.com
http://Portal.Example.NET/login.php?next=/home
https://portal.example.net/login.php?next=/home
https://cdn.example.com:8443/a/b.js#fragment
http://user:pass@creds.example.org/x
http://wild.example.org/a*b
http://caret.example.org/^x
ftp://files.example.org/kit.zip
http://[2001:db8::7]:8080/panel
http://long.example.org/{long}
http://utf.example.org/caf\u00e9
http://bare.example.org
""".format(long="p" * 300)


def edl_lines(
    store: Store,
    kind: str,
    *,
    max_entries: int | None = None,
    selection: ExportFilter | None = None,
) -> list[str]:
    out = io.BytesIO()
    with store.engine.connect() as conn:
        count = write_edl(
            conn,
            selection or ExportFilter(tlp=TLP.RED),
            out,
            kind=kind,
            max_entries=max_entries,
        )
    data = out.getvalue()
    assert data.isascii()
    lines = data.decode().splitlines()
    assert len(lines) == count
    assert data.endswith(b"\n") or not data
    return lines


def assert_valid_ip_list(lines: list[str]) -> None:
    for line in lines:
        if "/" in line:
            ipaddress.ip_network(line, strict=True)
        else:
            ipaddress.ip_address(line)


def assert_valid_domain_list(lines: list[str]) -> None:
    for line in lines:
        assert line == line.lower()
        assert len(line) <= 253
        idna.decode(line)


def assert_valid_url_list(lines: list[str]) -> None:
    for line in lines:
        assert "://" not in line
        assert len(line) <= MAX_URL_LENGTH
        assert not set(line) & set("*^ \t#")
        host = line.split("/", 1)[0]
        assert host == host.lower()
        assert "@" not in host
        assert "/" in line


def test_edl_lists_by_kind(store: Store, tmp_path: Path) -> None:
    summary = ingest_text(store.engine, tmp_path, MIXED)
    assert summary.rejected == 0
    ips = edl_lines(store, "ip")
    assert_valid_ip_list(ips)
    assert sorted(ips) == sorted(
        ["198.51.100.10", "2001:db8::10", "203.0.113.0/24", "2001:db8:abcd::/48"]
    )
    domains = edl_lines(store, "domain")
    assert_valid_domain_list(domains)
    assert "blocked.example.org" in domains
    assert "xn--klinik-mnchen-3ob.example.com" in domains
    assert not any("." not in d for d in domains)
    urls = edl_lines(store, "url")
    assert_valid_url_list(urls)
    assert set(urls) == {
        "portal.example.net/login.php?next=/home",
        "cdn.example.com:8443/a/b.js",
        "creds.example.org/x",
        "[2001:db8::7]:8080/panel",
        "utf.example.org/caf%C3%A9",
        "bare.example.org/",
    }
    # http and https of one address make one entry.
    assert len(urls) == len(set(urls))


def test_edl_logs_left_out(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ingest_text(store.engine, tmp_path, MIXED)
    with caplog.at_level(logging.WARNING, logger="medisac.export.edl"):
        edl_lines(store, "url")
    messages = [r.getMessage() for r in caplog.records]
    assert any("left out 2 values: contains a wildcard" in m for m in messages)
    assert any("left out 1 values: longer than 255" in m for m in messages)
    assert any("left out 1 values: scheme is not http" in m for m in messages)
    assert any("left out 1 values: same entry" in m for m in messages)
    # Counts and reasons only: no value of a record in the log.
    assert not any("wild.example.org" in m for m in messages)


def test_edl_limit_keeps_highest(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for confidence, last_octet in ((90, 1), (60, 2), (40, 3)):
        ingest_text(
            store.engine,
            tmp_path,
            f"198.51.100.{last_octet}\n198.51.100.{last_octet + 10}\n",
            source=f"feed-{confidence}",
            confidence=confidence,
        )
    confidence_of = {
        value: record(store.engine, "ipv4", value).confidence
        for value in ("198.51.100.1", "198.51.100.2", "198.51.100.3")
    }
    assert confidence_of["198.51.100.1"] > confidence_of["198.51.100.2"]
    assert confidence_of["198.51.100.2"] > confidence_of["198.51.100.3"]
    with caplog.at_level(logging.WARNING, logger="medisac.export.edl"):
        kept = edl_lines(store, "ip", max_entries=3)
    assert len(kept) == 3
    assert {"198.51.100.1", "198.51.100.11"} <= set(kept)
    assert set(kept) <= {
        "198.51.100.1",
        "198.51.100.11",
        "198.51.100.2",
        "198.51.100.12",
    }
    messages = [r.getMessage() for r in caplog.records]
    assert any("left out 3 of 6 entries over the limit of 3" in m for m in messages)
    assert edl_lines(store, "ip", max_entries=0) == []
    assert len(edl_lines(store, "ip", max_entries=100)) == 6


def test_b31_context_values_not_listed(store: Store, cases_dir: Path) -> None:
    ingest_paths(store.engine, [cases_dir / "B31-to-ids-and-benign.json"], fmt="misp")
    ips = edl_lines(store, "ip")
    assert "203.0.113.99" in ips
    assert "198.51.100.23" not in ips
    assert "8.8.8.8" not in ips
    assert "www.google.com" not in edl_lines(store, "domain")


def test_edl_type_filter(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, MIXED)
    only_v4 = ExportFilter(types=frozenset({IndicatorType.IPV4}), tlp=TLP.RED)
    assert edl_lines(store, "ip", selection=only_v4) == ["198.51.100.10"]
    assert edl_lines(store, "domain", selection=only_v4) == []


def test_edl_dir_writes_three(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, MIXED)
    target = tmp_path / "edl"
    with store.engine.connect() as conn:
        counts = write_edl_dir(conn, ExportFilter(tlp=TLP.RED), target, max_entries=2)
    assert counts == {"ip": 2, "domain": 2, "url": 2}
    assert sorted(p.name for p in target.iterdir()) == [
        "domain.txt",
        "ip.txt",
        "url.txt",
    ]
    for kind, count in counts.items():
        lines = (target / f"{kind}.txt").read_text("ascii").splitlines()
        assert len(lines) == count
    assert_valid_ip_list((target / "ip.txt").read_text().splitlines())


def test_edl_rejects_bad_arguments(store: Store) -> None:
    with store.engine.connect() as conn:
        with pytest.raises(ValueError, match="unknown external dynamic list kind"):
            write_edl(conn, ExportFilter(), io.BytesIO(), kind="hash", max_entries=1)
        with pytest.raises(ValueError, match="max_entries"):
            write_edl(conn, ExportFilter(), io.BytesIO(), kind="ip", max_entries=-1)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("ipv6", "fe80::1%eth 0"),
        ("ipv6", "fe80::1%#x"),
        ("cidr", "fe80::%x y/64"),
        ("cidr", "198.51.100.1/24"),
        ("ipv4", "198.51.100.010"),
        ("ipv4", "198.51.100.1 #x"),
    ],
)
def test_ip_entry_leaves_out(kind: str, value: str) -> None:
    with pytest.raises(LeftOut):
        ip_entry(kind, value)


@given(st.ip_addresses())
def test_ip_entry_keeps_addresses(address: IPv4Address | IPv6Address) -> None:
    kind = "ipv4" if address.version == 4 else "ipv6"
    assert ip_entry(kind, str(address)) == str(address)


_PATH_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("*^ #?&=;+/%@:\t\r\n\"'\\")),
        st.characters(codec="utf-8"),
    ),
    max_size=300,
)


@given(_PATH_TEXT, st.sampled_from(["http", "https", "HTTPS"]))
def test_url_entry_always_valid(path: str, scheme: str) -> None:
    try:
        entry = url_entry(f"{scheme}://Host.Example.ORG/{path}")
    except LeftOut:
        return
    assert entry.isascii()
    assert entry.startswith("host.example.org/")
    assert len(entry) <= MAX_URL_LENGTH
    assert not set(entry) & set("*^#")
    assert all(0x20 < ord(char) < 0x7F for char in entry)
