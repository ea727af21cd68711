"""Hard cases from other tools' bug reports, run end to end through ingest.

Each test turns the numbered expectations of one case into assertions on the
store after a real ingest; the parser- and normaliser-level details of the
same cases are tested beside those modules.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from medisac.model import TLP
from medisac.model.time import format_rfc3339
from medisac.store.tables import claims, indicators, source_objects
from tests.conftest import Store
from tests.helpers import ingest_paths, provenance_of, record, records


def _values(store: Store, kind: str) -> set[str]:
    return {value for k, value in records(store.engine) if k == kind}


def _reasons(summary: object) -> list[str]:
    return [f"{r.location}: {r.reason}" for r in summary.rejections]  # type: ignore[attr-defined]


def test_b01_refang_schemes(store: Store, cases_dir: Path) -> None:
    summary = ingest_paths(
        store.engine, [cases_dir / "B01-refang-schemes.txt"], source="b01", fmt="plain"
    )
    assert summary.observations == 12
    assert summary.values - summary.rejected >= 11
    expected = {
        ("url", "https://portal-login.example.com/auth/start"),
        ("url", "https://billing.example.net/pay"),
        ("url", "http://updates.example.org/patch.bin"),
        ("url", "https://records-share.example.com/doc"),
        ("url", "http://mail-relay.example.com/x"),
        ("url", "http://intake.example.org/form"),
        ("url", "https://files.example.org/report.pdf"),
        ("url", "http://[2001:db8::7]:8080/panel"),
        ("domain", "clinic-payroll.example.org"),
        ("email", "billing@example.net"),
        ("ipv4", "198.51.100.12"),
    }
    stored = records(store.engine)
    assert expected <= stored
    assert ("url", "http://billing.example.net/pay") not in stored
    tcp = {
        value
        for kind, value in stored
        if value.startswith("tcp") or "relay.example.net" in value
    }
    assert tcp <= {"tcp://relay.example.net:8989/c"}
    for _, value in stored:
        lowered = value.lower()
        assert "hxxp" not in lowered
        for marker in ("(dot)", "[.]", "[@]"):
            assert marker not in lowered
        if value != "http://[2001:db8::7]:8080/panel":
            assert "[" not in value
            assert "]" not in value


def test_b03_url_host_ipv4_prefix(store: Store, cases_dir: Path) -> None:
    ingest_paths(
        store.engine,
        [cases_dir / "B03-url-host-ipv4-prefix.txt"],
        source="b03",
        fmt="plain",
    )
    assert _values(store, "url") == {
        "https://10.20.30.40.cdn-edge.example.net:8443/dl/setup.msi",
        "http://192.0.2.10.mirror-one.example.org/a",
        "https://localhost.portal.example.com/login",
        "http://198.51.100.23:8080/gate.php",
    }
    assert not _values(store, "ipv4") & {"10.20.30.40", "192.0.2.10"}


def test_b04_idn_and_ipv6_spellings(store: Store, cases_dir: Path) -> None:
    summary = ingest_paths(
        store.engine,
        [cases_dir / "B04-canonical-dedup-idn-ipv6.txt"],
        source="b04",
        fmt="plain",
    )
    assert records(store.engine) == {
        ("domain", "xn--klinik-mnchen-3ob.example.com"),
        ("ipv6", "2001:db8::1"),
    }
    assert summary.merge.new == 2
    domain = provenance_of(store.engine, "domain", "xn--klinik-mnchen-3ob.example.com")
    assert domain["b04"].observations == 4
    assert provenance_of(store.engine, "ipv6", "2001:db8::1")["b04"].observations == 4


def test_b05_bad_labels(store: Store, cases_dir: Path) -> None:
    path = cases_dir / "B05-fqdn-bad-labels.txt"
    first = ingest_paths(store.engine, [path], source="b05", fmt="plain")
    assert _values(store, "domain") == {
        "a-very-long-but-valid-host-name-part-number-one.and-a-second-fairly-long-label-here.example.com",
        "good-host.example.net",
    }
    lines = sorted(int(r.location.split()[-1]) for r in first.rejections)
    assert lines == [2, 3, 5, 6, 7]
    assert all(r.origin.endswith("B05-fqdn-bad-labels.txt") for r in first.rejections)
    second = ingest_paths(store.engine, [path], source="b05", fmt="plain")
    assert second.merge.new == 0
    assert second.rejected == 5
    assert ("domain", "shadow-resolver.example.net") not in records(store.engine)
    assert ("domain", "cache01.example.org") not in records(store.engine)


def test_b07_misp_cidr(store: Store, cases_dir: Path) -> None:
    summary = ingest_paths(
        store.engine,
        [cases_dir / "B07-misp-cidr-as-ipv6.json"],
        source="b07",
        fmt="misp",
    )
    assert _values(store, "cidr") == {"198.51.100.0/24", "2001:db8:abcd::/48"}
    assert "203.0.113.7" in _values(store, "ipv4")
    assert provenance_of(store.engine, "ipv4", "203.0.113.7")["b07"].observations == 2
    row = record(store.engine, "ipv4", "203.0.113.7")
    with store.engine.connect() as conn:
        claimed = conn.execute(
            sa.select(sa.func.count())
            .select_from(claims)
            .where(claims.c.indicator_id == row.id)
        ).scalar_one()
    assert claimed == 2
    reasons = _reasons(summary)
    assert any(
        "0cac035c-7b11-554a-8314-ece5753f3a91" in r and "host bits" in r
        for r in reasons
    )
    assert any("fd74681d-9b4b-5ea6-9409-80d70e7be7a8" in r for r in reasons)
    assert not any("." in value for value in _values(store, "ipv6"))


def test_b10_timestamps(store: Store, cases_dir: Path) -> None:
    summary = ingest_paths(
        store.engine, [cases_dir / "B10-stix-timestamps.json"], source="b10", fmt="stix"
    )
    domains = _values(store, "domain")
    assert {"nine-digit.example.com", "no-fraction.example.com"} <= domains
    assert "feb-thirty.example.com" not in domains
    reasons = _reasons(summary)
    assert any(
        "indicator--c2f898a2-df84-460f-93e3-7b4a2f8a9619" in r and "valid_from" in r
        for r in reasons
    )
    assert (
        record(store.engine, "domain", "seven-digit-v2.example.com").state == "active"
    )
    old = record(store.engine, "domain", "seven-digit.example.com")
    assert old is None or old.state != "active"
    with store.engine.connect() as conn:
        version = conn.execute(
            sa.select(source_objects.c.version).where(
                source_objects.c.ref
                == "indicator--ef17aa22-8781-43ee-80fc-964640b3c512"
            )
        ).scalar_one()
    assert format_rfc3339(version) in (
        "2024-03-05T08:15:30.123456Z",
        "2024-03-05T08:15:30.123457Z",
    )
    no_fraction = record(store.engine, "domain", "no-fraction.example.com")
    assert format_rfc3339(no_fraction.first_seen, digits=0) == "2024-03-05T08:15:30Z"
    offset = record(store.engine, "domain", "offset.example.com")
    if offset is not None:
        assert format_rfc3339(offset.first_seen, digits=0) == "2024-03-05T08:15:30Z"


def test_b11_custom_objects(store: Store, cases_dir: Path) -> None:
    summary = ingest_paths(
        store.engine,
        [cases_dir / "B11-custom-object-types.json"],
        source="b11",
        fmt="stix",
    )
    stored = records(store.engine)
    assert ("domain", "custom-prop.example.com") in stored
    assert ("ipv4", "203.0.113.111") in stored
    for kind in ("x-acme-collection", "x-acme-tactic", "threat-score"):
        assert summary.skipped[kind] == 1
    assert not summary.failed


def test_b13_versions_out_of_order(store: Store, cases_dir: Path) -> None:
    path = cases_dir / "B13-versions-out-of-order.json"
    first = ingest_paths(store.engine, [path], source="b13", fmt="stix")
    assert not first.failed
    for value in (
        "version-a.example.org",
        "version-b.example.org",
        "version-c.example.org",
    ):
        row = record(store.engine, "domain", value)
        assert row is None or row.state != "active"
    assert (
        record(store.engine, "domain", "unrelated-live.example.org").state == "active"
    )
    conflict = [
        w
        for w in first.warnings
        if "indicator--2b238746-2352-4e6f-9dc3-56ef1aea96f0" in w
    ]
    assert conflict and "2024-05-02" in conflict[0]
    before = records(store.engine)
    second = ingest_paths(store.engine, [path], source="b13", fmt="stix")
    assert second.merge.new == 0
    assert second.merge.updated == 0
    assert records(store.engine) == before


B19_EXPECTED = {
    "opencti-clear.example.net": TLP.CLEAR,
    "tlp2-clear.example.net": TLP.CLEAR,
    "tlp1-green.example.net": TLP.GREEN,
    "tlp2-amber.example.net": TLP.AMBER,
    "tlp2-amber-strict.example.net": TLP.AMBER_STRICT,
    "opencti-amber-strict.example.net": TLP.AMBER_STRICT,
    "near-miss-green.example.net": TLP.AMBER,
    "two-markings.example.net": TLP.RED,
    "no-marking.example.net": TLP.AMBER,
}


def test_b19_tlp_marking_ids(store: Store, cases_dir: Path) -> None:
    summary = ingest_paths(
        store.engine,
        [cases_dir / "B19-tlp-marking-ids.json"],
        source="b19",
        fmt="stix",
        tlp=TLP.AMBER,
    )
    assert not summary.failed
    for value, level in B19_EXPECTED.items():
        assert TLP(record(store.engine, "domain", value).tlp) is level, value
    assert any(
        "marking-definition--bab4a63c-aed9-4b5f-a869-75b77dcc1ef3" in w
        for w in summary.warnings
    )


def test_b22_bom_crlf(store: Store, cases_dir: Path) -> None:
    summary = ingest_paths(
        store.engine, [cases_dir / "B22-csv-bom-crlf.csv"], source="b22"
    )
    assert summary.formats["csv"] == 1
    assert summary.rejected == 0
    assert records(store.engine) == {
        ("domain", "update-check.example.net"),
        ("ipv4", "198.51.100.31"),
        ("url", "http://files.example.org/kit.zip"),
        ("ipv6", "2001:db8::31"),
    }
    first_seen = format_rfc3339(
        record(store.engine, "ipv4", "198.51.100.31").first_seen, digits=0
    )
    assert first_seen == "2024-04-01T10:05:00Z"
    assert not any("\ufeff" in w for w in summary.warnings)


def test_b28_decompression_bomb(store: Store, cases_dir: Path) -> None:
    summary = ingest_paths(
        store.engine,
        [cases_dir / "B28-decompression-bomb.csv.gz"],
        source="b28",
        max_input_bytes=64 * 1024 * 1024,
    )
    assert len(summary.failed) == 1
    message = summary.failed[0].reason
    assert "B28-decompression-bomb.csv.gz" in message
    assert "67,108,864" in message
    assert "MEDISAC_MAX_INPUT_BYTES" in message
    row = record(store.engine, "ipv4", "198.51.100.77")
    if row is not None:
        assert list(provenance_of(store.engine, "ipv4", "198.51.100.77")) == ["b28"]


def test_b29_composites(store: Store, cases_dir: Path) -> None:
    summary = ingest_paths(
        store.engine,
        [cases_dir / "B29-misp-composite-split.json"],
        source="b29",
        fmt="misp",
    )
    stored = records(store.engine)
    for pair in [
        ("filename", "invoice|final|v2.exe"),
        ("sha256", "b484d0f98ae469cb4c9654587c8b274f5eb71c767263187444cc8afa1073052a"),
        ("filename", "Setup.EXE"),
        ("md5", "7325192a9305a8ecdf4a6563277f7201"),
        ("domain", "mail-gw.example.org"),
        ("ipv6", "2001:db8::25"),
        ("ipv6", "2001:db8::1"),
        ("ipv4", "198.51.100.20"),
        ("domain", "vpn.example.net"),
    ]:
        assert pair in stored, pair
    assert not any("|" in value for kind, value in stored if kind != "filename")
    assert ("filename", "no-hash-here.exe") not in stored
    assert ("filename", "x.exe") not in stored
    reasons = _reasons(summary)
    assert any("aa32c707-9dd5-5c1a-a97d-f8aa6269594b" in r for r in reasons)
    assert any("f9ec6799-25a5-5d8a-93a1-6fe9c9ded3c5" in r for r in reasons)
    prov = provenance_of(store.engine, "ipv4", "198.51.100.20")["b29"]
    assert "8080" in prov.context


def test_b32_hash_case_length(store: Store, cases_dir: Path) -> None:
    summary = ingest_paths(
        store.engine, [cases_dir / "B32-hash-case-length.csv"], source="b32", fmt="csv"
    )
    assert records(store.engine) == {
        ("sha256", "4fe535ab6823de249137118542338caa280e52332864319ea3010ae34d26ba30"),
        ("md5", "d32cf66a18575fa77a043998b417efe1"),
        ("sha1", "1a904ef3147267efc3dfc5dc348104bca1fecaaf"),
        (
            "sha512",
            "172e237303a9a7f730a33424588bed2b999f3958f550cf89f0e19b1d9d1ec26d"
            "be66dcc44a99d2a45d4fd6825ccc892cb77668e842844658252eddc06f39892a",
        ),
    }
    prov = provenance_of(
        store.engine,
        "sha256",
        "4fe535ab6823de249137118542338caa280e52332864319ea3010ae34d26ba30",
    )
    assert prov["b32"].observations == 4
    lines = sorted(int(r.location.split()[-1]) for r in summary.rejections)
    assert lines == [6, 7, 8, 9]


@pytest.fixture
def timezone(request: pytest.FixtureRequest) -> Iterator[str]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.mark.parametrize(
    "timezone", ["Pacific/Auckland", "America/Los_Angeles"], indirect=True
)
def test_b35_time_zones(store: Store, cases_dir: Path, timezone: str) -> None:
    summary = ingest_paths(
        store.engine,
        [cases_dir / "B35-sightings-timezones.json"],
        source="b35",
        fmt="misp",
    )
    telemetry = record(store.engine, "domain", "telemetry-upload.example.net")
    assert format_rfc3339(telemetry.first_seen, digits=0) == "2024-03-09T22:30:00Z"
    assert format_rfc3339(telemetry.last_seen, digits=0) == "2024-03-09T23:45:00Z"
    assert any("4fa5c04c-e035-5223-8fd8-bda5dda711e3" in w for w in summary.warnings)
    assert record(store.engine, "ipv4", "203.0.113.61") is not None or any(
        "4fa5c04c" in r for r in _reasons(summary)
    )
    url = record(store.engine, "url", "http://telemetry-upload.example.net/up")
    assert url is not None
    assert format_rfc3339(url.first_seen, digits=0) == "2024-03-10T08:30:00Z"
    with store.engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(indicators)
            ).scalar_one()
            == 3
        )
