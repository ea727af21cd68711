"""Find address-, name-, URL- and hash-shaped tokens in log text.

A token is a whole run of the characters its shape allows, so a value never
matches inside a longer one: ``198.51.100.70`` and ``2198.51.100.7`` contain no
``198.51.100.7`` token, and ``portal.example.commercial`` no
``portal.example.com``. The same patterns serve the fast scan over a whole
block of log text and the per-field matching of candidate lines, so both see
the same tokens.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from medisac.errors import NormalizationError
from medisac.normalize.refang import refang
from medisac.normalize.url import normalize_url

_V4 = r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}"
_H = r"[0-9A-Fa-f]{1,4}"

# An IPv4 token must not continue a dotted name or a number on either side.
# A trailing dot followed by a non-name character (end of a sentence) is fine.
IPV4 = re.compile(rf"(?<![0-9A-Za-z_.-]){_V4}(?![0-9A-Za-z_-]|\.[0-9A-Za-z])")

# Eight groups, six groups and an IPv4 tail, or any form with "::". Times
# (06:25:42) and MAC addresses have neither, so they are never candidates.
IPV6 = re.compile(
    rf"(?<![0-9A-Za-z_:.])"
    rf"(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{6}}{_V4}"
    rf"|(?:{_H}(?::{_H}){{0,6}})?::(?:(?:{_H}:){{0,5}}(?:{_V4}|{_H}))?)"
    rf"(?![0-9A-Za-z_:]|\.[0-9])"
)

# A host name: labels of letters, digits, "_" and "-", and a last label that
# starts with a letter, so that dotted numbers are never names.
DOMAIN = re.compile(
    r"(?<![0-9A-Za-z_.-])"
    r"(?:[0-9A-Za-z_](?:[0-9A-Za-z_-]{0,61}[0-9A-Za-z_])?\.)+"
    r"[A-Za-z](?:[0-9A-Za-z-]{0,61}[0-9A-Za-z])?\.?"
    r"(?![0-9A-Za-z_-]|\.[0-9A-Za-z])"
)

HEX = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{32,128}(?![0-9A-Za-z])")
HASH_LENGTHS = frozenset({32, 40, 64, 128})

# A URL runs to the first character that RFC 3986 does not allow unencoded
# and that log formats use as a delimiter.
URL = re.compile(r"(?<![0-9A-Za-z+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`{}|\\^]+")
_URL_TRAILER = ",;)]"

# The defang markers of medisac.normalize.refang, found in any letter case.
DEFANGED = re.compile(
    r"hxxp|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}|\[:\]|\[/\]|\[@\]",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A log token in canonical form, ready to look up.

    ``kind`` is ``ip``, ``domain``, ``url`` or ``hash``, and ``text`` is
    the canonical text. For ``ip``, ``number`` is the address as an int and
    ``version`` is 4 or 6.
    """

    kind: str
    text: str
    number: int = 0
    version: int = 0


def ipv4_number(token: str) -> int | None:
    """Return the int of a dotted-quad token, or None if it is no valid address.

    Octets with a leading zero are not read, as normalisation rejects them.
    """
    parts = token.rstrip(".").split(".")
    number = 0
    for part in parts:
        if len(part) > 1 and part[0] == "0":
            return None
        octet = int(part)
        if octet > 255:
            return None
        number = number << 8 | octet
    return number


def ipv6_candidate(token: str) -> Candidate | None:
    """Return the candidate of an IPv6 token; an IPv4-mapped one is IPv4."""
    try:
        address = ipaddress.IPv6Address(token)
    except ValueError:
        return None
    mapped = address.ipv4_mapped
    if mapped is not None:
        return Candidate("ip", str(mapped), int(mapped), 4)
    return Candidate("ip", address.compressed, int(address), 6)


def domain_text(token: str) -> str:
    """Return a name token in canonical form: lower case, no trailing dot."""
    return token.lower().rstrip(".")


def url_candidate(token: str) -> Candidate | None:
    """Return the canonical URL of a URL token, or None if it is not valid."""
    token = token.rstrip(_URL_TRAILER)
    try:
        value = normalize_url(token)
    except NormalizationError:
        return None
    return Candidate("url", value.value)


def candidates(text: str) -> list[Candidate]:
    """Return every candidate token in one field value, defanged ones included."""
    if DEFANGED.search(text):
        text = refang(text)
    found: list[Candidate] = []
    # Each pattern needs a character that most field values lack, so the
    # cheap membership tests skip most of the scans.
    if "://" in text:
        for token in URL.findall(text):
            url = url_candidate(token)
            if url is not None:
                found.append(url)
    if "." in text:
        for token in IPV4.findall(text):
            number = ipv4_number(token)
            if number is not None:
                found.append(Candidate("ip", token, number, 4))
        for token in DOMAIN.findall(text):
            found.append(Candidate("domain", domain_text(token)))
    if ":" in text:
        for token in IPV6.findall(text):
            ipv6 = ipv6_candidate(token)
            if ipv6 is not None:
                found.append(ipv6)
    if len(text) >= 32:
        for token in HEX.findall(text):
            if len(token) in HASH_LENGTHS:
                found.append(Candidate("hash", token.lower()))
    return found
