"""The entry point: pick the normaliser for a declared or detected type.

Declared type names are read case-insensitively. Besides the indicator type
names and the composite names (``filename|sha256``, ``ip:port``, …), the MISP
attribute types and STIX object names that mean the same thing are accepted
(``ip-dst``, ``hostname``, ``ipv4-addr``, ``domain-name``), so parsers can
pass the source's own type name. An empty declared type means "detect".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import partial

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize import composite
from medisac.normalize.detect import Shape, classify
from medisac.normalize.domain import normalize_domain
from medisac.normalize.email import normalize_email
from medisac.normalize.filename import normalize_filename
from medisac.normalize.hashes import normalize_hash
from medisac.normalize.ip import (
    is_canonical_ipv4,
    normalize_cidr,
    normalize_ip,
    normalize_ipv6,
)
from medisac.normalize.refang import clean
from medisac.normalize.url import normalize_url
from medisac.normalize.value import Value

Normalizer = Callable[[str], list[Value]]


def _single(normalizer: Callable[[str], Value]) -> Normalizer:
    def run(text: str) -> list[Value]:
        return [normalizer(text)]

    return run


def _hash(kind: IndicatorType) -> Normalizer:
    return _single(partial(normalize_hash, declared=kind))


_IP_ANY = _single(normalize_ip)
_IPV4 = _single(partial(normalize_ip, family=4))
_IPV6 = _single(partial(normalize_ip, family=6))
_DOMAIN = _single(normalize_domain)
_URL = _single(normalize_url)
_EMAIL = _single(normalize_email)


_HOST_SHAPES = frozenset(
    {
        Shape.DOMAIN,
        Shape.DOMAIN_PORT,
        Shape.IPV4,
        Shape.IPV4_PORT,
        Shape.IPV6,
        Shape.IPV6_PORT,
    }
)


def _declared_url(text: str) -> list[Value]:
    """Normalise a value a source typed as a URL.

    Feeds often type a bare host name or address as a URL (Sophos's CSV lists
    do). Such a value has neither a scheme nor a path, so it is the host
    itself, and it is stored as that host rather than rejected.
    """
    if "/" not in text:
        shape = classify(text)
        if shape in _HOST_SHAPES:
            return _BY_SHAPE[shape](text)
    return _URL(text)


# Normalisers that take the cleaned (refanged, unwrapped) text.
_DECLARED_CLEAN: dict[str, Normalizer] = {
    "ipv4": _IPV4,
    "ipv4-addr": _IPV4,
    "ipv6": _IPV6,
    "ipv6-addr": _IPV6,
    "ip": _IP_ANY,
    "ip-src": _IP_ANY,
    "ip-dst": _IP_ANY,
    "cidr": _single(normalize_cidr),
    "domain": _DOMAIN,
    "domain-name": _DOMAIN,
    "hostname": _DOMAIN,
    "url": _declared_url,
    "uri": _declared_url,
    "email": _EMAIL,
    "email-addr": _EMAIL,
    "email-src": _EMAIL,
    "email-dst": _EMAIL,
    "md5": _hash(IndicatorType.MD5),
    "sha1": _hash(IndicatorType.SHA1),
    "sha-1": _hash(IndicatorType.SHA1),
    "sha256": _hash(IndicatorType.SHA256),
    "sha-256": _hash(IndicatorType.SHA256),
    "sha512": _hash(IndicatorType.SHA512),
    "sha-512": _hash(IndicatorType.SHA512),
    "ip:port": composite.address_colon_port,
    "domain:port": composite.domain_colon_port,
    "hostname:port": composite.domain_colon_port,
}

# Normalisers that take the raw text, because a file name is kept as written
# and each half of a ``|`` composite is cleaned on its own.
_DECLARED_RAW: dict[str, Normalizer] = {
    "filename": _single(normalize_filename),
    "filename|md5": partial(composite.filename_hash, kind=IndicatorType.MD5),
    "filename|sha1": partial(composite.filename_hash, kind=IndicatorType.SHA1),
    "filename|sha256": partial(composite.filename_hash, kind=IndicatorType.SHA256),
    "filename|sha512": partial(composite.filename_hash, kind=IndicatorType.SHA512),
    "domain|ip": composite.domain_ip,
    "ip|port": composite.address_bar_port,
    "ip-src|port": composite.address_bar_port,
    "ip-dst|port": composite.address_bar_port,
    "domain|port": composite.domain_bar_port,
    "hostname|port": composite.domain_bar_port,
}

DECLARED_TYPES = frozenset(_DECLARED_CLEAN) | frozenset(_DECLARED_RAW)

_BY_SHAPE: dict[Shape, Normalizer] = {
    Shape.URL: _URL,
    Shape.EMAIL: _EMAIL,
    Shape.CIDR: _single(normalize_cidr),
    Shape.IPV4: _IPV4,
    Shape.IPV4_PORT: composite.address_colon_port,
    Shape.IPV6: _single(normalize_ipv6),
    Shape.IPV6_PORT: composite.address_colon_port,
    Shape.HASH: _single(normalize_hash),
    Shape.DOMAIN: _DOMAIN,
    Shape.DOMAIN_PORT: composite.domain_colon_port,
}


def normalize(raw: str, declared: str | None = None) -> list[Value]:
    """Turn one value, as a feed wrote it, into canonical indicator values.

    ``declared`` is the type name the source gave (an indicator type such as
    ``sha256``, a composite such as ``filename|sha256``, or a MISP or STIX
    name of one), or None or ``""`` to detect the type. Returns one Value, or
    several for a composite.

    Raises :class:`NormalizationError`, whose ``value`` is ``raw`` and whose
    ``reason`` describes the problem. No other exception escapes, whatever
    the text.
    """
    if not isinstance(raw, str):
        raise NormalizationError(repr(raw), "value is not text")
    try:
        return _normalize(raw, declared)
    except NormalizationError as exc:
        if exc.value == raw:
            raise
        raise NormalizationError(raw, exc.reason) from exc


# An IPv4 network written with a dotted netmask: 198.51.100.0/255.255.255.0.
_NETMASK = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}/\d{1,3}(?:\.\d{1,3}){3}$")


def _netmask_network(raw: str, text: str) -> list[Value]:
    """Read netmask notation as the same network in prefix notation."""
    address, mask = text.split("/")
    try:
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
    except ValueError:
        raise NormalizationError(raw, f"invalid netmask {mask!r}") from None
    return _single(normalize_cidr)(f"{address}/{prefix}")


def _normalize(raw: str, declared: str | None) -> list[Value]:
    key = declared.strip().lower() if declared else ""
    if key in _DECLARED_RAW:
        return _DECLARED_RAW[key](raw)
    text = clean(raw)
    if not text:
        raise NormalizationError(raw, "empty value")
    if key:
        normalizer = _DECLARED_CLEAN.get(key)
        if normalizer is None:
            raise NormalizationError(
                raw, f"unknown declared type {declared!r}; see DECLARED_TYPES"
            )
        return normalizer(text)
    if is_canonical_ipv4(text):
        # Plain addresses are the bulk of most feeds, so they skip detection.
        return [Value(IndicatorType.IPV4, text)]
    if _NETMASK.match(text):
        return _netmask_network(raw, text)
    shape = classify(text)
    if shape is None:
        raise NormalizationError(raw, "not a recognised indicator value")
    return _BY_SHAPE[shape](text)
