"""Refanging and cleaning of raw text."""

from __future__ import annotations

import pytest

from medisac.errors import NormalizationError
from medisac.normalize import clean, refang

DEFANGED = [
    ("hxxp://a.example.com/x", "http://a.example.com/x"),
    ("hXXp://a.example.com/x", "http://a.example.com/x"),
    ("hxxps://a.example.com/x", "https://a.example.com/x"),
    ("HXXPS://a.example.com/x", "https://a.example.com/x"),
    ("HxXpS://a.example.com/x", "https://a.example.com/x"),
    ("a[.]example[.]com", "a.example.com"),
    ("a(.)example(.)com", "a.example.com"),
    ("a{.}example{.}com", "a.example.com"),
    ("hxxps://bombay.com[.ar/x", "https://bombay.com.ar/x"),
    ("a(dot)example[dot]com", "a.example.com"),
    ("a(DOT)example[Dot]com", "a.example.com"),
    ("http[:]//a.example.com", "http://a.example.com"),
    ("hxxps[://]a.example.com", "https://a.example.com"),
    ("http://a.example.com[/]x", "http://a.example.com/x"),
    ("user[@]example.org", "user@example.org"),
    ("user(at)example.org", "user@example.org"),
    ("user[at]example.org", "user@example.org"),
    ("user(@)example.org", "user@example.org"),
    ("2001[:]db8[:][:]1", "2001:db8::1"),
]


@pytest.mark.parametrize(("defanged", "expected"), DEFANGED)
def test_refang_forms(defanged: str, expected: str) -> None:
    assert refang(defanged) == expected


def test_refang_keeps_unknown_scheme() -> None:
    assert refang("tcp://relay[.]example[.]net:8989/c") == (
        "tcp://relay.example.net:8989/c"
    )


def test_refang_keeps_ipv6_brackets() -> None:
    url = "hxxp://[2001:db8::7]:8080/panel"
    assert refang(url) == "http://[2001:db8::7]:8080/panel"


def test_refang_leaves_plain_text() -> None:
    text = "  http://a.example/path?q=[1] (note) {x} "
    assert refang(text) == text


def test_refang_hxxp_only_as_word() -> None:
    assert refang("myhxxpserver.example.com") == "myhxxpserver.example.com"
    assert refang("hxxpx://a") == "hxxpx://a"


def test_refang_nested_markers() -> None:
    assert refang("a[[.]]b") == "a.b"
    assert refang(refang("a[(.)]b")) == refang("a[(.)]b")


def test_refang_line_of_text() -> None:
    line = "seen hxxps://bad[.]example[.]com and 198[.]51[.]100[.]7 today"
    assert refang(line) == "seen https://bad.example.com and 198.51.100.7 today"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\ufeff198.51.100.7\r\n", "198.51.100.7"),
        ("  \t198.51.100.7  ", "198.51.100.7"),
        ("198.51\u200b.100.7", "198.51.100.7"),
        ("\u2060example.com\u200d", "example.com"),
        ('"example.com"', "example.com"),
        ("'example.com'", "example.com"),
        ("<http://a.example/>", "http://a.example/"),
        ("[198.51.100.7]", "198.51.100.7"),
        ("[2001:db8::1]", "2001:db8::1"),
        ('" [example[.]com] "', "example.com"),
        ("\u201cexample.com\u201d", "example.com"),
    ],
)
def test_clean_strips_wrapping(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_clean_keeps_bracketed_address_with_port() -> None:
    assert clean("[2001:db8::1]:443") == "[2001:db8::1]:443"


def test_clean_keeps_unmatched_quote() -> None:
    assert clean("front'desk@example.org") == "front'desk@example.org"


def test_clean_rejects_lone_surrogate() -> None:
    with pytest.raises(NormalizationError) as caught:
        clean("bad\ud800.example.com")
    assert "surrogate" in caught.value.reason
