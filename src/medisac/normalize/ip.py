"""IPv4 addresses, IPv6 addresses and CIDR networks.

The address family is chosen by the text alone: a value with a ``:`` is IPv6
and any other value is IPv4, so an IPv4 value can never become IPv6. Canonical
forms:

- ipv4: dotted quad in decimal. An octet with a leading zero (``010``) is
  rejected, because some tools read it as octal and others as decimal.
- ipv6: RFC 5952 text, lower case with the longest run of zero groups
  compressed. An IPv4-mapped address keeps its dotted tail
  (``::ffff:192.0.2.1``) on every Python version, as RFC 5952 section 5
  recommends.
- cidr: ``network/prefix`` with the network in the form above. A network with
  host bits set is rejected, never masked. A ``/32`` (IPv6 ``/128``) is the host
  itself and comes back as ipv4 (ipv6).
"""

from __future__ import annotations

import ipaddress
import re

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize.value import Value

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_IPV4_WITH_PORT = re.compile(r"[0-9.]+:[0-9]+")
# The longest IPv6 text is 45 characters (an IPv4-mapped address written in
# full); checking the length first keeps error messages short.
_MAX_IPV6_TEXT = 45


def is_canonical_ipv4(text: str) -> bool:
    """Tell whether ``text`` is an IPv4 address already in canonical form."""
    return _CANONICAL_IPV4.fullmatch(text) is not None


def ipv4_text(text: str) -> str:
    """Return the canonical text of an IPv4 address, or raise with the reason."""
    if _CANONICAL_IPV4.fullmatch(text):
        return text
    raise NormalizationError(text, _ipv4_problem(text))


def _ipv4_problem(text: str) -> str:
    parts = text.split(".")
    if len(parts) != 4:
        return f"IPv4 address has {len(parts)} parts; expected 4 decimal octets"
    for part in parts:
        if not part:
            return "empty octet in IPv4 address"
        if not (part.isascii() and part.isdigit()):
            return f"octet {part[:16]!r} is not a decimal number"
        if len(part) > 1 and part[0] == "0":
            return (
                f"leading zero in octet {part!r} is ambiguous "
                "(some tools read it as octal)"
            )
        if len(part) > 3 or int(part) > 255:
            return f"octet {part[:16]} is larger than 255"
    return "invalid IPv4 address"


def ipv6_text(address: ipaddress.IPv6Address) -> str:
    """Return the RFC 5952 text of an IPv6 address."""
    mapped = address.ipv4_mapped
    if mapped is not None:
        return f"::ffff:{mapped}"
    return address.compressed


def parse_ipv6(text: str) -> ipaddress.IPv6Address:
    """Parse an IPv6 address without a zone index, or raise with the reason."""
    if "%" in text:
        raise NormalizationError(
            text, "IPv6 zone index ('%…') is local to one host; remove it"
        )
    if len(text) > _MAX_IPV6_TEXT:
        raise NormalizationError(text, "too long for an IPv6 address")
    if ":" not in text:
        raise NormalizationError(text, "not an IPv6 address (no ':')")
    try:
        return ipaddress.IPv6Address(text)
    except ValueError as exc:
        raise NormalizationError(text, f"invalid IPv6 address: {exc}") from exc


def normalize_ipv4(text: str) -> Value:
    """Return the ipv4 Value of a dotted quad; raise NormalizationError if invalid."""
    return Value(IndicatorType.IPV4, ipv4_text(text))


def normalize_ipv6(text: str) -> Value:
    """Return the ipv6 Value of an IPv6 address; raise NormalizationError if invalid.

    An IPv4 address is rejected here, never read as IPv6.
    """
    if ":" not in text and "." in text:
        raise NormalizationError(text, "the value is an IPv4 address, not IPv6")
    return Value(IndicatorType.IPV6, ipv6_text(parse_ipv6(text)))


def normalize_address(text: str) -> Value:
    """Return the ipv4 or ipv6 Value of an address, chosen by the ``:``."""
    if ":" in text:
        return normalize_ipv6(text)
    return normalize_ipv4(text)


def normalize_cidr(text: str, family: int | None = None) -> Value:
    """Return the Value of ``address/prefix``: cidr, or the host for a full prefix.

    ``family`` (4 or 6) restricts the address family. A bare address is read
    as its full-length network, so it comes back as the host. Raises
    NormalizationError when host bits are set, the prefix is too long, or the
    family does not match.
    """
    address_text, slash, prefix_text = text.partition("/")
    is_v6 = ":" in address_text
    _check_family(text, is_v6, family)
    if not slash:
        return normalize_address(address_text)
    prefix = _prefix_length(text, prefix_text)
    if is_v6:
        return _ipv6_network(text, address_text, prefix)
    return _ipv4_network(text, address_text, prefix)


def normalize_ip(text: str, family: int | None = None) -> Value:
    """Return the Value of an address or network of the given family (4, 6, any).

    This is the reading of MISP ``ip-src``/``ip-dst`` and of a declared ipv4 or
    ipv6 type: an address gives ipv4/ipv6, a network gives cidr.
    """
    if "/" in text:
        return normalize_cidr(text, family)
    is_v6 = ":" in text
    if family == 4 and is_v6 and _IPV4_WITH_PORT.fullmatch(text):
        raise NormalizationError(
            text, "a port follows the address; declare the type ip:port"
        )
    _check_family(text, is_v6, family)
    return normalize_address(text)


def _check_family(text: str, is_v6: bool, family: int | None) -> None:
    if family == 4 and is_v6:
        raise NormalizationError(
            text, "the declared type is ipv4 but the value is an IPv6 address"
        )
    if family == 6 and not is_v6:
        raise NormalizationError(
            text, "the declared type is ipv6 but the value is an IPv4 address"
        )


def _prefix_length(text: str, prefix_text: str) -> int:
    if not prefix_text:
        raise NormalizationError(text, "missing prefix length after '/'")
    if not (prefix_text.isascii() and prefix_text.isdigit()) or len(prefix_text) > 3:
        raise NormalizationError(text, f"invalid prefix length {prefix_text[:16]!r}")
    return int(prefix_text)


def _ipv4_network(text: str, address_text: str, prefix: int) -> Value:
    address = ipv4_text(address_text)
    if prefix > 32:
        raise NormalizationError(
            text, f"prefix length /{prefix} is longer than 32 bits for IPv4"
        )
    if prefix == 32:
        return Value(IndicatorType.IPV4, address)
    network = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
    if str(network.network_address) != address:
        raise NormalizationError(
            text, f"host bits set; the network address would be {network}"
        )
    return Value(IndicatorType.CIDR, str(network))


def _ipv6_network(text: str, address_text: str, prefix: int) -> Value:
    address = parse_ipv6(address_text)
    if prefix > 128:
        raise NormalizationError(
            text, f"prefix length /{prefix} is longer than 128 bits for IPv6"
        )
    if prefix == 128:
        return Value(IndicatorType.IPV6, ipv6_text(address))
    network = ipaddress.IPv6Network(f"{address}/{prefix}", strict=False)
    if network.network_address != address:
        network_text = f"{ipv6_text(network.network_address)}/{prefix}"
        raise NormalizationError(
            text, f"host bits set; the network address would be {network_text}"
        )
    return Value(IndicatorType.CIDR, f"{ipv6_text(address)}/{prefix}")
