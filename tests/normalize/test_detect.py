"""Type detection and the declared-type table."""

from __future__ import annotations

import pytest

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize import DECLARED_TYPES, Value, detect_type, normalize

from .helpers import only, reason

SHA256 = "4fe535ab6823de249137118542338caa280e52332864319ea3010ae34d26ba30"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://a.example.com/x", IndicatorType.URL),
        ("tcp://relay.example.net:8989/c", IndicatorType.URL),
        ("example.com/path/x.php", IndicatorType.URL),
        ("198.51.100.7/admin", IndicatorType.URL),
        ("billing@example.net", IndicatorType.EMAIL),
        ("198.51.100.0/24", IndicatorType.CIDR),
        ("2001:db8:abcd::/48", IndicatorType.CIDR),
        ("203.0.113.7/32", IndicatorType.IPV4),
        ("2001:db8::7/128", IndicatorType.IPV6),
        ("198.51.100.12", IndicatorType.IPV4),
        ("198.51.100.12:8080", IndicatorType.IPV4),
        ("010.1.1.1", IndicatorType.IPV4),
        ("2001:db8::1", IndicatorType.IPV6),
        ("::ffff:192.0.2.1", IndicatorType.IPV6),
        ("[2001:db8::1]:443", IndicatorType.IPV6),
        ("d32cf66a18575fa77a043998b417efe1", IndicatorType.MD5),
        (SHA256, IndicatorType.SHA256),
        (f"sha256:{SHA256}", IndicatorType.SHA256),
        ("good-host.example.net", IndicatorType.DOMAIN),
        ("GOOD-HOST.EXAMPLE.NET.", IndicatorType.DOMAIN),
        ("klinik-münchen.example.com", IndicatorType.DOMAIN),
        ("hidden3xample.onion", IndicatorType.DOMAIN),
        ("vpn.example.net:4443", IndicatorType.DOMAIN),
        (".shadow-resolver.example.net", IndicatorType.DOMAIN),
        # zip is a top-level domain as well as an extension.
        ("invoice.zip", IndicatorType.DOMAIN),
    ],
)
def test_detect_type(text: str, expected: IndicatorType) -> None:
    assert detect_type(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "setup.exe",
        "payload.dll",
        "loader.js",
        "report.pdf",
        "host.local",
        "localhost",
        "deadbeef",
        SHA256 + "0",
        "just some words",
        "mail-gw.example.org|2001:db8::25",
        "",
    ],
)
def test_detect_type_none(text: str) -> None:
    assert detect_type(text) is None


def test_undetectable_rejected() -> None:
    assert reason("setup.exe") == "not a recognised indicator value"


def test_empty_value_rejected() -> None:
    assert reason("  \ufeff \r\n") == "empty value"
    assert reason("", "domain") == "empty value"


def test_declared_type_case_and_spaces() -> None:
    assert only("198.51.100.7", " IPv4 ") == Value(IndicatorType.IPV4, "198.51.100.7")


def test_empty_declared_type_detects() -> None:
    assert only(SHA256.upper(), "") == Value(IndicatorType.SHA256, SHA256)


def test_unknown_declared_type_rejected() -> None:
    assert "unknown declared type 'mutex'" in reason("Global\\x", "mutex")


def test_every_indicator_type_is_a_declared_type() -> None:
    for kind in IndicatorType:
        assert kind.value in DECLARED_TYPES


def test_error_value_is_raw_input() -> None:
    raw = "  http://[2001:db8::7/panel "
    with pytest.raises(NormalizationError) as caught:
        normalize(raw)
    assert caught.value.value == raw


def test_non_text_rejected() -> None:
    with pytest.raises(NormalizationError):
        normalize(42)  # type: ignore[arg-type]


def test_value_hash_ignores_context() -> None:
    plain = Value(IndicatorType.IPV4, "198.51.100.7")
    with_port = only("198.51.100.7:80")
    assert hash(plain) == hash(with_port)
    assert plain != with_port
