"""URL canonical form and URL hosts."""

from __future__ import annotations

import pytest

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize import Value, url_host

from .helpers import only, reason

URL = IndicatorType.URL


def url(raw: str, declared: str | None = "url") -> str:
    value = only(raw, declared)
    assert value.type is URL
    return value.value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://A.Example.COM/Path", "http://a.example.com/Path"),
        ("http://a.example", "http://a.example/"),
        ("http://a.example/", "http://a.example/"),
        ("http://a.example/dir/", "http://a.example/dir/"),
        ("http://a.example?q=1", "http://a.example/?q=1"),
        ("http://a.example#top", "http://a.example/#top"),
        ("http://a.example:80/x", "http://a.example/x"),
        ("https://a.example:443/x", "https://a.example/x"),
        ("https://a.example:80/x", "https://a.example:80/x"),
        ("http://a.example:8080/x", "http://a.example:8080/x"),
        ("http://a.example:/x", "http://a.example/x"),
        ("http://a.example:0080/x", "http://a.example/x"),
        ("ftp://files.example.org:21/pub", "ftp://files.example.org/pub"),
        ("http://a.example/%7e%41%2d", "http://a.example/~A-"),
        ("http://a.example/a%2fb%3F", "http://a.example/a%2Fb%3F"),
        ("http://a.example/it's?q='x'", "http://a.example/it's?q='x'"),
        ("http://a.example/p?Q=A#Frag", "http://a.example/p?Q=A#Frag"),
        ("http://a.example/a/../b", "http://a.example/a/../b"),
        ("http://User:Pw@a.example/", "http://User:Pw@a.example/"),
        (
            "http://klinik-münchen.example.com/",
            "http://xn--klinik-mnchen-3ob.example.com/",
        ),
        ("http://[2001:DB8::7]:8080/panel", "http://[2001:db8::7]:8080/panel"),
        ("http://localhost/x", "http://localhost/x"),
        ("http://a.example./x", "http://a.example/x"),
    ],
)
def test_url_canonical(raw: str, expected: str) -> None:
    assert url(raw) == expected
    assert url(raw, None) == expected


def test_url_unknown_scheme_kept() -> None:
    assert url("tcp://relay.example.net:8989/c") == "tcp://relay.example.net:8989/c"
    # Only the five schemes with a known default get "/" for an empty path.
    assert url("tcp://relay.example.net:8989") == "tcp://relay.example.net:8989"


def test_url_without_scheme_gets_http_when_it_has_a_path() -> None:
    assert url("example.com/path/x.php") == "http://example.com/path/x.php"
    assert url("example.com/path/x.php", None) == "http://example.com/path/x.php"
    assert url("198.51.100.7:8080/gate", None) == "http://198.51.100.7:8080/gate"
    assert url("[2001:db8::7]/gate", None) == "http://[2001:db8::7]/gate"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mailto:a@example.com/", "scheme without '//'"),
        ("user@example.com/x", "user information in a URL without a scheme"),
        ("http:///path", "URL has no host"),
        ("http://a.example:99999/", "port 99999 is outside 1-65535"),
        ("http://a.example:0/", "port 0 is outside 1-65535"),
        ("http://a.example:8o/", "invalid port '8o'"),
        ("http://2001:db8::7/panel", "must be written in brackets"),
        ("http://[2001:db8::7/panel", "never closed"),
        ("http://[2001:db8::7]x/", "unexpected 'x' after ']'"),
        ("http://[fe80::1%25eth0]/", "zone index"),
        ("http://[v1.fe]/", "IPvFuture"),
        ("http://evil.example\\@good.example/", "backslash"),
        ("http://a.example/x\x00y", "control character U+0000"),
        ("http://a.example/a b", "whitespace in the URL"),
        ("http://a.example/\u3000x", "whitespace in the URL"),
        ("http://010.1.1.1/", "leading zero in octet '010'"),
        ("http://1.2.3/", "3 parts"),
        ("http://bad..example/", "host: empty label"),
        ("http://xn--zz.example/", "host: invalid punycode label"),
    ],
)
def test_url_rejected(raw: str, expected: str) -> None:
    assert expected in reason(raw, "url")


def test_url_with_trailing_comment_not_detected() -> None:
    assert reason("198.51.100.0/24 # scanner range") == (
        "not a recognised indicator value"
    )


def test_url_host_starting_with_digits_kept_whole() -> None:
    raw = "https://10.20.30.40.cdn-edge.example.net:8443/dl/setup.msi"
    assert url(raw, None) == raw
    assert url_host(raw) == Value(
        IndicatorType.DOMAIN, "10.20.30.40.cdn-edge.example.net"
    )


def test_url_host_kinds() -> None:
    assert url_host("http://198.51.100.23:8080/gate.php") == Value(
        IndicatorType.IPV4, "198.51.100.23"
    )
    assert url_host("hxxp://[2001:DB8::7]:8080/panel") == Value(
        IndicatorType.IPV6, "2001:db8::7"
    )
    assert url_host("https://Localhost.Portal.Example.com/login") == Value(
        IndicatorType.DOMAIN, "localhost.portal.example.com"
    )


def test_url_host_single_label_rejected() -> None:
    with pytest.raises(NormalizationError) as caught:
        url_host("http://localhost/x")
    assert "single-label" in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("msstorageboxes[.]com", IndicatorType.DOMAIN, "msstorageboxes.com"),
        ("198.51.100.1", IndicatorType.IPV4, "198.51.100.1"),
        ("2001:DB8::1", IndicatorType.IPV6, "2001:db8::1"),
        ("host.example.com:8080", IndicatorType.DOMAIN, "host.example.com"),
    ],
)
def test_declared_url_bare_host(raw: str, kind: IndicatorType, value: str) -> None:
    result = only(raw, "url")
    assert result.type is kind
    assert result.value == value


def test_declared_url_with_path_stays_url() -> None:
    result = only("example.com/x", "url")
    assert result.type is IndicatorType.URL
    assert result.value == "http://example.com/x"
