"""Type detection for values whose source declared no type.

Detection looks at the shape of refanged, stripped text. It tries these
shapes in order, and the first that fits decides:

1. url: ``scheme://…``
2. hash with a ``sha256:``-style prefix
3. email: ``local@domain``
4. cidr: ``address/prefix``
5. url without a scheme: ``host/path``
6. ipv4, optionally with ``:port``
7. hash: 32 or more hex digits
8. ipv6, optionally as ``[address]:port``
9. domain, optionally with ``:port``

Other text with whitespace inside is not detected as anything.

The normaliser for that type then accepts the value or rejects it with a
precise reason. So ``010.1.1.1`` is detected as ipv4 and rejected for its
leading zero, rather than left undetected.

A domain must contain a dot and end in a top-level domain of the bundled
Public Suffix List, or ``onion``. That keeps file names such as ``setup.exe``
and ``payload.dll`` out, since ``exe`` and ``dll`` are no top-level domains.
Some extensions are top-level domains too (``zip``, ``mov``, ``app``), so
``invoice.zip`` is detected as a domain. A source that lists file names must
declare the filename type, because filenames are never detected.
"""

from __future__ import annotations

import re
from enum import Enum

from medisac.model.types import IndicatorType
from medisac.normalize.domain import is_known_tld
from medisac.normalize.hashes import hash_type_for, split_prefix
from medisac.normalize.url import SCHEME


class Shape(Enum):
    """The form a detected value has, which picks its normaliser."""

    URL = "url"
    EMAIL = "email"
    CIDR = "cidr"
    IPV4 = "ipv4"
    IPV4_PORT = "ipv4:port"
    IPV6 = "ipv6"
    IPV6_PORT = "[ipv6]:port"
    HASH = "hash"
    DOMAIN = "domain"
    DOMAIN_PORT = "domain:port"


_EMAIL = re.compile(r"[^@\s/]+@[^@\s/]+")
_IPV4 = re.compile(r"[0-9]+(?:\.[0-9]+){2,}")
_IPV4_PORT = re.compile(r"[0-9]+(?:\.[0-9]+){3}:[0-9]+")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+(?:%[^\s/%]+)?")
# An IPv6 address with a zone index is far shorter; the cap keeps detection
# of long junk lines cheap.
_MAX_IPV6_SHAPE = 100
_IPV6_PORT = re.compile(r"\[[0-9A-Fa-f:.]+(?:%[^\s/%\]]+)?\]:[0-9]+")
_BRACKETED_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_HEX_DIGEST = re.compile(r"[0-9A-Fa-f]{32,}")
_PREFIX_LENGTH = re.compile(r"[0-9]+")
_PORT = re.compile(r":[0-9]+")
_NOT_IN_NAME = re.compile(r"[\s/\\:@?#|\"'`<>\[\](){},;=*]")
_WHITESPACE = re.compile(r"\s")
_WIDE_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def classify(clean: str) -> Shape | None:
    """Return the shape of refanged, stripped text, or None if it has none."""
    if SCHEME.match(clean):
        return Shape.URL
    if split_prefix(clean)[0] is not None:
        return Shape.HASH
    if _WHITESPACE.search(clean):
        return None
    if "@" in clean:
        return Shape.EMAIL if _EMAIL.fullmatch(clean) else None
    if "/" in clean:
        return _classify_with_slash(clean)
    if _IPV4.fullmatch(clean):
        return Shape.IPV4
    if _IPV4_PORT.fullmatch(clean):
        return Shape.IPV4_PORT
    if _HEX_DIGEST.fullmatch(clean):
        return Shape.HASH
    if _looks_like_ipv6(clean):
        return Shape.IPV6
    if _IPV6_PORT.fullmatch(clean):
        return Shape.IPV6_PORT
    return _classify_name(clean)


def detect_type(clean: str) -> IndicatorType | None:
    """Return the indicator type of refanged, stripped text, or None.

    The type is the one :func:`medisac.normalize.normalize` tries; that
    function may still reject the value, with the reason. A ``/32`` or
    ``/128`` network is reported as its host type, and a hex string whose
    length fits no hash gives None.
    """
    shape = classify(clean)
    if shape is None:
        return None
    if shape is Shape.HASH:
        prefixed, digits = split_prefix(clean)
        return prefixed or hash_type_for(digits)
    if shape is Shape.CIDR:
        return _network_type(clean)
    return _SHAPE_TYPES[shape]


_SHAPE_TYPES = {
    Shape.URL: IndicatorType.URL,
    Shape.EMAIL: IndicatorType.EMAIL,
    Shape.IPV4: IndicatorType.IPV4,
    Shape.IPV4_PORT: IndicatorType.IPV4,
    Shape.IPV6: IndicatorType.IPV6,
    Shape.IPV6_PORT: IndicatorType.IPV6,
    Shape.DOMAIN: IndicatorType.DOMAIN,
    Shape.DOMAIN_PORT: IndicatorType.DOMAIN,
}


def _network_type(clean: str) -> IndicatorType:
    address, _, prefix = clean.partition("/")
    full = "128" if ":" in address else "32"
    if prefix.lstrip("0") != full:
        return IndicatorType.CIDR
    return IndicatorType.IPV6 if ":" in address else IndicatorType.IPV4


def _looks_like_ipv6(text: str) -> bool:
    return (
        len(text) <= _MAX_IPV6_SHAPE
        and text.count(":") >= 2
        and _IPV6.fullmatch(text) is not None
    )


def _classify_with_slash(clean: str) -> Shape | None:
    host, _, after = clean.partition("/")
    if _PREFIX_LENGTH.fullmatch(after) and (
        _IPV4.fullmatch(host) or _looks_like_ipv6(host)
    ):
        return Shape.CIDR
    if _is_url_host(host):
        return Shape.URL
    return None


def _is_url_host(host: str) -> bool:
    if _BRACKETED_IPV6.fullmatch(host):
        return True
    if host.startswith("[") and "]:" in host:
        return bool(_IPV6_PORT.fullmatch(host))
    name, colon, port = host.rpartition(":")
    if colon:
        if not port.isascii() or not port.isdigit():
            return False
        host = name
    return bool(_IPV4.fullmatch(host)) or looks_like_domain(host)


def _classify_name(clean: str) -> Shape | None:
    if looks_like_domain(clean):
        return Shape.DOMAIN
    name, colon, port = clean.rpartition(":")
    if colon and _PORT.fullmatch(":" + port) and looks_like_domain(name):
        return Shape.DOMAIN_PORT
    return None


def looks_like_domain(text: str) -> bool:
    """Tell whether ``text`` has the shape of a domain name.

    The shape is a dot, no character that never occurs in a host name, and a
    last label that is a known top-level domain. The label rules themselves
    are checked later, when the name is normalised.
    """
    if not text.isascii():
        text = text.translate(_WIDE_DOTS)
    if "." not in text or _NOT_IN_NAME.search(text):
        return False
    if text.endswith("."):
        text = text[:-1]
    return is_known_tld(text.rpartition(".")[2].lower())
