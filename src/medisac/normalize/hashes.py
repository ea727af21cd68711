"""File hashes: md5, sha1, sha256 and sha512 as lower-case hex.

An undeclared hash is typed by its length. A declared type whose length does
not match is rejected, never re-typed, because a wrong type means the source
mixed up its columns and the value cannot be trusted as either type. A
``sha256:`` or ``SHA256=`` prefix, as some feeds write it, names the type.
"""

from __future__ import annotations

import re

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize.value import Value

HEX_LENGTHS: dict[IndicatorType, int] = {
    IndicatorType.MD5: 32,
    IndicatorType.SHA1: 40,
    IndicatorType.SHA256: 64,
    IndicatorType.SHA512: 128,
}
_TYPE_BY_LENGTH = {length: kind for kind, length in HEX_LENGTHS.items()}

_PREFIX = re.compile(r"(md5|sha-?1|sha-?256|sha-?512)\s*[:=]\s*", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-fA-F]+")
_NOT_HEX = re.compile(r"[^0-9a-fA-F]")


def split_prefix(text: str) -> tuple[IndicatorType | None, str]:
    """Split a ``sha256:``-style prefix off a hash; return its type and the digits."""
    match = _PREFIX.match(text)
    if match is None:
        return None, text
    kind = IndicatorType(match.group(1).lower().replace("-", ""))
    return kind, text[match.end() :]


def hash_type_for(text: str) -> IndicatorType | None:
    """Return the hash type that the length of ``text`` (hex digits) gives."""
    return _TYPE_BY_LENGTH.get(len(text))


def normalize_hash(text: str, declared: IndicatorType | None = None) -> Value:
    """Return the hash Value of ``text``, typed by ``declared`` or by its length.

    Raises NormalizationError for an empty value, a non-hex character, a
    length that fits no supported hash, or a length that does not fit the
    declared type.
    """
    prefixed, digits = split_prefix(text)
    kind = _agree(text, declared, prefixed)
    if not digits:
        raise NormalizationError(text, "empty hash value")
    if not _HEX.fullmatch(digits):
        raise NormalizationError(text, _non_hex_reason(digits))
    if kind is None:
        kind = hash_type_for(digits)
        if kind is None:
            raise NormalizationError(
                text,
                f"{len(digits)} hex digits: not the length of an md5 (32), "
                "sha1 (40), sha256 (64) or sha512 (128)",
            )
    expected = HEX_LENGTHS[kind]
    if len(digits) != expected:
        raise NormalizationError(
            text,
            f"{len(digits)} hex digits but the declared type is {kind} "
            f"({expected} digits)",
        )
    return Value(kind, digits.lower())


def _agree(
    text: str, declared: IndicatorType | None, prefixed: IndicatorType | None
) -> IndicatorType | None:
    if declared is not None and prefixed is not None and declared != prefixed:
        raise NormalizationError(
            text, f"the prefix says {prefixed} but the declared type is {declared}"
        )
    return declared or prefixed


def _non_hex_reason(digits: str) -> str:
    bad = _NOT_HEX.search(digits)
    assert bad is not None
    return f"non-hex character {bad.group(0)!r} at position {bad.start() + 1}"
