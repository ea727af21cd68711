"""The MISP parser: attribute types, composites, tags, seen times, sightings."""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from medisac.errors import IngestError
from medisac.ingest.reader import expand
from medisac.model import TLP
from tests.ingest.helpers import (
    MAX_BYTES,
    by_value,
    observations,
    parse_bytes,
    parse_document,
    parse_path,
    rejections,
    skipped,
    values,
    warnings,
)

EVENT_UUID = "0f3cfd0e-5f1b-4a1e-9d7a-0c1c0a0e0001"


def attribute(kind: str, value: Any, number: int = 1, **extra: Any) -> dict[str, Any]:
    body = {
        "uuid": f"0f3cfd0e-5f1b-4a1e-9d7a-{number:012d}",
        "type": kind,
        "category": "Network activity",
        "value": value,
        "to_ids": True,
        "timestamp": "1714550400",
    }
    body.update(extra)
    return body


def event(*attributes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {
        "uuid": EVENT_UUID,
        "info": "test event",
        "date": "2024-05-01",
        "timestamp": "1714550400",
        "Attribute": list(attributes),
    }
    body.update(extra)
    return body


def misp(data: Any) -> list[Any]:
    return parse_bytes(json.dumps(data).encode(), "misp")


def test_types_declared() -> None:
    kinds = [
        ("ip-dst", "198.51.100.1", "ip"),
        ("ip-src", "198.51.100.0/24", None),
        ("ip-dst|port", "198.51.100.2|443", "ip|port"),
        ("hostname", "a.example.org", "domain"),
        ("domain|ip", "b.example.org|198.51.100.3", "domain|ip"),
        ("email-src", "x@example.org", "email"),
        ("sha256", "aa" * 32, "sha256"),
        ("filename|md5", "a.exe|" + "b" * 32, "filename|md5"),
        ("url", "http://example.org/x", "url"),
    ]
    attributes = [attribute(kind, value, n) for n, (kind, value, _) in enumerate(kinds)]
    found = values(misp({"Event": event(*attributes)}))
    assert found == {value: declared for _, value, declared in kinds}


def test_non_indicator_types_skipped() -> None:
    items = misp(
        {
            "Event": event(
                attribute("link", "https://blog.example.com/post", 1),
                attribute("text", "notes", 2),
            )
        }
    )
    assert not observations(items)
    assert [(s.kind, s.location) for s in skipped(items)] == [
        ("misp:link", "attribute 0f3cfd0e-5f1b-4a1e-9d7a-000000000001"),
        ("misp:text", "attribute 0f3cfd0e-5f1b-4a1e-9d7a-000000000002"),
    ]


def test_ref_version_to_ids_deleted() -> None:
    items = misp(
        {
            "Event": event(
                attribute("domain", "a.example.org", 1, to_ids=False),
                attribute("domain", "b.example.org", 2, deleted=True, to_ids="1"),
            )
        }
    )
    first = by_value(items, "a.example.org")
    assert first.ref == "0f3cfd0e-5f1b-4a1e-9d7a-000000000001"
    assert first.version == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert first.to_ids is False
    assert first.revoked is False
    second = by_value(items, "b.example.org")
    assert second.revoked is True
    assert second.to_ids is True


def test_tags_and_tlp() -> None:
    items = misp(
        {
            "Event": event(
                attribute("domain", "a.example.org", 1),
                attribute(
                    "domain",
                    "b.example.org",
                    2,
                    Tag=[{"name": "tlp:red"}, {"name": "c2"}],
                ),
                Tag=[
                    {"name": "tlp:white"},
                    {"name": 'misp-galaxy:threat-actor="APT1"'},
                ],
            )
        }
    )
    first = by_value(items, "a.example.org")
    assert first.tlp is TLP.CLEAR
    assert first.tags == ('misp-galaxy:threat-actor="APT1"',)
    second = by_value(items, "b.example.org")
    assert second.tlp is TLP.RED
    assert second.tags == ('misp-galaxy:threat-actor="APT1"', "c2")


def test_object_attributes_and_filename_context() -> None:
    file_object = {
        "name": "file",
        "uuid": "0f3cfd0e-5f1b-4a1e-9d7a-0000000000f0",
        "Attribute": [
            attribute("filename", "dropper.exe", 10),
            attribute("sha256", "cc" * 32, 11),
            attribute("size-in-bytes", "1024", 12),
        ],
    }
    items = misp({"Event": event(Object=[file_object])})
    digest = by_value(items, "cc" * 32)
    assert digest.context["filename"] == "dropper.exe"
    assert digest.context["misp_object"] == "file"
    assert values(items)["dropper.exe"] == "filename"
    assert [s.kind for s in skipped(items)] == ["misp:size-in-bytes"]


def test_event_shapes() -> None:
    one = event(attribute("domain", "a.example.org"))
    for data in ({"Event": one}, [{"Event": one}], {"response": [{"Event": one}]}, one):
        assert values(misp(data)) == {"a.example.org": "domain"}, data
    search = {"response": {"Attribute": [attribute("domain", "b.example.org")]}}
    assert values(misp(search)) == {"b.example.org": "domain"}


def test_attribute_without_uuid_or_value() -> None:
    bare = {"type": "domain", "value": "a.example.org"}
    items = misp({"Event": event(bare, attribute("domain", None, 2), "junk")})
    assert (
        by_value(items, "a.example.org").location == f"event {EVENT_UUID} attribute #1"
    )
    assert by_value(items, "a.example.org").ref is None
    assert [r.location for r in rejections(items)] == [
        "attribute 0f3cfd0e-5f1b-4a1e-9d7a-000000000002",
        f"event {EVENT_UUID} attribute #3",
    ]


def test_sightings_context() -> None:
    sightings = [
        {"type": "0", "date_sighting": "1710037800", "source": "sensor-a"},
        {
            "type": "0",
            "date_sighting": "1710041400",
            "Organisation": {"name": "Clinic"},
        },
        {"type": "1", "date_sighting": "1710045000", "source": "sensor-a"},
    ]
    event_level = [
        {
            "type": "0",
            "date_sighting": "1710048600",
            "attribute_uuid": "0f3cfd0e-5f1b-4a1e-9d7a-000000000001",
        }
    ]
    items = misp(
        {
            "Event": event(
                attribute("domain", "a.example.org", 1, Sighting=sightings),
                Sighting=event_level,
            )
        }
    )
    context = by_value(items, "a.example.org").context
    assert context["sightings"] == 3
    assert context["false_positives"] == 1
    assert context["observers"] == ["Clinic", "sensor-a"]
    assert context["sighting_times"] == [
        "2024-03-10T02:30:00Z",
        "2024-03-10T03:30:00Z",
        "2024-03-10T05:30:00Z",
    ]
    assert context["false_positive_times"] == ["2024-03-10T04:30:00Z"]


def test_invalid_seen_time_warned() -> None:
    items = misp(
        {
            "Event": event(
                attribute(
                    "domain", "a.example.org", 1, first_seen="2024-02-30T00:00:00Z"
                )
            )
        }
    )
    assert by_value(items, "a.example.org").first_seen is None
    (warning,) = warnings(items)
    assert warning.location == "attribute 0f3cfd0e-5f1b-4a1e-9d7a-000000000001"
    assert "first_seen" in warning.message


def test_trailing_comma_names_position(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text('{"Event": {\n  "info": "x",\n  "Attribute": [],\n}}\n')
    with pytest.raises(IngestError) as caught:
        parse_path(path, "misp")
    assert str(path) in str(caught.value)
    assert caught.value.position == "line 4, column 1"


def test_truncated_event_names_position() -> None:
    with pytest.raises(IngestError) as caught:
        parse_bytes(
            b'{"Event": {"info": "x",\n"Attribute": [{"type": "domain"',
            "misp",
            "cut.json",
        )
    assert "cut.json" in str(caught.value)
    assert caught.value.position is not None
    assert caught.value.position.startswith("line 2, column")


def test_manifest_is_skipped_as_a_whole() -> None:
    manifest = {"5b6f5ad4-0000-4000-8000-000000000001": {"info": "x", "Orgc": {}}}
    items = misp(manifest)
    assert [s.kind for s in skipped(items)] == ["misp:manifest"]


def test_b07_cidr_never_ipv6(cases_dir: Path) -> None:
    items = parse_path(cases_dir / "B07-misp-cidr-as-ipv6.json", "misp")
    declared = {
        obs.location.split()[-1]: (obs.value, obs.type) for obs in observations(items)
    }
    assert declared == {
        "46d7f504-bdd7-5bdf-ad30-1c953dd213b8": ("198.51.100.0/24", None),
        "5d09d541-4014-5a03-b737-e50776c72bac": ("2001:db8:abcd::/48", None),
        "a4b3c291-a56c-5812-880a-7435da42368d": ("203.0.113.7/32", None),
        "798e80c3-5168-54a2-a863-9ab2cdbe21b2": ("203.0.113.7", "ip"),
        "0cac035c-7b11-554a-8314-ece5753f3a91": ("198.51.100.77/24", None),
        "fd74681d-9b4b-5ea6-9409-80d70e7be7a8": ("2001:db8::/129", None),
    }
    assert all(obs.tlp is TLP.GREEN for obs in observations(items))
    assert all(obs.ref == obs.location.split()[-1] for obs in observations(items))


def test_b29_composites_declared(cases_dir: Path) -> None:
    items = parse_path(cases_dir / "B29-misp-composite-split.json", "misp")
    found = {obs.ref: (obs.value, obs.type) for obs in observations(items)}
    assert found["5cf05863-7ef2-56f5-ad33-b4f927e4697c"] == (
        "invoice|final|v2.exe|b484d0f98ae469cb4c9654587c8b274f5eb71c767263187444cc8afa1073052a",
        "filename|sha256",
    )
    assert found["9f4caa8d-325d-545c-9809-3e8462f493bb"] == (
        "mail-gw.example.org|2001:db8::25",
        "domain|ip",
    )
    assert found["ac948d7c-ce7b-5c4d-9abf-c84769e3239a"] == (
        "2001:db8::1|443",
        "ip|port",
    )
    assert found["3521e1a7-512f-5083-a345-f84d1dfbbec7"] == (
        "vpn.example.net|4443",
        "domain|port",
    )
    assert found["aa32c707-9dd5-5c1a-a97d-f8aa6269594b"][1] == "filename|sha256"
    assert len(found) == 8


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
def test_b35_utc_in_any_zone(cases_dir: Path, timezone: str) -> None:
    items = parse_path(cases_dir / "B35-sightings-timezones.json", "misp")
    telemetry = by_value(items, "telemetry-upload.example.net")
    assert telemetry.first_seen == datetime(2024, 3, 9, 22, 30, tzinfo=UTC)
    assert telemetry.last_seen == datetime(2024, 3, 9, 23, 45, tzinfo=UTC)
    assert telemetry.context["sightings"] == 1
    assert telemetry.context["sighting_times"] == ["2024-03-10T02:30:00Z"]
    assert telemetry.context["observers"] == ["sensor-ward3"]
    assert telemetry.context["false_positives"] == 1
    assert telemetry.context["false_positive_times"] == ["2024-03-10T03:30:00Z"]
    assert telemetry.context["event_date"] == "2024-03-10"
    assert telemetry.context["event_time"] == "2024-03-10T01:30:00Z"
    address = by_value(items, "203.0.113.61")
    assert address.first_seen is None
    assert address.last_seen is None
    (warning,) = warnings(items)
    assert warning.location == "attribute 4fa5c04c-e035-5223-8fd8-bda5dda711e3"
    assert "2024-03-10T11:00:00" in warning.message
    assert "2024-03-10T12:00:00" in warning.message
    url = by_value(items, "http://telemetry-upload.example.net/up")
    assert url.first_seen == datetime(2024, 3, 10, 8, 30, tzinfo=UTC)


def test_corpus_malformed_event(corpus_dir: Path) -> None:
    path = (
        corpus_dir
        / "misp"
        / "malformed"
        / "eset_malicious_pypi_packages.misp-event.json.gz"
    )
    (document,) = expand([path], MAX_BYTES)
    with pytest.raises(IngestError) as caught:
        parse_document(document)
    assert "eset_malicious_pypi_packages.misp-event.json.gz" in str(caught.value)
    assert caught.value.position == "line 37374, column 9"


def test_corpus_eset_event(corpus_dir: Path) -> None:
    items = parse_path(
        corpus_dir / "misp" / "events" / "eset" / "2018-11-20_Zebrocy.json"
    )
    assert observations(items)
    assert all(obs.location.startswith("attribute ") for obs in observations(items))


def test_corpus_samsam_tags(corpus_dir: Path) -> None:
    items = parse_path(
        corpus_dir / "reports" / "samsam" / "MAR-10164494_samsam_misp.json"
    )
    found = observations(items)
    assert found
    assert all(obs.tlp is TLP.CLEAR for obs in found)
    assert 'misp-galaxy:ransomware="Samas-Samsam"' in found[0].tags


def test_corpus_feed_events(corpus_dir: Path) -> None:
    feed = corpus_dir / "misp" / "feed_malvuln"
    documents = list(expand([feed], MAX_BYTES))
    items = parse_document(documents[0])
    assert observations(items)
    assert all(obs.location.startswith("event ") for obs in observations(items))


def test_gzip_event(tmp_path: Path) -> None:
    path = tmp_path / "event.json.gz"
    path.write_bytes(
        gzip.compress(
            json.dumps({"Event": event(attribute("domain", "a.example.org"))}).encode()
        )
    )
    assert values(parse_path(path)) == {"a.example.org": "domain"}
