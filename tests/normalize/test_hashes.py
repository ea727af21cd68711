"""Hash normalisation: case, length and declared type."""

from __future__ import annotations

import pytest

from medisac.model.types import IndicatorType
from medisac.normalize import Value

from .helpers import only, reason

SHA256 = "4fe535ab6823de249137118542338caa280e52332864319ea3010ae34d26ba30"
MD5 = "d32cf66a18575fa77a043998b417efe1"
SHA1 = "1a904ef3147267efc3dfc5dc348104bca1fecaaf"
SHA512 = "ab" * 64


@pytest.mark.parametrize(
    ("digest", "kind"),
    [
        (MD5, IndicatorType.MD5),
        (SHA1, IndicatorType.SHA1),
        (SHA256, IndicatorType.SHA256),
        (SHA512, IndicatorType.SHA512),
    ],
)
def test_hash_typed_by_length(digest: str, kind: IndicatorType) -> None:
    assert only(digest) == Value(kind, digest)
    assert only(digest.upper()) == Value(kind, digest)
    assert only(digest.upper(), kind.value) == Value(kind, digest)


@pytest.mark.parametrize(
    "raw",
    [
        f"sha256:{SHA256}",
        f"SHA256={SHA256.upper()}",
        f"SHA-256: {SHA256}",
        f"  {SHA256}\t",
    ],
)
def test_hash_prefixes_and_padding(raw: str) -> None:
    assert only(raw) == Value(IndicatorType.SHA256, SHA256)
    assert only(raw, "sha256") == Value(IndicatorType.SHA256, SHA256)


def test_declared_length_mismatch_never_retyped() -> None:
    text = "7c744a646ee3d22813cf5016529e30a1"
    assert reason(text, "sha256") == (
        "32 hex digits but the declared type is sha256 (64 digits)"
    )
    assert reason(SHA256, "md5") == (
        "64 hex digits but the declared type is md5 (32 digits)"
    )


def test_prefix_disagreeing_with_declared_type() -> None:
    assert "the prefix says md5 but the declared type is sha256" in reason(
        f"md5:{MD5}", "sha256"
    )


def test_prefix_disagreeing_with_length() -> None:
    assert "40 hex digits but the declared type is sha256" in reason(f"sha256:{SHA1}")


@pytest.mark.parametrize(
    ("raw", "declared", "expected"),
    [
        (SHA256[:-1], "sha256", "63 hex digits but the declared type is sha256"),
        (SHA256 + "0", None, "65 hex digits: not the length of an md5"),
        (SHA256[:-1] + "g", "sha256", "non-hex character 'g' at position 64"),
        ("", "sha256", "empty value"),
        ("sha256:", None, "empty hash value"),
        ("0x" + MD5, "md5", "non-hex character 'x' at position 2"),
    ],
)
def test_hash_rejected(raw: str, declared: str | None, expected: str) -> None:
    assert expected in reason(raw, declared)
