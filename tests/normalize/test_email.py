"""E-mail address normalisation."""

from __future__ import annotations

import pytest

from medisac.model.types import IndicatorType
from medisac.normalize import Value

from .helpers import only, reason

EMAIL = IndicatorType.EMAIL


@pytest.mark.parametrize("declared", [None, "email", "email-src", "email-addr"])
def test_email_apostrophe_valid(declared: str | None) -> None:
    assert only("front'desk@example.org", declared) == Value(
        EMAIL, "front'desk@example.org"
    )


def test_email_local_case_kept_domain_lowered() -> None:
    assert only("Billing.Team@Example.NET").value == "Billing.Team@example.net"


def test_email_refanged() -> None:
    assert only("billing[@]example[.]net") == Value(EMAIL, "billing@example.net")
    assert only("billing(at)example(dot)net") == Value(EMAIL, "billing@example.net")


def test_email_idn_domain() -> None:
    assert only("info@klinik-münchen.example.com").value == (
        "info@xn--klinik-mnchen-3ob.example.com"
    )


def test_email_mailto_prefix() -> None:
    assert only("mailto:a.b@example.org", "email").value == "a.b@example.org"


def test_email_unicode_local_part() -> None:
    assert only("jürgen@example.org", "email").value == "jürgen@example.org"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("@example.org", "empty local part"),
        ("no-at-sign.example.org", "no '@'"),
        (".a@example.org", "starts or ends with a dot"),
        ("a..b@example.org", "two dots in a row"),
        ("a b@example.org", "invalid character ' '"),
        ('"quoted"@example.org', "quoted local parts"),
        ("a@[192.0.2.1]", "address literals"),
        ("a@localhost", "domain part: single-label name"),
        ("a@bad..example.org", "domain part: empty label"),
        ("x" * 65 + "@example.org", "local part longer than 64 octets"),
    ],
)
def test_email_rejected(raw: str, expected: str) -> None:
    assert expected in reason(raw, "email")
