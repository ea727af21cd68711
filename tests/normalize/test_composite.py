"""Composite values: filename|hash, domain|ip, address and port."""

from __future__ import annotations

import pytest

from medisac.model.types import IndicatorType
from medisac.normalize import Value, normalize

from .helpers import reason

SHA256 = "b484d0f98ae469cb4c9654587c8b274f5eb71c767263187444cc8afa1073052a"


def test_filename_hash_splits_on_last_bar() -> None:
    values = normalize(f"invoice|final|v2.exe|{SHA256}", "filename|sha256")
    assert values == [
        Value(IndicatorType.SHA256, SHA256, {"filename": "invoice|final|v2.exe"}),
        Value(IndicatorType.FILENAME, "invoice|final|v2.exe"),
    ]


def test_filename_hash_case() -> None:
    values = normalize("Setup.EXE|7325192A9305A8ECDF4A6563277F7201", "filename|md5")
    digest, filename = values
    assert digest == Value(
        IndicatorType.MD5, "7325192a9305a8ecdf4a6563277f7201", {"filename": "Setup.EXE"}
    )
    assert filename == Value(IndicatorType.FILENAME, "Setup.EXE")


@pytest.mark.parametrize(
    ("raw", "declared", "expected"),
    [
        ("no-hash-here.exe|", "filename|sha256", "sha256 part is empty"),
        (f"x.exe|{SHA256[:-1]}", "filename|sha256", "sha256 part: 63 hex digits"),
        (f"x.exe|{SHA256}", "filename|md5", "md5 part: 64 hex digits"),
        (f"|{SHA256}", "filename|sha256", "file name part: empty file name"),
        (f"a\x00.exe|{SHA256}", "filename|sha256", "file name part: control"),
        (SHA256, "filename|sha256", "no '|' between the file name and the sha256"),
    ],
)
def test_filename_hash_rejected(raw: str, declared: str, expected: str) -> None:
    assert expected in reason(raw, declared)


def test_domain_ip_keeps_ipv6_colons() -> None:
    assert normalize("mail-gw.example.org|2001:db8::25", "domain|ip") == [
        Value(IndicatorType.DOMAIN, "mail-gw.example.org"),
        Value(IndicatorType.IPV6, "2001:db8::25"),
    ]


def test_domain_ip_ipv4() -> None:
    assert normalize("Mail.Example.org|198.51.100.25", "domain|ip") == [
        Value(IndicatorType.DOMAIN, "mail.example.org"),
        Value(IndicatorType.IPV4, "198.51.100.25"),
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mail.example.org|", "address part is empty"),
        ("|198.51.100.25", "domain part is empty"),
        ("a.example.org|198.51.100.25|x", "found 2"),
        ("a.example.org|010.1.1.1", "address part: leading zero"),
    ],
)
def test_domain_ip_rejected(raw: str, expected: str) -> None:
    assert expected in reason(raw, "domain|ip")


PORTS = [
    ("2001:db8::1|443", "ip-dst|port", IndicatorType.IPV6, "2001:db8::1", 443),
    ("198.51.100.20|8080", "ip-src|port", IndicatorType.IPV4, "198.51.100.20", 8080),
    ("198.51.100.20|8080", "ip|port", IndicatorType.IPV4, "198.51.100.20", 8080),
    (
        "vpn.example.net|4443",
        "hostname|port",
        IndicatorType.DOMAIN,
        "vpn.example.net",
        4443,
    ),
    ("198.51.100.20:8080", "ip:port", IndicatorType.IPV4, "198.51.100.20", 8080),
    ("[2001:db8::1]:8080", "ip:port", IndicatorType.IPV6, "2001:db8::1", 8080),
    (
        "vpn.example.net:8080",
        "domain:port",
        IndicatorType.DOMAIN,
        "vpn.example.net",
        8080,
    ),
]


@pytest.mark.parametrize(("raw", "declared", "kind", "expected", "port"), PORTS)
def test_address_with_port(
    raw: str, declared: str, kind: IndicatorType, expected: str, port: int
) -> None:
    assert normalize(raw, declared) == [Value(kind, expected, {"port": port})]


@pytest.mark.parametrize(
    ("raw", "expected_type", "expected_value", "port"),
    [
        ("198.51.100.20:8080", IndicatorType.IPV4, "198.51.100.20", 8080),
        ("[2001:db8::1]:443", IndicatorType.IPV6, "2001:db8::1", 443),
        ("vpn.example.net:4443", IndicatorType.DOMAIN, "vpn.example.net", 4443),
        ("vpn[.]example[.]net:4443", IndicatorType.DOMAIN, "vpn.example.net", 4443),
    ],
)
def test_undeclared_port_composites(
    raw: str, expected_type: IndicatorType, expected_value: str, port: int
) -> None:
    assert normalize(raw) == [Value(expected_type, expected_value, {"port": port})]


@pytest.mark.parametrize(
    ("raw", "declared", "expected"),
    [
        ("2001:db8::1:443", "ip:port", "write an IPv6 address with a port as"),
        ("198.51.100.20:0", "ip:port", "port 0 is outside 1-65535"),
        ("198.51.100.20:65536", None, "port 65536 is outside 1-65535"),
        ("198.51.100.20|", "ip|port", "port part: invalid port ''"),
        ("198.51.100.20|http", "ip-dst|port", "port part: invalid port 'http'"),
        ("[2001:db8::1]443", "ip:port", "expected [IPv6 address]:port"),
        ("vpn.example.net", "domain:port", "no ':' between the domain and the port"),
    ],
)
def test_port_composites_rejected(
    raw: str, declared: str | None, expected: str
) -> None:
    assert expected in reason(raw, declared)


def test_port_context_is_read_only() -> None:
    [value] = normalize("198.51.100.20:8080")
    with pytest.raises(TypeError):
        value.context["port"] = 1  # type: ignore[index]
