"""Composite values: two indicators, or an indicator and a port, in one field.

MISP writes ``filename|sha256``, ``domain|ip`` and ``ip-dst|port``; other feeds
write ``198.51.100.20:8080`` or ``[2001:db8::1]:443``. Each half is normalised
by its own type's rules, and a bad half rejects the whole composite, with the
reason naming the half, so that no half of a broken pair is stored alone.

- ``filename|<hash>`` splits on the last ``|``, because a file name may contain
  ``|`` and a hash never does. It gives the hash, with the file name as
  context, and the file name as a value of its own.
- ``domain|ip`` gives both values; the colons of an IPv6 address are never
  split points.
- ``ip|port``, ``domain|port``, ``ip:port`` and ``domain:port`` give the
  address or name with ``{"port": n}`` as context. An IPv6 address with a
  ``:port`` must be bracketed, because ``2001:db8::1:443`` is itself an
  address.
"""

from __future__ import annotations

from collections.abc import Callable

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize.domain import normalize_domain
from medisac.normalize.filename import normalize_filename
from medisac.normalize.hashes import normalize_hash
from medisac.normalize.ip import normalize_address, normalize_ipv6
from medisac.normalize.refang import clean
from medisac.normalize.value import Value, with_context


def _part(raw: str, name: str, normalizer: Callable[[str], Value], text: str) -> Value:
    try:
        return normalizer(text)
    except NormalizationError as exc:
        raise NormalizationError(raw, f"{name} part: {exc.reason}") from exc


def _cleaned_part(
    raw: str, name: str, normalizer: Callable[[str], Value], text: str
) -> Value:
    try:
        cleaned = clean(text)
    except NormalizationError as exc:
        raise NormalizationError(raw, f"{name} part: {exc.reason}") from exc
    if not cleaned:
        raise NormalizationError(raw, f"{name} part is empty")
    return _part(raw, name, normalizer, cleaned)


def parse_port(text: str) -> int:
    """Return a TCP/UDP port number from decimal text; raise if outside 1-65535."""
    if not (text.isascii() and text.isdigit()) or len(text) > 5:
        raise NormalizationError(text, f"invalid port {text[:16]!r}")
    port = int(text)
    if not 0 < port <= 65535:
        raise NormalizationError(text, f"port {port} is outside 1-65535")
    return port


def filename_hash(raw: str, kind: IndicatorType) -> list[Value]:
    """Split ``name|digest`` on the last ``|``; return the hash and the file name."""
    name, bar, digest = raw.rpartition("|")
    if not bar:
        raise NormalizationError(raw, f"no '|' between the file name and the {kind}")
    filename = _part(raw, "file name", normalize_filename, name)
    digest_value = _cleaned_part(
        raw, kind.value, lambda text: normalize_hash(text, kind), digest
    )
    return [with_context(digest_value, filename=filename.value), filename]


def domain_ip(raw: str) -> list[Value]:
    """Split ``domain|ip``; return the domain and the ipv4 or ipv6 value."""
    parts = raw.split("|")
    if len(parts) != 2:
        found = len(parts) - 1
        raise NormalizationError(
            raw, f"expected one '|' between the domain and the address, found {found}"
        )
    domain = _cleaned_part(raw, "domain", normalize_domain, parts[0])
    address = _cleaned_part(raw, "address", normalize_address, parts[1])
    return [domain, address]


def _with_port(raw: str, host: Value, port_text: str) -> list[Value]:
    try:
        port = parse_port(port_text.strip())
    except NormalizationError as exc:
        raise NormalizationError(raw, f"port part: {exc.reason}") from exc
    return [with_context(host, port=port)]


def address_bar_port(raw: str) -> list[Value]:
    """Split ``ip|port``; return the address with the port as context."""
    address, bar, port = raw.rpartition("|")
    if not bar:
        raise NormalizationError(raw, "no '|' between the address and the port")
    host = _cleaned_part(raw, "address", normalize_address, address)
    return _with_port(raw, host, port)


def domain_bar_port(raw: str) -> list[Value]:
    """Split ``domain|port``; return the domain with the port as context."""
    name, bar, port = raw.rpartition("|")
    if not bar:
        raise NormalizationError(raw, "no '|' between the domain and the port")
    host = _cleaned_part(raw, "domain", normalize_domain, name)
    return _with_port(raw, host, port)


def address_colon_port(text: str) -> list[Value]:
    """Split ``ipv4:port`` or ``[ipv6]:port``; return the address with the port."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1 : close + 2] != ":":
            raise NormalizationError(text, "expected [IPv6 address]:port")
        host = _part(text, "address", normalize_ipv6, text[1:close])
        return _with_port(text, host, text[close + 2 :])
    address, colon, port = text.rpartition(":")
    if not colon:
        raise NormalizationError(text, "no ':' between the address and the port")
    if ":" in address:
        raise NormalizationError(
            text, "write an IPv6 address with a port as [address]:port"
        )
    host = _part(text, "address", normalize_address, address)
    return _with_port(text, host, port)


def domain_colon_port(text: str) -> list[Value]:
    """Split ``domain:port``; return the domain with the port as context."""
    name, colon, port = text.rpartition(":")
    if not colon:
        raise NormalizationError(text, "no ':' between the domain and the port")
    host = _part(text, "domain", normalize_domain, name)
    return _with_port(text, host, port)
