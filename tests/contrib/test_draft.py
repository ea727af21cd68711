"""Proposals from e-mails: what is proposed, what is set aside, and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from medisac.contrib.draft import CONTEXT, INDICATOR, Proposal, draft_email
from medisac.contrib.mail import read_email


def proposals(eml_dir: Path, number: int) -> dict[str, Proposal]:
    data = (eml_dir / f"phishing_pot_sample-{number}.eml").read_bytes()
    draft = draft_email(read_email(data), None)
    return {item.value: item for item in draft.proposals}


def test_spoofed_sender_lower(eml_dir: Path) -> None:
    found = proposals(eml_dir, 20)["herb@southernheritagecc.com"]
    assert found.confidence == 45
    assert "DKIM failed" in found.reason


def test_authenticated_sender_higher(eml_dir: Path) -> None:
    found = proposals(eml_dir, 5949)["s680914@charterschools.ae"]
    assert found.confidence == 70
    assert "DMARC passed" in found.reason


def test_wrapper_set_aside(eml_dir: Path) -> None:
    found = proposals(eml_dir, 5949)
    wrappers = [item for value, item in found.items() if "bing.com/ck/" in value]
    assert [item.proposal for item in wrappers] == [CONTEXT]
    target = "https://linklift.space/what-cybersecurity-services-are-necessary-in-2025/"
    assert found[target].proposal == INDICATOR


def test_open_redirect_proposed(eml_dir: Path) -> None:
    found = proposals(eml_dir, 95)
    redirect = [item for value, item in found.items() if "sciquest.com" in value]
    assert [item.proposal for item in redirect] == [INDICATOR]
    assert "open redirect" in redirect[0].reason


def test_hex_token_context(eml_dir: Path) -> None:
    found = proposals(eml_dir, 3024)["67cc67544e610d65fdc33ee97d31edaa"]
    assert found.proposal == CONTEXT


def test_inline_image_context(eml_dir: Path) -> None:
    found = proposals(eml_dir, 1298)
    sha256 = "4c9dd55f7f2add356da0e86ebbda8648becdd90ffe2f917ef87042228575b6b6"
    assert found[sha256].proposal == CONTEXT


def test_ip_pixel_proposed(eml_dir: Path) -> None:
    found = proposals(eml_dir, 3860)
    pixels = [item for value, item in found.items() if "199.192.27.195" in value]
    assert pixels
    assert all(item.proposal == INDICATOR for item in pixels)


def test_logo_context(eml_dir: Path) -> None:
    found = proposals(eml_dir, 3860)
    assert found["https://zupimages.net/up/24/35/2lpn.png"].proposal == CONTEXT


@pytest.mark.parametrize("domain", ["bagon.la", "bagon.to", "bagon.su", "bagon.cx"])
def test_defanged_body_domains(eml_dir: Path, domain: str) -> None:
    assert proposals(eml_dir, 3311)[domain].proposal == INDICATOR


def test_defanged_subject_domain(eml_dir: Path) -> None:
    assert proposals(eml_dir, 1894)["nobux.sk"].proposal == INDICATOR


def test_attachment_hash_proposed(eml_dir: Path) -> None:
    found = proposals(eml_dir, 3641)
    sha256 = "399a80f7122764dba934c348bb10e2cf867eae8c37be64cf32544c6708aa027a"
    assert found[sha256].proposal == INDICATOR
    assert "never expanded" in found[sha256].reason


def test_body_address_context(eml_dir: Path) -> None:
    found = proposals(eml_dir, 148)
    assert found["rodrigo-fp@hotmail.com"].proposal == CONTEXT
