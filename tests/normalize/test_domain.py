"""Domain name normalisation and validation."""

from __future__ import annotations

import pytest

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize import Value
from medisac.normalize.domain import canonical_host, normalize_domain

from .helpers import only, reason

DOMAIN = IndicatorType.DOMAIN
IDN = "xn--klinik-mnchen-3ob.example.com"


@pytest.mark.parametrize("declared", [None, "domain", "hostname", "domain-name"])
def test_domain_lower_case_no_trailing_dot(declared: str | None) -> None:
    assert only("Good-Host.Example.NET.", declared) == Value(
        DOMAIN, "good-host.example.net"
    )


@pytest.mark.parametrize(
    "raw",
    [
        "klinik-münchen.example.com",
        "KLINIK-MÜNCHEN.EXAMPLE.COM",
        "klinik-münchen.example.com.",
        IDN,
        IDN.upper(),
        "klinik-münchen\u3002example\uff0ecom",
    ],
)
def test_idn_spellings_merge(raw: str) -> None:
    assert only(raw, "domain") == Value(DOMAIN, IDN)


def test_idn_non_transitional() -> None:
    # UTS 46 non-transitional processing keeps "ß" instead of mapping it to "ss".
    assert only("faß.example.de", "domain").value == "xn--fa-hia.example.de"


def test_underscore_allowed_below_top_label() -> None:
    assert only("_dmarc.example.org", "domain").value == "_dmarc.example.org"
    assert only("a_b.example.org").value == "a_b.example.org"


def test_hyphens_in_third_and_fourth_position_allowed() -> None:
    # Such names exist in DNS (for example CDN host names) although IDNA
    # reserves the form for its own labels.
    assert only("r3---sn-ab5l6n7s.example.com").value == "r3---sn-ab5l6n7s.example.com"


def test_valid_95_character_name() -> None:
    name = (
        "a-very-long-but-valid-host-name-part-number-one."
        "and-a-second-fairly-long-label-here.example.com"
    )
    assert len(name) == 95
    assert only(name) == Value(DOMAIN, name)


def test_label_of_63_octets_accepted() -> None:
    name = "x" * 63 + ".example.com"
    assert only(name).value == name


def test_name_of_253_characters_accepted() -> None:
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57, "com"])
    assert len(name) == 253
    assert only(name, "domain").value == name
    assert "longer than 253" in reason(name + "x", "domain")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (".leading.example.com", "empty label (leading dot)"),
        ("two..dots.example.com", "empty label (two dots in a row)"),
        ("end.example.com..", "empty label (more than one trailing dot)"),
        ("x" * 64 + ".example.com", "label longer than 63 octets (64)"),
        ("xn--zz.example.com", "invalid punycode label 'xn--zz'"),
        ("xn--.example.com", "invalid punycode label 'xn--'"),
        ("-start.example.com", "starts or ends with a hyphen"),
        ("end-.example.com", "starts or ends with a hyphen"),
        ("a.example.c-", "starts or ends with a hyphen"),
        ("exa!mple.com", "invalid character '!'"),
        ("exa mple.com", "invalid character ' '"),
        ("a.example.c_m", "underscore in top-level label"),
        ("host.123", "top-level label '123' is all digits"),
        ("localhost", "single-label name"),
        (".", "empty domain name"),
        ("bad\U0001f4a9.example.com", "invalid"),
    ],
)
def test_domain_rejected(raw: str, expected: str) -> None:
    assert expected in reason(raw, "domain")


def test_reason_for_long_unicode_label() -> None:
    assert "invalid internationalised label" in reason("ü" * 70 + ".example", "domain")


@pytest.mark.parametrize(
    "raw",
    [
        ".xn--zz",
        "xn--a.example",
        "\u200c.example.com",
        "a\u0300.example.com",
        "xn--ls8h.example",
        "XN--P1AI",
        "ﬀ\u0301.example",
        "\u0627\u0031.example",
        "a.\u0663",
    ],
)
def test_idna_errors_become_normalization_errors(raw: str) -> None:
    # The idna package raises UnicodeError subclasses; none may escape.
    try:
        value = normalize_domain(raw)
    except NormalizationError as exc:
        assert exc.reason
    else:
        assert value.value.isascii()


def test_canonical_host_allows_single_label() -> None:
    assert canonical_host("LOCALHOST") == "localhost"
    with pytest.raises(NormalizationError):
        normalize_domain("localhost")
