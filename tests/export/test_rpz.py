"""RPZ exports, loaded by BIND's own zone checker (named-checkzone)."""

from __future__ import annotations

import io
import ipaddress
import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medisac.errors import ConfigError
from medisac.export import rpz
from medisac.export.rpz import TriggerWriter, write_rpz
from medisac.export.select import ExportFilter
from medisac.model import TLP, IndicatorType
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text

ORIGIN = "rpz.medisac.test"
# Owner names relative to the origin: a name, a wildcard or an rpz-ip trigger.
RECORD = re.compile(r"(\*\.)?[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})* CNAME \.")


def export_zone(
    store: Store,
    selection: ExportFilter | None = None,
    *,
    origin: str = ORIGIN,
    serial: int | None = None,
) -> str:
    out = io.BytesIO()
    with store.engine.connect() as conn:
        write_rpz(
            conn,
            selection or ExportFilter(tlp=TLP.RED),
            out,
            origin=origin,
            serial=serial,
        )
    return out.getvalue().decode()


def check_zone(tmp_path: Path, text: str, origin: str = ORIGIN) -> str:
    """Run named-checkzone on ``text``; return its output, failing on errors."""
    checker = shutil.which("named-checkzone")
    # CI installs bind9-utils, so a missing checker is a failure, not a skip.
    assert checker is not None, "named-checkzone not found: install bind9-utils"
    path = tmp_path / "export.zone"
    path.write_text(text, encoding="utf-8")
    # -i local keeps the integrity checks to in-zone names, so the checker
    # never resolves the NS target through the network.
    result = subprocess.run(
        [checker, "-i", "local", origin, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "ran out of space" not in output
    assert "out of zone" not in output
    return output


def records_of(zone: str) -> list[str]:
    return [line for line in zone.splitlines() if line.endswith(" CNAME .")]


def serial_of(zone: str) -> int:
    match = re.search(r"^@ IN SOA \S+ \S+ (\d+) ", zone, re.MULTILINE)
    assert match is not None, zone
    return int(match.group(1))


def write_triggers(values: list[tuple[str, str]], origin: str = ORIGIN) -> str:
    out = io.BytesIO()
    writer = TriggerWriter(origin, out)
    for index, (kind, value) in enumerate(values):
        writer.add(index, kind, value)
    return out.getvalue().decode()


def test_b26_zone_loads(
    store: Store, cases_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    summary = ingest_paths(
        store.engine,
        [cases_dir / "B26-rpz-name-length.txt"],
        fmt="plain",
        source="b26",
    )
    assert [r.location for r in summary.rejections] == ["line 5"]
    with caplog.at_level(logging.INFO, logger="medisac.export.rpz"):
        zone = export_zone(store)
    output = check_zone(tmp_path, zone)
    assert "loaded serial" in output
    assert re.search(r"^@ IN SOA ", zone, re.MULTILINE)
    assert re.search(r"^@ IN NS ", zone, re.MULTILINE)

    lines = (cases_dir / "B26-rpz-name-length.txt").read_text().splitlines()
    fits, overflows = lines[2], lines[3]
    records = records_of(zone)
    assert f"{fits} CNAME ." in records
    assert f"*.{fits} CNAME ." not in records
    assert not any(overflows in line for line in records)
    assert "tele-health.example.com CNAME ." in records
    assert "xn--klinik-mnchen-3ob.example.com CNAME ." in records
    assert "blocked-portal.example.com CNAME ." in records
    for trigger in (
        "32.7.100.51.198.rpz-ip",
        "24.0.113.0.203.rpz-ip",
        "128.1.zz.db8.2001.rpz-ip",
        "48.zz.abcd.db8.2001.rpz-ip",
    ):
        assert f"{trigger} CNAME ." in records
    for line in records:
        assert RECORD.fullmatch(line), line

    too_long = [
        r.getMessage() for r in caplog.records if rpz.TOO_LONG in r.getMessage()
    ]
    assert any(overflows[:40] in message for message in too_long)
    assert any(f"1 {rpz.TOO_LONG}" in message for message in too_long)


def test_serial_grows(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_text(store.engine, tmp_path, "first.example.org\n")
    monkeypatch.setattr(rpz, "now_us", lambda: 1_790_000_000_000_000)
    first = serial_of(export_zone(store))
    ingest_text(store.engine, tmp_path, "second.example.org\n", name="b.txt")
    monkeypatch.setattr(rpz, "now_us", lambda: 1_790_000_060_000_000)
    second = export_zone(store)
    assert first == 1_790_000_000
    assert serial_of(second) == 1_790_000_060
    assert "second.example.org CNAME ." in records_of(second)
    assert serial_of(export_zone(store, serial=7)) == 7


@pytest.mark.parametrize("serial", [-1, 2**32])
def test_serial_out_of_range(store: Store, serial: int) -> None:
    with pytest.raises(ConfigError, match="32-bit"):
        export_zone(store, serial=serial)


@pytest.mark.parametrize("origin", ["", "bad origin", "rpz..test", "x" * 250])
def test_origin_invalid(store: Store, origin: str) -> None:
    with pytest.raises(ConfigError, match="origin"):
        export_zone(store, origin=origin)


def test_origin_trailing_dot(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "dot.example.org\n")
    zone = export_zone(store, origin="RPZ.Example.ORG.")
    check_zone(tmp_path, zone, "rpz.example.org")
    assert "dot.example.org CNAME ." in records_of(zone)


HOSTILE = [
    ("domain", 'quote".example.com'),
    ("domain", "semi;colon.example.com"),
    ("domain", "back\\slash.example.com"),
    ("domain", "paren(.example.com"),
    ("domain", "space here.example.com"),
    ("domain", "line\nbreak.example.com"),
    ("domain", "klinik-münchen.example.com"),
    ("domain", "=cmd.example.com"),
    ("domain", "+plus.example.com"),
    ("domain", "@at.example.com"),
    ("domain", "$ORIGIN.example.com"),
    ("domain", "*.wild.example.com"),
    ("domain", "a..b.example.com"),
    ("domain", ".lead.example.com"),
    ("domain", "x" * 64 + ".example.com"),
    ("domain", "32.1.0.0.10.rpz-ip"),
    ("domain", "evil.rpz-nsdname"),
    ("domain", ""),
    ("ipv4", "010.1.1.1"),
    ("ipv4", "198.51.100.7; drop"),
    ("ipv6", "fe80::1%eth0"),
    ("cidr", "198.51.100.1/24"),
    ("cidr", "0.0.0.0/0"),
    ("cidr", "::/0"),
]
ACCEPTED = [
    ("domain", "_dmarc.example.com", "_dmarc.example.com"),
    ("domain", "-dash.example.com", "-dash.example.com"),
    ("domain", "Upper.Example.COM.", "upper.example.com"),
    ("domain", "x" * 63 + ".example.com", "x" * 63 + ".example.com"),
    ("ipv6", "::ffff:198.51.100.9", "32.9.100.51.198.rpz-ip"),
    ("ipv6", "2001:db8:0:0:1:0:0:1", "128.1.0.0.1.zz.db8.2001.rpz-ip"),
    ("ipv6", "2001:db8:0:1:1:1:1:1", "128.1.1.1.1.1.0.db8.2001.rpz-ip"),
    ("cidr", "::/1", "1.zz.rpz-ip"),
]


def test_hostile_values_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    header = rpz._header(ORIGIN, 1)
    with caplog.at_level(logging.WARNING, logger="medisac.export.rpz"):
        body = write_triggers(
            [(kind, value) for kind, value in HOSTILE]
            + [(kind, value) for kind, value, _ in ACCEPTED]
        )
    check_zone(tmp_path, header + body)
    owners = [line.removesuffix(" CNAME .") for line in body.splitlines()]
    expected = []
    for kind, _, owner in ACCEPTED:
        expected.append(owner)
        if kind == "domain":
            expected.append("*." + owner)
    assert owners == expected
    left_out = [r for r in caplog.records if "record" in r.getMessage()]
    assert len(left_out) == len(HOSTILE)


def test_left_out_logs_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    out = io.BytesIO()
    writer = TriggerWriter(ORIGIN, out)
    with caplog.at_level(logging.WARNING, logger="medisac.export.rpz"):
        for index in range(50):
            writer.add(index, "domain", f"bad;{index}.example.com")
        writer.log_summary()
    named = [r for r in caplog.records if "record" in r.getMessage()]
    assert len(named) == 20
    assert f"50 {rpz.BAD_NAME}" in caplog.records[-1].getMessage()
    assert out.getvalue() == b""


def parse_ip_trigger(owner: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Read an rpz-ip owner name back into a network, as a resolver does."""
    labels = owner.removesuffix(".rpz-ip").split(".")
    prefix, words = int(labels[0]), labels[1:]
    if len(words) == 4 and "zz" not in words:
        return ipaddress.IPv4Network(".".join(reversed(words)) + f"/{prefix}")
    groups = list(reversed(words))
    if "zz" in groups:
        at = groups.index("zz")
        groups[at : at + 1] = ["0"] * (9 - len(groups))
    return ipaddress.IPv6Network(":".join(groups) + f"/{prefix}")


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**128 - 1),
    st.integers(min_value=1, max_value=128),
)
def test_ipv6_triggers_round_trip(number: int, prefix: int) -> None:
    network = ipaddress.IPv6Network((number, prefix), strict=False)
    body = write_triggers([("cidr", str(network))])
    owner = body.removesuffix(" CNAME .\n")
    assert RECORD.fullmatch(body.rstrip("\n"))
    if network.network_address.ipv4_mapped is not None and prefix >= 96:
        mapped = network.network_address.ipv4_mapped
        expected_v4 = ipaddress.IPv4Network((int(mapped), prefix - 96))
        assert parse_ip_trigger(owner) == expected_v4
        return
    assert parse_ip_trigger(owner) == network
    # BIND's canonical form is the RFC 5952 text, reversed, with "::" as zz.
    head, compressed, tail = network.network_address.compressed.partition("::")
    groups = head.split(":") if head else []
    if compressed:
        groups += ["zz", *(tail.split(":") if tail else [])]
    canonical = ".".join([str(prefix), *reversed(groups)]) + ".rpz-ip"
    assert owner == canonical


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(1, 32))
def test_ipv4_triggers_round_trip(number: int, prefix: int) -> None:
    network = ipaddress.IPv4Network((number, prefix), strict=False)
    owner = write_triggers([("cidr", str(network))]).removesuffix(" CNAME .\n")
    assert parse_ip_trigger(owner) == network


# Names near the label and name limits, as well as arbitrary text.
NAMES = st.lists(
    st.from_regex(r"[a-zA-Z0-9_*;-]{1,70}", fullmatch=True), min_size=1, max_size=6
).map(".".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), NAMES))
def test_any_text_gives_valid_records(value: str) -> None:
    body = write_triggers([("domain", value)])
    max_owner = 253 - len(ORIGIN) - 1
    for line in body.splitlines():
        assert RECORD.fullmatch(line), line
        owner = line.removesuffix(" CNAME .")
        assert len(owner) <= max_owner
        assert all(len(label) <= 63 for label in owner.split("."))


def test_b31_context_values_left_out(
    store: Store, cases_dir: Path, tmp_path: Path
) -> None:
    ingest_paths(store.engine, [cases_dir / "B31-to-ids-and-benign.json"], fmt="misp")
    records = records_of(export_zone(store))
    assert "32.99.113.0.203.rpz-ip CNAME ." in records
    assert "32.23.100.51.198.rpz-ip CNAME ." not in records
    assert "32.8.8.8.8.rpz-ip CNAME ." not in records


def test_other_types_give_empty_zone(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "http://u.example.org/x\nz.example.org\n")
    only_urls = ExportFilter(types=frozenset({IndicatorType.URL}), tlp=TLP.RED)
    zone = export_zone(store, only_urls)
    check_zone(tmp_path, zone)
    assert records_of(zone) == []
    assert "z.example.org CNAME ." in records_of(export_zone(store))


def test_corpus_zone_loads(store: Store, corpus_dir: Path, tmp_path: Path) -> None:
    feeds = [
        corpus_dir / "indicators/text/maltrail/lockbit.txt",
        corpus_dir / "indicators/text/maltrail/hive_ransomware.txt",
        corpus_dir / "indicators/text/avast/HelloTDS_network.txt",
    ]
    ingest_paths(store.engine, feeds)
    zone = export_zone(store)
    check_zone(tmp_path, zone)
    records = records_of(zone)
    assert len(records) > 500
    for line in records:
        assert RECORD.fullmatch(line), line
