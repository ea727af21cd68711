"""URLs: a canonical form that keeps the path, query and fragment as written.

Canonical form:

- The scheme and the host are lower case. An internationalised host becomes
  punycode. An IPv6 host keeps its brackets and is written in RFC 5952 form.
  An IPv4 host must be a strict dotted quad.
- The default port of ``http``, ``https``, ``ws`` and ``wss`` (80 or 443) and
  of ``ftp`` (21) is dropped, and so is an empty port (``host:``).
- For those five schemes an empty path becomes ``/``
  (``http://a.example`` -> ``http://a.example/``, RFC 3986 section 6.2.3). Any
  other path, including a trailing ``/``, is kept.
- Path, query and fragment are kept as written except that a percent-escape
  of an unreserved character is decoded (``%7E`` -> ``~``) and the hex digits
  of every other escape are upper case (``%2f`` -> ``%2F``), as RFC 3986
  section 6.2.2 describes. Nothing else is decoded or encoded.
- The user information before ``@`` is kept as written.
- Whitespace inside a URL is rejected; a URL must percent-encode it.
- Any scheme is accepted and kept, so ``tcp://relay.example.net:8989/c``
  stays a ``tcp`` URL.

A URL written without a scheme (``example.com/path/x.php``) gets ``http://``
when a ``/`` follows the host; without a path it is not a URL.

The authority is split by position, the way RFC 3986 defines it: the host is
what lies between the user information and the port, so a host such as
``10.20.30.40.cdn-edge.example.net`` is kept whole and never cut at its
IPv4-looking start.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize.composite import parse_port
from medisac.normalize.domain import canonical_host, normalize_domain
from medisac.normalize.ip import ipv4_text, ipv6_text, parse_ipv6
from medisac.normalize.refang import clean
from medisac.normalize.value import Value

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}

SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
_SCHEME_WITHOUT_SLASHES = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?![0-9]*(?:/|$))")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s")
# An escape right after "%" or "%X" is only upper-cased: decoding it could
# form a new escape with the characters before it ("%4%41" -> "%4A").
_ESCAPE = re.compile(r"(?<!%)(?<!%[0-9A-Fa-f])%([0-9A-Fa-f]{2})")
_ANY_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)
_NUMERIC_HOST = re.compile(r"[0-9]+(?:\.[0-9]+)*")


class UrlParts(NamedTuple):
    """A URL split into canonical parts."""

    scheme: str
    userinfo: str | None
    host: str
    host_type: IndicatorType
    port: int | None
    rest: str

    def unsplit(self) -> str:
        """Return the URL text these parts make."""
        user = f"{self.userinfo}@" if self.userinfo is not None else ""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{user}{self.host}{port}{self.rest}"


def normalize_url(text: str) -> Value:
    """Return the url Value of ``text`` in canonical form.

    Raises NormalizationError when the URL has no host, an invalid host or
    port, a control character, or neither a scheme nor a path.
    """
    return Value(IndicatorType.URL, split_url(text).unsplit())


def url_host(url: str) -> Value:
    """Return the host of a URL as a domain, ipv4 or ipv6 Value.

    ``url`` may be raw or defanged; it is cleaned first. Raises
    NormalizationError when the URL is invalid, or when its host is a single
    label such as ``localhost``, which is not a domain indicator.
    """
    parts = split_url(clean(url))
    if parts.host_type is IndicatorType.IPV6:
        return Value(IndicatorType.IPV6, parts.host[1:-1])
    if parts.host_type is IndicatorType.DOMAIN:
        return normalize_domain(parts.host)
    return Value(parts.host_type, parts.host)


def split_url(text: str) -> UrlParts:
    """Split ``text`` into canonical :class:`UrlParts`; raise if it is invalid."""
    control = _CONTROL.search(text)
    if control is not None:
        raise NormalizationError(
            text,
            f"control character U+{ord(control.group(0)):04X} in the URL; "
            "percent-encode it",
        )
    if _WHITESPACE.search(text):
        # A space inside a URL is far more often a trailing comment or a
        # second value on the line than a real part of the URL.
        raise NormalizationError(
            text, "whitespace in the URL; percent-encode it (%20) or split the line"
        )
    match = SCHEME.match(text)
    if match is None:
        return split_url(_with_default_scheme(text))
    scheme = match.group(1).lower()
    remainder = text[match.end() :]
    end = _authority_end(remainder)
    authority, rest = remainder[:end], remainder[end:]
    userinfo, host, host_type, port = _split_authority(text, authority)
    if port is not None and DEFAULT_PORTS.get(scheme) == port:
        port = None
    if scheme in DEFAULT_PORTS and not rest.startswith("/"):
        rest = "/" + rest
    return UrlParts(scheme, userinfo, host, host_type, port, _normalize_escapes(rest))


def _with_default_scheme(text: str) -> str:
    slash = text.find("/")
    if _SCHEME_WITHOUT_SLASHES.match(text):
        raise NormalizationError(
            text, "a scheme without '//' (such as mailto:) is not a supported URL"
        )
    if slash <= 0:
        raise NormalizationError(
            text, "no scheme (such as http://) and no path, so not a URL"
        )
    if "@" in text[:slash]:
        raise NormalizationError(
            text, "user information in a URL without a scheme; add the scheme"
        )
    return "http://" + text


def _authority_end(remainder: str) -> int:
    for index, char in enumerate(remainder):
        if char in "/?#":
            return index
    return len(remainder)


def _split_authority(
    text: str, authority: str
) -> tuple[str | None, str, IndicatorType, int | None]:
    if "\\" in authority:
        raise NormalizationError(
            text, "backslash in the URL authority; browsers read it as '/'"
        )
    userinfo: str | None
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        userinfo = None
    host_text, port = _split_port(text, hostport)
    if not host_text:
        raise NormalizationError(text, "URL has no host")
    host, host_type = _canonical_url_host(text, host_text)
    return userinfo, host, host_type, port


def _split_port(text: str, hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            raise NormalizationError(text, "'[' in the URL host is never closed")
        host, after = hostport[: close + 1], hostport[close + 1 :]
        if after and after[0] != ":":
            raise NormalizationError(text, f"unexpected {after[:16]!r} after ']'")
        return host, _port(text, after[1:])
    host, colon, port_text = hostport.rpartition(":")
    if not colon:
        return hostport, None
    if ":" in host:
        raise NormalizationError(
            text, "an IPv6 host must be written in brackets: http://[2001:db8::1]/"
        )
    return host, _port(text, port_text)


def _port(text: str, port_text: str) -> int | None:
    if not port_text:
        return None
    try:
        return parse_port(port_text)
    except NormalizationError as exc:
        raise NormalizationError(text, exc.reason) from exc


def _canonical_url_host(text: str, host: str) -> tuple[str, IndicatorType]:
    try:
        if host.startswith("["):
            inner = host[1:-1]
            if inner[:1] in ("v", "V"):
                raise NormalizationError(text, "IPvFuture hosts are not supported")
            return f"[{ipv6_text(parse_ipv6(inner))}]", IndicatorType.IPV6
        if _NUMERIC_HOST.fullmatch(host):
            return ipv4_text(host), IndicatorType.IPV4
        return canonical_host(host), IndicatorType.DOMAIN
    except NormalizationError as exc:
        if exc.value == text:
            raise
        raise NormalizationError(text, f"host: {exc.reason}") from exc


def _normalize_escapes(rest: str) -> str:
    if "%" not in rest:
        return rest
    rest = _ESCAPE.sub(_normalize_escape, rest)
    return _ANY_ESCAPE.sub(_upper_escape, rest)


def _normalize_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    if char in _UNRESERVED:
        return char
    return match.group(0).upper()


def _upper_escape(match: re.Match[str]) -> str:
    return match.group(0).upper()
