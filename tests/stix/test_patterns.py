"""STIX patterns: every value quoted safely, validated and read back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2patterns.v21.pattern import Pattern
from stix2patterns.validator import run_validator

from medisac.errors import NormalizationError
from medisac.model import IndicatorType
from medisac.stix import pattern_for, quote_literal, unquote_literal

SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

MISP_TYPES = {
    "filename": IndicatorType.FILENAME,
    "url": IndicatorType.URL,
    "email-src": IndicatorType.EMAIL,
}


def read_back(pattern: str) -> dict[str, list[str]]:
    """Parse a pattern and return each object path's unquoted comparison values."""
    found: dict[str, list[str]] = {}
    for object_type, comparisons in Pattern(pattern).inspect().comparisons.items():
        for path, operator, literal in comparisons:
            assert operator == "="
            name = f"{object_type}:{'.'.join(str(part) for part in path)}"
            found.setdefault(name, []).append(unquote_literal(literal))
    return found


def assert_valid(pattern: str) -> None:
    errors = run_validator(pattern, stix_version="2.1")
    assert errors == [], f"{pattern!r}: {errors}"


def test_apostrophe_values_validate_and_read_back(cases_dir: Path) -> None:
    event = json.loads(
        (cases_dir / "B08-stix-export-apostrophe.json").read_text(encoding="utf-8")
    )
    attributes = event["Event"]["Attribute"]
    assert len(attributes) == 5
    for attribute in attributes:
        kind = MISP_TYPES[attribute["type"]]
        pattern = pattern_for(kind, attribute["value"], {})
        assert_valid(pattern)
        assert list(read_back(pattern).values()) == [[attribute["value"]]]


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("Q3 payroll's final.xlsm", "'Q3 payroll\\'s final.xlsm'"),
        (
            "http://files.example.org/view.php?id=7')--",
            "'http://files.example.org/view.php?id=7\\')--'",
        ),
        (
            "C:\\Users\\Public\\svc'host.exe",
            "'C:\\\\Users\\\\Public\\\\svc\\'host.exe'",
        ),
        ("it\\'s.js", "'it\\\\\\'s.js'"),
        ("front'desk@example.org", "'front\\'desk@example.org'"),
    ],
)
def test_literal_escapes_backslash_and_quote(value: str, literal: str) -> None:
    assert quote_literal(value) == literal
    assert unquote_literal(literal) == value


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (IndicatorType.IPV4, "192.0.2.1", "[ipv4-addr:value = '192.0.2.1']"),
        (IndicatorType.IPV6, "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"),
        (
            IndicatorType.CIDR,
            "198.51.100.0/24",
            "[ipv4-addr:value = '198.51.100.0/24']",
        ),
        (
            IndicatorType.CIDR,
            "2001:db8:abcd::/48",
            "[ipv6-addr:value = '2001:db8:abcd::/48']",
        ),
        # A mis-typed record still never puts an IPv4 value under ipv6-addr.
        (IndicatorType.IPV6, "203.0.113.5", "[ipv4-addr:value = '203.0.113.5']"),
        (
            IndicatorType.DOMAIN,
            "portal.example.com",
            "[domain-name:value = 'portal.example.com']",
        ),
        (
            IndicatorType.URL,
            "https://portal.example.com/a?b=c",
            "[url:value = 'https://portal.example.com/a?b=c']",
        ),
        (
            IndicatorType.EMAIL,
            "billing@example.org",
            "[email-addr:value = 'billing@example.org']",
        ),
        (
            IndicatorType.MD5,
            "d41d8cd98f00b204e9800998ecf8427e",
            "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
        ),
        (
            IndicatorType.SHA1,
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
        ),
        (IndicatorType.SHA256, SHA256, f"[file:hashes.'SHA-256' = '{SHA256}']"),
        (
            IndicatorType.SHA512,
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            "[file:hashes.'SHA-512' = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b57"
            "15dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a5"
            "38327af927da3e']",
        ),
        (IndicatorType.FILENAME, "invoice.exe", "[file:name = 'invoice.exe']"),
    ],
)
def test_pattern_per_type(kind: IndicatorType, value: str, expected: str) -> None:
    pattern = pattern_for(kind, value, {})
    assert pattern == expected
    assert_valid(pattern)


def test_hash_with_file_name_matches_both() -> None:
    pattern = pattern_for(
        IndicatorType.SHA256, SHA256, {"filename": "invoice|final's.exe", "port": 1}
    )
    assert pattern == (
        f"[file:name = 'invoice|final\\'s.exe' AND file:hashes.'SHA-256' = '{SHA256}']"
    )
    assert_valid(pattern)
    assert read_back(pattern) == {
        "file:name": ["invoice|final's.exe"],
        "file:hashes.SHA-256": [SHA256],
    }


def test_hash_with_several_file_names() -> None:
    pattern = pattern_for(
        IndicatorType.SHA256, SHA256, {"filename": ["b.exe", "a.exe", "b.exe"]}
    )
    assert pattern == (
        "[(file:name = 'a.exe' OR file:name = 'b.exe') AND "
        f"file:hashes.'SHA-256' = '{SHA256}']"
    )
    assert_valid(pattern)


def test_hash_ignores_empty_file_name() -> None:
    pattern = pattern_for(
        IndicatorType.MD5, "d41d8cd98f00b204e9800998ecf8427e", {"filename": ""}
    )
    assert pattern == "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"


def test_address_type_rejects_non_address() -> None:
    with pytest.raises(NormalizationError, match="not an IP address"):
        pattern_for(IndicatorType.IPV4, "portal.example.com", {})


@pytest.mark.parametrize(
    "literal", ["no quotes", "'dangling\\'", "'bad \\n escape'", "'a'b'"]
)
def test_unquote_rejects_malformed_literal(literal: str) -> None:
    with pytest.raises(ValueError, match="literal"):
        unquote_literal(literal)


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=60))
def test_any_file_name_round_trips(name: str) -> None:
    pattern = pattern_for(IndicatorType.FILENAME, name, {})
    assert_valid(pattern)
    assert read_back(pattern) == {"file:name": [name]}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=3))
def test_any_file_names_beside_hash_round_trip(names: list[str]) -> None:
    pattern = pattern_for(IndicatorType.SHA256, SHA256, {"filename": names})
    assert_valid(pattern)
    found = read_back(pattern)
    assert found["file:hashes.SHA-256"] == [SHA256]
    assert sorted(found["file:name"]) == sorted(set(names))
