"""IPv4, IPv6 and CIDR normalisation."""

from __future__ import annotations

import pytest

from medisac.model.types import IndicatorType
from medisac.normalize import Value

from .helpers import only, reason

IPV4 = IndicatorType.IPV4
IPV6 = IndicatorType.IPV6
CIDR = IndicatorType.CIDR


@pytest.mark.parametrize("declared", [None, "ipv4", "ip-dst", "ip"])
def test_ipv4_plain(declared: str | None) -> None:
    assert only("198.51.100.12", declared) == Value(IPV4, "198.51.100.12")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("010.1.1.1", "leading zero in octet '010'"),
        ("198.51.100.07", "leading zero in octet '07'"),
        ("198.51.100.256", "octet 256 is larger than 255"),
        ("198.51.100", "3 parts; expected 4"),
        ("198.51.100.1.5", "5 parts; expected 4"),
    ],
)
def test_ipv4_rejected(raw: str, expected: str) -> None:
    assert expected in reason(raw)


def test_ipv4_declared_rejects_non_digits() -> None:
    assert "not a decimal number" in reason("198.51.x.1", "ipv4")
    assert "not a decimal number" in reason("198.51.\u0661.1", "ipv4")


def test_ipv4_declared_with_port_rejected() -> None:
    assert "declare the type ip:port" in reason("198.51.100.20:8080", "ipv4")


@pytest.mark.parametrize(
    "raw",
    [
        "2001:db8:0:0:0:0:0:1",
        "2001:DB8::1",
        "2001:0db8:0000:0000:0000:0000:0000:0001",
        "2001:db8::0:1",
        "2001:0DB8::0001",
        "[2001:db8::1]",
    ],
)
def test_ipv6_spellings_merge(raw: str) -> None:
    assert only(raw) == Value(IPV6, "2001:db8::1")
    assert only(raw, "ipv6") == Value(IPV6, "2001:db8::1")


def test_ipv6_rfc5952_single_zero_group() -> None:
    # RFC 5952 section 4.2.2: "::" never stands for a single zero group.
    assert only("2001:db8:0:1:1:1:1:1").value == "2001:db8:0:1:1:1:1:1"


def test_ipv6_longest_zero_run_compressed() -> None:
    assert only("2001:0:0:1:0:0:0:1").value == "2001:0:0:1::1"


@pytest.mark.parametrize("raw", ["::ffff:192.0.2.1", "::FFFF:c000:0201"])
def test_ipv6_mapped_stays_ipv6(raw: str) -> None:
    assert only(raw) == Value(IPV6, "::ffff:192.0.2.1")


def test_ipv6_zone_rejected() -> None:
    assert "zone index" in reason("fe80::1%eth0")


def test_ipv6_invalid_rejected() -> None:
    assert "invalid IPv6 address" in reason("2001:db8::1::2")


def test_ipv4_never_read_as_ipv6() -> None:
    assert "value is an IPv4 address" in reason("198.51.100.1", "ipv6")
    assert "value is an IPv4 address" in reason("198.51.100.0/24", "ipv6")


def test_ipv6_never_read_as_ipv4() -> None:
    assert "value is an IPv6 address" in reason("2001:db8::1", "ipv4")


@pytest.mark.parametrize("declared", [None, "cidr", "ip-dst", "ipv4"])
def test_cidr_ipv4(declared: str | None) -> None:
    assert only("198.51.100.0/24", declared) == Value(CIDR, "198.51.100.0/24")


@pytest.mark.parametrize("declared", [None, "cidr", "ip-src", "ipv6"])
def test_cidr_ipv6(declared: str | None) -> None:
    expected = Value(CIDR, "2001:db8:abcd::/48")
    assert only("2001:db8:abcd::/48", declared) == expected
    assert only("2001:0DB8:ABCD:0::/48", declared) == expected


def test_cidr_full_prefix_is_host() -> None:
    assert only("203.0.113.7/32") == Value(IPV4, "203.0.113.7")
    assert only("2001:db8::7/128") == Value(IPV6, "2001:db8::7")
    assert only("203.0.113.7/32", "cidr") == Value(IPV4, "203.0.113.7")


def test_cidr_declared_bare_address_is_host() -> None:
    assert only("203.0.113.7", "cidr") == Value(IPV4, "203.0.113.7")


def test_cidr_zero_prefix() -> None:
    assert only("0.0.0.0/0") == Value(CIDR, "0.0.0.0/0")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "198.51.100.77/24",
            "host bits set; the network address would be 198.51.100.0/24",
        ),
        ("2001:db8::1/48", "host bits set; the network address would be 2001:db8::/48"),
        ("198.51.100.0/33", "/33 is longer than 32 bits"),
        ("2001:db8::/129", "/129 is longer than 128 bits"),
        ("198.51.100.0/", "missing prefix length"),
        ("198.51.100.0/2x", "invalid prefix length"),
        ("010.51.100.0/24", "leading zero"),
    ],
)
def test_cidr_rejected(raw: str, expected: str) -> None:
    assert expected in reason(raw, "cidr")


def test_cidr_host_bits_never_masked() -> None:
    assert "host bits set" in reason("198.51.100.77/24")
    assert "host bits set" in reason("198.51.100.77/24", "ip-dst")
