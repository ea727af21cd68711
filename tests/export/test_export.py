"""Plain and STIX exports, checked with the real STIX validators."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import stix2
from stix2patterns.pattern import Pattern
from stix2patterns.validator import run_validator
from stix2validator import ValidationOptions, validate_string

from medisac.export.plain import write_plain
from medisac.export.select import ExportFilter
from medisac.export.stix import write_stix_bundle
from medisac.model import TLP, IndicatorType
from medisac.stix import unquote_literal
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text, records


def stix_bundle(store: Store, selection: ExportFilter | None = None) -> dict[str, Any]:
    out = io.BytesIO()
    with store.engine.connect() as conn:
        write_stix_bundle(conn, selection or ExportFilter(tlp=TLP.RED), out)
    return json.loads(out.getvalue())


def plain_values(store: Store, selection: ExportFilter | None = None) -> list[str]:
    out = io.BytesIO()
    with store.engine.connect() as conn:
        write_plain(conn, selection or ExportFilter(tlp=TLP.RED), out)
    return out.getvalue().decode().splitlines()


def assert_valid(bundle: dict[str, Any]) -> None:
    result = validate_string(json.dumps(bundle), ValidationOptions(version="2.1"))
    errors = [str(e) for e in result.errors]
    assert result.is_valid, errors[:5]


def indicators_of(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in bundle["objects"] if o["type"] == "indicator"]


def test_b08_apostrophes_round_trip(
    store: Store, cases_dir: Path, tmp_path: Path
) -> None:
    ingest_paths(
        store.engine, [cases_dir / "B08-stix-export-apostrophe.json"], fmt="misp"
    )
    stored = records(store.engine)
    assert stored == {
        ("filename", "Q3 payroll's final.xlsm"),
        ("url", "http://files.example.org/view.php?id=7')--"),
        ("filename", "C:\\Users\\Public\\svc'host.exe"),
        ("filename", "it\\'s.js"),
        ("email", "front'desk@example.org"),
    }
    bundle = stix_bundle(store)
    assert_valid(bundle)
    read_back = set()
    for indicator in indicators_of(bundle):
        assert run_validator(indicator["pattern"]) == []
        comparisons = Pattern(indicator["pattern"]).inspect().comparisons
        for _path, _op, literal in next(iter(comparisons.values())):
            read_back.add(unquote_literal(literal))
    assert read_back == {value for _, value in stored}
    path = tmp_path / "out.json"
    path.write_text(json.dumps(bundle))
    second = ingest_paths(store.engine, [path], source="round-trip", fmt="stix")
    assert second.merge.new == 0
    assert records(store.engine) == stored


def test_b13_superseded_not_exported(store: Store, cases_dir: Path) -> None:
    ingest_paths(
        store.engine, [cases_dir / "B13-versions-out-of-order.json"], fmt="stix"
    )
    values = plain_values(store)
    assert "unrelated-live.example.org" in values
    for name in ("version-a", "version-b", "version-c"):
        assert f"{name}.example.org" not in values


def test_b19_one_marking_each(store: Store, cases_dir: Path) -> None:
    ingest_paths(
        store.engine,
        [cases_dir / "B19-tlp-marking-ids.json"],
        fmt="stix",
        tlp=TLP.AMBER,
    )
    bundle = stix_bundle(store)
    assert_valid(bundle)
    marking_ids = {
        o["id"] for o in bundle["objects"] if o["type"] == "marking-definition"
    }
    by_name = {o["name"]: o for o in indicators_of(bundle)}
    for indicator in by_name.values():
        assert len(indicator["object_marking_refs"]) == 1
        assert indicator["object_marking_refs"][0] in marking_ids
    strict = by_name["tlp2-amber-strict.example.net"]["object_marking_refs"]
    assert strict == ["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"]
    assert by_name["opencti-amber-strict.example.net"]["object_marking_refs"] == strict
    clear = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
    assert by_name["opencti-clear.example.net"]["object_marking_refs"] == [clear]
    amber = {
        o["name"]
        for o in indicators_of(stix_bundle(store, ExportFilter(tlp=TLP.AMBER)))
    }
    assert "tlp2-amber.example.net" in amber
    assert "near-miss-green.example.net" in amber
    assert "no-marking.example.net" in amber
    assert "tlp2-amber-strict.example.net" not in amber
    assert "two-markings.example.net" not in amber


def test_b07_cidr_patterns(store: Store, cases_dir: Path) -> None:
    ingest_paths(store.engine, [cases_dir / "B07-misp-cidr-as-ipv6.json"], fmt="misp")
    patterns = [i["pattern"] for i in indicators_of(stix_bundle(store))]
    assert "[ipv4-addr:value = '198.51.100.0/24']" in patterns
    assert not any("ipv6-addr:value = '198.51.100" in p for p in patterns)


def test_b10_timestamps_utc(store: Store, cases_dir: Path) -> None:
    ingest_paths(store.engine, [cases_dir / "B10-stix-timestamps.json"], fmt="stix")
    bundle = stix_bundle(store)
    assert_valid(bundle)
    for indicator in indicators_of(bundle):
        for name in ("created", "modified", "valid_from", "valid_until"):
            if name in indicator:
                assert indicator[name].endswith("Z")


def test_b11_no_foreign_properties(store: Store, cases_dir: Path) -> None:
    ingest_paths(store.engine, [cases_dir / "B11-custom-object-types.json"], fmt="stix")
    bundle = stix_bundle(store)
    assert_valid(bundle)
    for indicator in indicators_of(bundle):
        custom = [name for name in indicator if name.startswith("x_")]
        assert all(name.startswith("x_medisac_") for name in custom)


def test_b29_name_and_hash(store: Store, cases_dir: Path) -> None:
    ingest_paths(
        store.engine, [cases_dir / "B29-misp-composite-split.json"], fmt="misp"
    )
    bundle = stix_bundle(store)
    assert_valid(bundle)
    patterns = [i["pattern"] for i in indicators_of(bundle)]
    digest = "b484d0f98ae469cb4c9654587c8b274f5eb71c767263187444cc8afa1073052a"
    combined = [p for p in patterns if digest in p]
    assert combined
    assert "file:name = 'invoice|final|v2.exe'" in combined[0]
    assert f"file:hashes.'SHA-256' = '{digest}'" in combined[0]


def test_b31_context_values_not_in_blocklists(store: Store, cases_dir: Path) -> None:
    ingest_paths(store.engine, [cases_dir / "B31-to-ids-and-benign.json"], fmt="misp")
    bundle = stix_bundle(store)
    assert_valid(bundle)
    observables = {o["value"]: o for o in bundle["objects"] if o["type"] == "ipv4-addr"}
    # Flagged for context only: an observable, never an indicator or a
    # blocklist entry.
    assert "198.51.100.23" in observables
    assert observables["198.51.100.23"]["x_medisac_to_ids"] is False
    names = {o["name"] for o in indicators_of(bundle)}
    assert "198.51.100.23" not in names
    assert "198.51.100.23" not in plain_values(store)
    # Flagged for detection: an indicator and a blocklist entry.
    assert "203.0.113.99" in names
    assert "203.0.113.99" in plain_values(store)


def test_context_observable_ids_match_stix2(store: Store, tmp_path: Path) -> None:
    event = {
        "Event": {
            "uuid": "5a1b2c3d-0000-4000-8000-000000000031",
            "info": "context only",
            "Attribute": [
                {"type": "domain", "value": "ctx.example.org", "to_ids": False},
                {"type": "sha256", "value": "ab" * 32, "to_ids": False},
            ],
        }
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    ingest_paths(store.engine, [path], fmt="misp")
    bundle = stix_bundle(store)
    assert_valid(bundle)
    ids = {o["id"] for o in bundle["objects"]}
    assert stix2.DomainName(value="ctx.example.org").id in ids
    assert stix2.File(hashes={"SHA-256": "ab" * 32}).id in ids
    assert not indicators_of(bundle)


def test_b04_exports_punycode(store: Store, cases_dir: Path) -> None:
    ingest_paths(
        store.engine, [cases_dir / "B04-canonical-dedup-idn-ipv6.txt"], fmt="plain"
    )
    assert "xn--klinik-mnchen-3ob.example.com" in plain_values(store)
    names = [i["name"] for i in indicators_of(stix_bundle(store))]
    assert "xn--klinik-mnchen-3ob.example.com" in names


def test_max_keeps_highest_confidence(store: Store, tmp_path: Path) -> None:
    for number, confidence in ((1, 30), (2, 90), (3, 60), (4, 80)):
        ingest_text(
            store.engine,
            tmp_path,
            f"198.51.100.{number}\n",
            source=f"s{number}",
            name=f"s{number}.txt",
            confidence=confidence,
        )
    kept = plain_values(store, ExportFilter(tlp=TLP.RED, max_count=2))
    assert sorted(kept) == ["198.51.100.2", "198.51.100.4"]
    assert len(plain_values(store, ExportFilter(tlp=TLP.RED, max_count=10))) == 4


def test_healthcare_filter(store: Store, tmp_path: Path) -> None:
    text = "type,value,tags\nipv4,198.51.100.7,hospital\nipv4,198.51.100.8,botnet\n"
    ingest_text(store.engine, tmp_path, text, name="h.csv", fmt="csv")
    kept = plain_values(store, ExportFilter(tlp=TLP.RED, healthcare=True))
    assert kept == ["198.51.100.7"]


@pytest.mark.parametrize("kind", [IndicatorType.IPV4, IndicatorType.DOMAIN])
def test_type_filter(store: Store, tmp_path: Path, kind: IndicatorType) -> None:
    path = tmp_path / "mixed.txt"
    path.write_text("198.51.100.80\nfilter.example.org\n")
    ingest_paths(store.engine, [path], fmt="plain")
    values = plain_values(store, ExportFilter(types=frozenset({kind}), tlp=TLP.RED))
    expected = "198.51.100.80" if kind is IndicatorType.IPV4 else "filter.example.org"
    assert values == [expected]
