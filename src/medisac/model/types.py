"""Indicator types and indicator states."""

from __future__ import annotations

from enum import StrEnum


class IndicatorType(StrEnum):
    """The kind of value an indicator holds; the store keys records on it."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    CIDR = "cidr"
    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    SHA512 = "sha512"
    FILENAME = "filename"


HASH_TYPES = frozenset(
    {IndicatorType.MD5, IndicatorType.SHA1, IndicatorType.SHA256, IndicatorType.SHA512}
)


class State(StrEnum):
    """Lifecycle of an indicator record."""

    ACTIVE = "active"
    FALSE_POSITIVE = "false_positive"
    REVOKED = "revoked"
    EXPIRED = "expired"
    # On a known-benign list: kept so that it is recognised, never published.
    BENIGN = "benign"
