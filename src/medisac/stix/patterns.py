"""STIX 2.1 patterns for indicator values.

A string literal in the STIX 2.1 patterning grammar is quoted with ``'`` and
has exactly two escapes, ``\\'`` and ``\\\\``. Every other character is
itself. Values go through :func:`quote_literal`, never between bare
quotes, so an apostrophe or backslash in a file name or URL cannot end the
literal early.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medisac.errors import NormalizationError
from medisac.model import IndicatorType

# Object path of each hash type; names with a hyphen must be quoted.
_HASH_PATHS: dict[IndicatorType, str] = {
    IndicatorType.MD5: "file:hashes.MD5",
    IndicatorType.SHA1: "file:hashes.'SHA-1'",
    IndicatorType.SHA256: "file:hashes.'SHA-256'",
    IndicatorType.SHA512: "file:hashes.'SHA-512'",
}

_VALUE_PATHS: dict[IndicatorType, str] = {
    IndicatorType.DOMAIN: "domain-name:value",
    IndicatorType.URL: "url:value",
    IndicatorType.EMAIL: "email-addr:value",
    IndicatorType.FILENAME: "file:name",
}

_ADDRESS_TYPES = frozenset({IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR})


def quote_literal(text: str) -> str:
    """Return ``text`` as a quoted STIX pattern string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def unquote_literal(literal: str) -> str:
    """Read a quoted STIX pattern string literal back into its text.

    Raises ``ValueError`` if ``literal`` is not quoted or contains a backslash
    that does not start ``\\'`` or ``\\\\``.
    """
    if len(literal) < 2 or literal[0] != "'" or literal[-1] != "'":
        raise ValueError(f"not a quoted STIX string literal: {literal!r}")
    out: list[str] = []
    body = literal[1:-1]
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            following = body[index + 1 : index + 2]
            if following not in ("\\", "'"):
                raise ValueError(
                    f"invalid escape at offset {index + 1} in STIX string literal "
                    f"{literal!r}; only \\' and \\\\ are defined"
                )
            out.append(following)
            index += 2
            continue
        if char == "'":
            raise ValueError(
                f"unescaped quote at offset {index + 1} in STIX string literal "
                f"{literal!r}"
            )
        out.append(char)
        index += 1
    return "".join(out)


def pattern_for(kind: IndicatorType, value: str, context: Mapping[str, Any]) -> str:
    """Build the STIX 2.1 pattern that matches one indicator value.

    Addresses and networks go under ``ipv4-addr`` or ``ipv6-addr`` by the
    address family of the value itself, whatever ``kind`` is. A hash whose
    context names the file (``{"filename": ...}``, a string or a list of
    strings) matches the name as well. Raises :class:`NormalizationError` for
    an address type whose value is not an IP address or network.
    """
    if kind in _ADDRESS_TYPES:
        return f"[{_address_path(value)} = {quote_literal(value)}]"
    hash_path = _HASH_PATHS.get(kind)
    if hash_path is not None:
        return _hash_pattern(hash_path, value, context)
    return f"[{_VALUE_PATHS[kind]} = {quote_literal(value)}]"


def _address_path(value: str) -> str:
    # Stored values are canonical (the normaliser checked them), so the
    # family shows in the text; parsing each address again would cost more
    # than the rest of rendering.
    if ":" in value:
        return "ipv6-addr:value"
    if "." in value and value.replace(".", "").replace("/", "").isdigit():
        return "ipv4-addr:value"
    raise NormalizationError(
        value,
        f"cannot render a STIX pattern: {value!r} is not an IP address or network",
    )


def _hash_pattern(hash_path: str, digest: str, context: Mapping[str, Any]) -> str:
    hash_test = f"{hash_path} = {quote_literal(digest)}"
    names = _file_names(context.get("filename"))
    if not names:
        return f"[{hash_test}]"
    name_tests = [f"file:name = {quote_literal(name)}" for name in names]
    if len(name_tests) == 1:
        return f"[{name_tests[0]} AND {hash_test}]"
    return f"[({' OR '.join(name_tests)}) AND {hash_test}]"


def _file_names(raw: Any) -> list[str]:
    """Return the file names in a context entry, sorted and without repeats."""
    if isinstance(raw, str):
        return [raw] if raw else []
    if isinstance(raw, list | tuple):
        return sorted({name for name in raw if isinstance(name, str) and name})
    return []
