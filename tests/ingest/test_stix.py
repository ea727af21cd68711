"""The STIX 2.0 and 2.1 parser: patterns, versions, markings and context."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from medisac.errors import IngestError
from medisac.model import TLP
from tests.ingest.helpers import (
    by_value,
    observations,
    parse_bytes,
    parse_path,
    rejections,
    skipped,
    values,
    warnings,
)

INDICATOR_ID = "indicator--6b5b8a86-7e2e-4e5c-9c1d-2f9e2b1a0c01"


def indicator(pattern: str, **extra: Any) -> dict[str, Any]:
    body = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": INDICATOR_ID,
        "created": "2024-05-01T00:00:00.000Z",
        "modified": "2024-05-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-05-01T00:00:00Z",
    }
    body.update(extra)
    return body


def stix(*objects: dict[str, Any]) -> list[Any]:
    bundle = {"type": "bundle", "id": "bundle--1", "objects": list(objects)}
    return parse_bytes(json.dumps(bundle).encode(), "stix")


def test_equality_pattern_types() -> None:
    pattern = (
        "[ipv4-addr:value = '198.51.100.1'] OR [ipv4-addr:value = '198.51.100.0/24'] "
        "OR [ipv6-addr:value = '2001:db8::1'] OR [domain-name:value = 'example.org'] "
        "OR [url:value = 'http://example.org/a'] "
        "OR [email-addr:value = 'a@example.org'] "
        "OR [email-message:from_ref.value = 'b@example.org'] "
        "OR [file:hashes.'SHA-256' = 'aa'] OR [file:hashes.MD5 = 'bb'] "
        "OR [file:hashes.'SHA-1' = 'cc'] OR [file:hashes.'SHA-512' = 'dd']"
    )
    assert values(stix(indicator(pattern))) == {
        "198.51.100.1": "ipv4",
        "198.51.100.0/24": "cidr",
        "2001:db8::1": "ipv6",
        "example.org": "domain",
        "http://example.org/a": "url",
        "a@example.org": "email",
        "b@example.org": "email",
        "aa": "sha256",
        "bb": "md5",
        "cc": "sha1",
        "dd": "sha512",
    }


def test_filename_and_hash_in_one_observation() -> None:
    pattern = "[file:name = 'invoice.exe' AND file:hashes.'SHA-256' = 'abc']"
    items = stix(indicator(pattern))
    assert by_value(items, "abc").context["filename"] == "invoice.exe"
    assert by_value(items, "invoice.exe").type == "filename"


def test_in_list_and_escapes() -> None:
    pattern = (
        "[domain-name:value IN ('a.example.org', 'b.example.org')] "
        r"OR [file:name = 'O\'Brien.exe']"
    )
    assert values(stix(indicator(pattern))) == {
        "a.example.org": "domain",
        "b.example.org": "domain",
        "O'Brien.exe": "filename",
    }


def test_network_traffic_address_with_port() -> None:
    pattern = (
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND "
        "network-traffic:dst_ref.value = '203.0.113.8' AND "
        "network-traffic:dst_port = 443]"
    )
    items = stix(indicator(pattern))
    obs = by_value(items, "203.0.113.8")
    assert obs.type is None
    assert obs.context["port"] == 443
    assert not skipped(items)


def test_unsupported_comparisons_skipped() -> None:
    pattern = (
        "[windows-registry-key:key = 'HKLM\\\\Run'] OR [file:name MATCHES '^a'] "
        "OR [file:hashes.SSDEEP = 'x'] OR [domain-name:value = 'example.net']"
    )
    items = stix(indicator(pattern))
    assert values(items) == {"example.net": "domain"}
    assert sorted(s.kind for s in skipped(items)) == [
        "pattern:MATCHES",
        "pattern:file:hashes.SSDEEP",
        "pattern:windows-registry-key",
    ]


def test_invalid_pattern_rejected() -> None:
    items = stix(indicator("[domain-name:value = 'x'"))
    (rejection,) = rejections(items)
    assert rejection.location == f"object {INDICATOR_ID}"
    assert rejection.reason.startswith("pattern:")


def test_other_pattern_type_skipped() -> None:
    items = stix(indicator("alert tcp any any -> any any", pattern_type="snort"))
    assert [s.kind for s in skipped(items)] == ["pattern:snort"]


def test_stix20_indicator() -> None:
    body = {
        "type": "indicator",
        "id": INDICATOR_ID,
        "created": "2024-05-01T00:00:00.000Z",
        "modified": "2024-05-01T00:00:00.000Z",
        "labels": ["malicious-activity"],
        "pattern": "[file:hashes.'SHA-256' = 'abc']",
        "valid_from": "2024-05-01T00:00:00Z",
    }
    bundle = {
        "type": "bundle",
        "id": "bundle--1",
        "spec_version": "2.0",
        "objects": [body],
    }
    assert values(parse_bytes(json.dumps(bundle).encode(), "stix")) == {"abc": "sha256"}


def test_refs_versions_and_times() -> None:
    items = stix(indicator("[domain-name:value = 'example.org']", confidence=75))
    obs = by_value(items, "example.org")
    assert obs.ref == INDICATOR_ID
    assert obs.version == datetime(2024, 5, 1, tzinfo=UTC)
    assert obs.first_seen == datetime(2024, 5, 1, tzinfo=UTC)
    assert obs.location == f"object {INDICATOR_ID}"
    assert obs.confidence == 75


def test_relationships_give_tags() -> None:
    malware = {
        "type": "malware",
        "id": "malware--1",
        "name": "Emotet",
        "is_family": True,
    }
    actor = {"type": "threat-actor", "id": "threat-actor--1", "name": "TA542"}
    campaign = {"type": "campaign", "id": "campaign--1", "name": "Wave 3"}
    relationships = [
        ("indicates", INDICATOR_ID, "malware--1"),
        ("indicates", INDICATOR_ID, "campaign--1"),
        ("attributed-to", "campaign--1", "threat-actor--1"),
    ]
    objects = [
        {
            "type": "relationship",
            "id": f"relationship--{index}",
            "relationship_type": kind,
            "source_ref": source,
            "target_ref": target,
        }
        for index, (kind, source, target) in enumerate(relationships)
    ]
    items = stix(
        indicator("[domain-name:value = 'example.org']"),
        malware,
        actor,
        campaign,
        *objects,
    )
    assert by_value(items, "example.org").tags == (
        "campaign:Wave 3",
        "malware:Emotet",
        "threat-actor:TA542",
    )
    assert not skipped(items)


def test_sightings_counted() -> None:
    sightings = [
        {
            "type": "sighting",
            "id": f"sighting--{n}",
            "sighting_of_ref": INDICATOR_ID,
            "count": n,
        }
        for n in (2, 3)
    ]
    items = stix(indicator("[domain-name:value = 'example.org']"), *sightings)
    assert by_value(items, "example.org").context["sightings"] == 5


def test_observed_data_20_and_recipients() -> None:
    observed = {
        "type": "observed-data",
        "id": "observed-data--1",
        "created": "2024-05-01T00:00:00.000Z",
        "modified": "2024-05-01T00:00:00.000Z",
        "first_observed": "2024-04-01T00:00:00Z",
        "last_observed": "2024-04-02T00:00:00Z",
        "number_observed": 1,
        "objects": {
            "0": {"type": "email-addr", "value": "attacker@example.org"},
            "1": {"type": "email-addr", "value": "nurse@hospital.example.com"},
            "2": {"type": "email-message", "from_ref": "0", "to_refs": ["1"]},
            "3": {"type": "file", "name": "a.exe", "hashes": {"MD5": "m"}},
            "4": {"type": "mutex", "name": "x"},
        },
    }
    items = stix(observed)
    assert values(items) == {
        "attacker@example.org": "email",
        "m": "md5",
        "a.exe": "filename",
    }
    assert by_value(items, "m").last_seen == datetime(2024, 4, 2, tzinfo=UTC)
    assert by_value(items, "m").context["filename"] == "a.exe"
    assert sorted(s.kind for s in skipped(items)) == ["email-addr:recipient", "mutex"]


def test_observables_21_with_seen_times() -> None:
    address = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--1",
        "value": "203.0.113.4",
    }
    observed = {
        "type": "observed-data",
        "id": "observed-data--1",
        "created": "2024-05-01T00:00:00.000Z",
        "modified": "2024-05-01T00:00:00.000Z",
        "first_observed": "2024-04-01T00:00:00Z",
        "last_observed": "2024-04-02T00:00:00Z",
        "number_observed": 1,
        "object_refs": ["ipv4-addr--1"],
    }
    items = stix(address, observed)
    obs = by_value(items, "203.0.113.4")
    assert obs.type == "ipv4"
    assert obs.first_seen == datetime(2024, 4, 1, tzinfo=UTC)
    assert obs.ref is None
    assert not skipped(items)


def test_revoked_latest_version() -> None:
    old = indicator("[domain-name:value = 'example.org']")
    new = indicator(
        "[domain-name:value = 'example.org']",
        modified="2024-06-01T00:00:00.000Z",
        revoked=True,
    )
    (obs,) = observations(stix(new, old))
    assert obs.revoked is True
    assert obs.version == datetime(2024, 6, 1, tzinfo=UTC)


def test_truncated_bundle_names_position() -> None:
    with pytest.raises(IngestError) as caught:
        parse_bytes(
            b'{"type": "bundle",\n "objects": [{"type": "indicator",',
            "stix",
            "cut.json",
        )
    assert "cut.json" in str(caught.value)
    assert caught.value.position == "line 2, column 35"


def test_not_a_bundle() -> None:
    with pytest.raises(IngestError) as caught:
        parse_bytes(b'{"name": "x"}', "stix", "other.json")
    assert "other.json" in str(caught.value)


def test_bad_objects_rejected_not_fatal() -> None:
    bundle = {
        "type": "bundle",
        "objects": [
            1,
            {"type": "indicator"},
            indicator("[url:value = 'http://a.example']"),
        ],
    }
    items = parse_bytes(json.dumps(bundle).encode(), "stix")
    assert [r.location for r in rejections(items)] == ["object #1", "object #2"]
    assert values(items) == {"http://a.example": "url"}


def test_b10_timestamps(cases_dir: Path) -> None:
    items = parse_path(cases_dir / "B10-stix-timestamps.json", "stix")
    found = values(items)
    assert "seven-digit-v2.example.com" in found
    assert "seven-digit.example.com" not in found
    assert "feb-thirty.example.com" not in found
    (rejection,) = rejections(items)
    assert (
        rejection.location == "object indicator--c2f898a2-df84-460f-93e3-7b4a2f8a9619"
    )
    assert "valid_from" in rejection.reason
    nine = by_value(items, "nine-digit.example.com")
    assert nine.version == datetime(2024, 3, 5, 8, 15, 30, 123456, tzinfo=UTC)
    newer = by_value(items, "seven-digit-v2.example.com")
    assert newer.version == datetime(2024, 3, 5, 8, 15, 30, 123900, tzinfo=UTC)
    assert by_value(items, "no-fraction.example.com").first_seen == datetime(
        2024, 3, 5, 8, 15, 30, tzinfo=UTC
    )
    assert by_value(items, "offset.example.com").first_seen == datetime(
        2024, 3, 5, 8, 15, 30, tzinfo=UTC
    )
    leap = by_value(items, "leap-second.example.com")
    assert leap.valid_until == datetime(2030, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_b11_custom_types(cases_dir: Path) -> None:
    items = parse_path(cases_dir / "B11-custom-object-types.json", "stix")
    assert values(items) == {
        "custom-prop.example.com": "domain",
        "203.0.113.111": "ipv4",
    }
    kinds = sorted(s.kind for s in skipped(items))
    assert kinds == [
        "infrastructure",
        "threat-score",
        "x-acme-collection",
        "x-acme-tactic",
    ]
    (warning,) = warnings(items)
    assert "relationship--4843aa1f-aaa8-45ce-8ee5-8d1535084d1d" in warning.location
    assert "x-acme-tactic" in warning.message
    assert not rejections(items)


B13 = "indicator--2b238746-2352-4e6f-9dc3-56ef1aea96f0"


def test_b13_latest_version_wins(cases_dir: Path) -> None:
    items = parse_path(cases_dir / "B13-versions-out-of-order.json", "stix")
    versions = [obs for obs in observations(items) if obs.ref == B13]
    assert [(o.value, o.revoked) for o in versions] == [("version-b.example.org", True)]
    assert versions[0].version == datetime(2024, 5, 3, tzinfo=UTC)
    (warning,) = warnings(items)
    assert B13 in warning.message
    assert "2024-05-02" in warning.message
    assert by_value(items, "unrelated-live.example.org").revoked is False


def test_b13_any_order(cases_dir: Path) -> None:
    bundle = json.loads((cases_dir / "B13-versions-out-of-order.json").read_text())
    for order in itertools.permutations(bundle["objects"]):
        items = stix(*order)
        latest = [
            (o.value, o.revoked, o.version) for o in observations(items) if o.ref == B13
        ]
        assert latest == [
            ("version-b.example.org", True, datetime(2024, 5, 3, tzinfo=UTC))
        ]
        assert len(warnings(items)) == 1


def test_b19_marking_ids(cases_dir: Path) -> None:
    items = parse_path(cases_dir / "B19-tlp-marking-ids.json", "stix")
    levels = {obs.value: obs.tlp for obs in observations(items)}
    assert levels == {
        "opencti-clear.example.net": TLP.CLEAR,
        "tlp2-clear.example.net": TLP.CLEAR,
        "tlp1-green.example.net": TLP.GREEN,
        "tlp2-amber.example.net": TLP.AMBER,
        "tlp2-amber-strict.example.net": TLP.AMBER_STRICT,
        "opencti-amber-strict.example.net": TLP.AMBER_STRICT,
        "near-miss-green.example.net": None,
        "two-markings.example.net": TLP.RED,
        "no-marking.example.net": None,
    }
    (warning,) = warnings(items)
    assert "marking-definition--bab4a63c-aed9-4b5f-a869-75b77dcc1ef3" in warning.message


def test_corpus_sighting(corpus_dir: Path) -> None:
    items = parse_path(
        corpus_dir / "stix21" / "oasis" / "sighting-of-an-indicator.json"
    )
    assert by_value(items, "http://paypa1.banking.com").context["sightings"] == 1


def test_corpus_poisonivy_tags(corpus_dir: Path) -> None:
    items = parse_path(corpus_dir / "stix21" / "oasis" / "poisonivy.json")
    obs = by_value(items, "219.76.208.163")
    assert obs.type == "ipv4"
    assert "campaign:admin@338" in obs.tags


def test_corpus_unit42_stix20(corpus_dir: Path) -> None:
    items = parse_path(corpus_dir / "stix20" / "unit42" / "Dharma_TA.json")
    sha = "31b006066b725294a52c671344bfeeb1773f441f58640714533417fd804f20f7"
    assert by_value(items, sha).type == "sha256"


def test_corpus_talos_custom_types(corpus_dir: Path) -> None:
    items = parse_path(corpus_dir / "stix20" / "talos" / "2022_11_ipfs-abuse.json")
    assert observations(items)
    assert not rejections(items)


def test_corpus_mvt_tags(corpus_dir: Path) -> None:
    items = parse_path(corpus_dir / "stix21" / "mvt" / "rcs.stix2")
    assert by_value(items, "119-tim.info").tags == ("malware:RCSLab",)
