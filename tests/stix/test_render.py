"""Rendered indicators and static objects: valid STIX 2.1, deterministic, exact."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance

from medisac.model import TLP, IndicatorType, State
from medisac.model.time import format_rfc3339
from medisac.model.tlp import TLP2_MARKING_IDS
from medisac.stix import (
    IDENTITY_ID,
    INDICATOR_NAMESPACE,
    STATIC_OBJECTS,
    IndicatorView,
    SourceClaim,
    render_indicator,
    stix_id_for,
)

T0 = 1_714_550_400_000_000  # 2024-05-01T08:00:00Z
DAY = 86_400_000_000

VALUES = {
    IndicatorType.IPV4: "192.0.2.1",
    IndicatorType.IPV6: "2001:db8::1",
    IndicatorType.CIDR: "198.51.100.0/24",
    IndicatorType.DOMAIN: "portal.example.com",
    IndicatorType.URL: "http://files.example.org/view.php?id=7')--",
    IndicatorType.EMAIL: "front'desk@example.org",
    IndicatorType.MD5: "d41d8cd98f00b204e9800998ecf8427e",
    IndicatorType.SHA1: "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    IndicatorType.SHA256: (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    ),
    IndicatorType.SHA512: (
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    ),
    IndicatorType.FILENAME: "C:\\Users\\Public\\svc'host.exe",
}

# Warnings stix2-validator 3.3 gives for every medisac indicator, by design:
# 103 (uuid5 ids, so an id is stable across installs), 303 (no description)
# and 401 (x_medisac_ properties in place of a property extension).
EXPECTED_WARNING_CODES = {"103", "303", "401"}


def view(kind: IndicatorType = IndicatorType.DOMAIN, **changes: Any) -> IndicatorView:
    value = changes.pop("value", VALUES[kind])
    base = IndicatorView(
        stix_id=stix_id_for(kind, value),
        type=kind,
        value=value,
        state=State.ACTIVE,
        confidence=70,
        tlp=TLP.GREEN,
        first_seen=T0,
        last_seen=T0 + DAY,
        valid_until=T0 + 30 * DAY,
        created=T0 + 5,
        modified=T0 + DAY + 123_456,
        tags=(),
        context={},
        healthcare=False,
        to_ids=True,
        sources=(SourceClaim("feed-b", 70, TLP.GREEN, T0, T0 + DAY, None),),
    )
    return dataclasses.replace(base, **changes)


def validate(obj: dict[str, Any]) -> list[str]:
    """Validate one object; fail on any error and return the warning codes."""
    result = validate_instance(obj, ValidationOptions(version="2.1"))
    assert result.errors == [], [str(error) for error in result.errors]
    assert result.is_valid
    return sorted({str(w).split("{")[1].split("}")[0] for w in result.warnings})


@pytest.mark.parametrize("kind", list(IndicatorType))
def test_each_type_validates(kind: IndicatorType) -> None:
    body = render_indicator(view(kind))
    assert set(validate(body)) <= EXPECTED_WARNING_CODES
    assert body["x_medisac_type"] == kind.value
    assert body["name"] == VALUES[kind]


@pytest.mark.parametrize(
    "changes",
    [
        {"state": State.REVOKED},
        {"state": State.FALSE_POSITIVE, "to_ids": False},
        {"tags": ("ransomware", "healthcare", "ransomware"), "healthcare": True},
        {"context": {"filename": "it\\'s.js", "port": 443, "comment": "x"}},
        {"valid_until": None, "confidence": 0, "tlp": TLP.AMBER_STRICT},
        {"sources": ()},
    ],
)
def test_variants_validate(changes: dict[str, Any]) -> None:
    body = render_indicator(view(IndicatorType.SHA256, **changes))
    assert set(validate(body)) <= EXPECTED_WARNING_CODES


def test_sources_above_level_left_out() -> None:
    lowered = view(
        sources=(
            SourceClaim("feed-green", 60, TLP.GREEN, T0, T0, None),
            SourceClaim("partner-amber", 90, TLP.AMBER, T0, T0, None),
        ),
        tlp=TLP.GREEN,
    )
    names = [
        ref["source_name"] for ref in render_indicator(lowered)["external_references"]
    ]
    assert names == ["feed-green"]


def test_indicator_body_fields() -> None:
    source_a = SourceClaim("feed-a", 40, TLP.CLEAR, T0, T0, "misp-uuid-1")
    source_b = SourceClaim("feed-b", 80, TLP.AMBER, T0, T0, None)
    body = render_indicator(
        view(
            tags=("b-tag", "a-tag"),
            context={"port": 8443},
            sources=(source_b, source_a),
            tlp=TLP.AMBER,
        )
    )

    assert body["type"] == "indicator"
    assert body["spec_version"] == "2.1"
    assert body["id"] == stix_id_for(IndicatorType.DOMAIN, "portal.example.com")
    assert body["created"] == "2024-05-01T08:00:00.000005Z"
    assert body["modified"] == "2024-05-02T08:00:00.123456Z"
    assert body["valid_from"] == "2024-05-01T08:00:00.000000Z"
    assert body["valid_until"] == "2024-05-31T08:00:00.000000Z"
    assert body["created_by_ref"] == IDENTITY_ID

    assert body["pattern"] == "[domain-name:value = 'portal.example.com']"
    assert body["pattern_type"] == "stix"
    assert body["pattern_version"] == "2.1"
    assert body["indicator_types"] == ["malicious-activity"]

    assert body["labels"] == ["a-tag", "b-tag"]
    assert body["object_marking_refs"] == [TLP2_MARKING_IDS[TLP.AMBER]]
    assert body["external_references"] == [
        {
            "source_name": "feed-a",
            "external_id": "misp-uuid-1",
            "description": "reported with confidence 40 at TLP:CLEAR",
        },
        {
            "source_name": "feed-b",
            "description": "reported with confidence 80 at TLP:AMBER",
        },
    ]

    assert body["x_medisac_context"] == {"port": 8443}
    assert "revoked" not in body
    custom = [name for name in body if name.startswith("x_")]
    assert all(name.startswith("x_medisac_") for name in custom)


def test_amber_strict_uses_its_own_marking() -> None:
    body = render_indicator(view(tlp=TLP.AMBER_STRICT))
    assert body["object_marking_refs"] == [
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
    ]


@pytest.mark.parametrize("state", [State.REVOKED, State.FALSE_POSITIVE])
def test_analyst_states_render_revoked(state: State) -> None:
    body = render_indicator(view(state=state))
    assert body["revoked"] is True
    assert body["x_medisac_state"] == state.value


def test_expired_ends_validity() -> None:
    expired = view(state=State.EXPIRED)
    body = render_indicator(expired)
    assert "revoked" not in body
    assert body["valid_until"] == format_rfc3339(expired.modified)
    assert body["x_medisac_state"] == "expired"


def test_context_only_value_is_anomalous() -> None:
    body = render_indicator(view(to_ids=False))
    assert body["indicator_types"] == ["anomalous-activity"]
    assert body["x_medisac_to_ids"] is False


def test_valid_until_only_after_valid_from() -> None:
    assert "valid_until" not in render_indicator(view(valid_until=T0))
    assert "valid_until" not in render_indicator(view(valid_until=T0 - DAY))
    assert "valid_until" not in render_indicator(view(valid_until=None))


def test_empty_tags_and_context_left_out() -> None:
    body = render_indicator(view(sources=()))
    assert "labels" not in body
    assert "x_medisac_context" not in body
    assert "external_references" not in body


def test_same_view_same_bytes() -> None:
    first = view(
        tags=("z", "a"),
        context={"b": 1, "a": [2, 1]},
        sources=(
            SourceClaim("zeta", 10, TLP.RED, T0, T0, None),
            SourceClaim("alpha", 20, TLP.CLEAR, T0, T0, "ref"),
        ),
    )
    second = dataclasses.replace(
        first,
        tags=("a", "z"),
        context={"a": [2, 1], "b": 1},
        sources=tuple(reversed(first.sources)),
    )
    option = orjson.OPT_SORT_KEYS
    assert orjson.dumps(render_indicator(first), option=option) == orjson.dumps(
        render_indicator(second), option=option
    )


def test_stix_id_stable_and_distinct() -> None:
    one = stix_id_for(IndicatorType.IPV4, "203.0.113.118")
    assert one == stix_id_for(IndicatorType.IPV4, "203.0.113.118")
    assert one != stix_id_for(IndicatorType.CIDR, "203.0.113.118")
    assert one.startswith("indicator--")
    assert uuid.UUID(one.removeprefix("indicator--")).version == 5
    # Pinned: a change here would re-key every indicator members hold.
    assert one == "indicator--951cb010-a6aa-5d9a-a5d1-50c07afa0e59"


def test_versions_order_by_modified() -> None:
    older = render_indicator(view(modified=T0 + 999_999))
    newer = render_indicator(view(modified=T0 + 1_000_000))
    assert older["modified"] < newer["modified"]


# The published OASIS TLP 2.0 bodies (cti-stix-common-objects,
# extension-definition-specifications/tlp-2.0/examples): id, name, level.
TLP2_PUBLISHED = [
    ("marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", "TLP:CLEAR", "clear"),
    ("marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "TLP:GREEN", "green"),
    ("marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", "TLP:AMBER", "amber"),
    (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        "TLP:AMBER+STRICT",
        "amber+strict",
    ),
    ("marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", "TLP:RED", "red"),
]


def test_markings_match_published_bodies() -> None:
    markings = {obj["id"]: obj for obj in STATIC_OBJECTS if obj["type"] != "identity"}
    assert len(markings) == 5
    for marking_id, name, level in TLP2_PUBLISHED:
        assert markings[marking_id] == {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": marking_id,
            "created": "2022-10-01T00:00:00.000Z",
            "name": name,
            "extensions": {
                "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                    "extension_type": "property-extension",
                    "tlp_2_0": level,
                }
            },
        }


def test_identity_object() -> None:
    identities = [obj for obj in STATIC_OBJECTS if obj["type"] == "identity"]
    assert len(identities) == 1
    identity = identities[0]
    assert identity["id"] == IDENTITY_ID
    assert identity["name"] == "medisac exchange"
    assert identity["identity_class"] == "organization"
    assert identity["created"] == identity["modified"]


@pytest.mark.parametrize("obj", STATIC_OBJECTS, ids=lambda obj: obj["id"])
def test_static_objects_validate_cleanly(obj: dict[str, Any]) -> None:
    assert validate(obj) == []


@given(st.sampled_from(list(IndicatorType)), st.text(max_size=300))
def test_stix_id_is_uuid5(kind: IndicatorType, value: str) -> None:
    expected = uuid.uuid5(INDICATOR_NAMESPACE, f"{kind.value}:{value}")
    assert stix_id_for(kind, value) == f"indicator--{expected}"
