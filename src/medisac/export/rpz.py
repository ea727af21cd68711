"""DNS Response Policy Zones (RPZ): blocking domains and addresses in a resolver.

The zone follows draft-vixie-dnsop-dns-rpz, which BIND, Unbound and PowerDNS
Recursor load as a policy zone. Every trigger has the policy ``CNAME .``, so
the resolver returns NXDOMAIN:

- a domain indicator gets two triggers, the name itself and ``*.name``. The
  owner of a malicious domain controls the names under it, so the export
  blocks them too. The wildcard alone is left out when it would not fit the
  DNS length limits.
- ipv4, ipv6 and cidr indicators become ``rpz-ip`` triggers, which turn any
  response that contains the address into NXDOMAIN. The owner name is the
  prefix length followed by the address in reverse order
  (``32.7.100.51.198.rpz-ip``); an IPv6 address writes its longest run of
  zero groups as ``zz``, in the canonical form BIND checks for.
- other types have no DNS form and are not selected.

A value that cannot be written as a valid trigger is left out, counted and
logged by reason instead of breaking the zone: a name whose owner name with
the zone origin passes 255 octets (RFC 1035), a label over 63 octets, a
character other than a letter, digit, hyphen or underscore (so Unicode that
is not punycode, quotes, semicolons and backslashes), and a name whose last
label starts with ``rpz-``, which a resolver would read as an IP or name
server trigger rather than a domain.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections import Counter
from dataclasses import replace
from typing import BinaryIO

from sqlalchemy.engine import Connection

from medisac.errors import ConfigError
from medisac.export.select import ExportFilter, selected_rows
from medisac.model import IndicatorType
from medisac.model.time import now_us

logger = logging.getLogger(__name__)

RPZ_TYPES = frozenset(
    {IndicatorType.DOMAIN, IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR}
)

# RFC 1035: 255 octets for a name in wire form, which is the text form without
# its final dot plus two octets (the first length octet and the root label).
_MAX_TEXT_NAME = 253
# Only these characters are written, so no value needs zone-file escaping.
# Labels are 1 to 63 octets long (RFC 1035).
_NAME = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")

# A canonical dotted quad, whose trigger is built without ipaddress. Large
# feeds are mostly IPv4 addresses, and parsing each with ipaddress took more
# than half the time of exporting a 550,000-address list.
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")

# Timers of the SOA record, in seconds: refresh, retry, expire, negative TTL.
# A short negative TTL and record TTL let a removed entry stop blocking soon.
_SOA_TIMERS = (3600, 600, 604800, 300)
_RECORD_TTL = 300
_MAX_SERIAL = 2**32 - 1

# How many left-out values of each reason the log names one by one. The rest
# are only counted.
_NAMED_PER_REASON = 20

TOO_LONG = "name too long for this zone"
BAD_NAME = "invalid character or empty label"
RESERVED = "last label starts with rpz-, reserved for special triggers"
BAD_ADDRESS = "invalid address or network"
WILDCARD_TOO_LONG = "wildcard too long for this zone (name kept)"


def write_rpz(
    conn: Connection,
    selection: ExportFilter,
    out: BinaryIO,
    *,
    origin: str = "rpz.medisac.local",
    serial: int | None = None,
) -> int:
    """Write a response policy zone for ``origin``; return the indicators written.

    The zone carries the domains and addresses that ``selection`` picks and
    that a blocklist may contain (active, meant for detection, not benign).
    ``serial`` defaults to the current Unix time in seconds, so each later
    export has a greater serial. Two exports within one second share it, so a
    caller that exports more often passes its own. Raises ConfigError when
    ``origin`` is not a valid domain name or ``serial`` does not fit 32 bits.
    """
    zone = _check_origin(origin)
    if serial is None:
        serial = now_us() // 1_000_000
    if not 0 <= serial <= _MAX_SERIAL:
        raise ConfigError(
            f"RPZ serial {serial} is outside 0..{_MAX_SERIAL}; "
            "give a 32-bit unsigned number"
        )
    out.write(_header(zone, serial).encode())
    writer = TriggerWriter(zone, out)
    types = RPZ_TYPES & selection.types if selection.types else RPZ_TYPES
    if types:
        chosen = replace(selection, blocking_only=True, types=frozenset(types))
        for row in selected_rows(conn, chosen):
            writer.add(row.id, row.i_type, row.i_value)
    else:
        logger.warning("RPZ export: none of the requested types has a DNS form")
    writer.log_summary()
    return writer.written


class TriggerWriter:
    """Policy records of one zone, written as values arrive.

    ``written`` counts the indicators with at least one trigger and
    ``left_out`` counts the others by reason.
    """

    def __init__(self, origin: str, out: BinaryIO) -> None:
        # Maximum length of a relative owner name with ".origin" appended.
        self.max_name = _MAX_TEXT_NAME - len(origin) - 1
        self.out = out
        self.written = 0
        self.left_out: Counter[str] = Counter()

    def add(self, record_id: object, kind: str, value: str) -> bool:
        """Write the triggers of one indicator; return whether any was written."""
        if kind == IndicatorType.DOMAIN:
            owners, reason = self._domain_owners(value)
        else:
            owners, reason = _address_owner(kind, value)
        if reason is not None:
            self._leave_out(record_id, value, reason)
        if not owners:
            return False
        self.out.write("".join(f"{owner} CNAME .\n" for owner in owners).encode())
        self.written += 1
        return True

    def _domain_owners(self, value: str) -> tuple[list[str], str | None]:
        name = value.lower().rstrip(".") if value.isascii() else ""
        if not _NAME.fullmatch(name):
            return [], BAD_NAME
        if name.rpartition(".")[2].startswith("rpz-"):
            return [], RESERVED
        if len(name) > self.max_name:
            return [], TOO_LONG
        if len(name) + 2 > self.max_name:
            return [name], WILDCARD_TOO_LONG
        return [name, "*." + name], None

    def _leave_out(self, record_id: object, value: str, reason: str) -> None:
        self.left_out[reason] += 1
        level = (
            logging.WARNING
            if self.left_out[reason] <= _NAMED_PER_REASON
            else logging.DEBUG
        )
        logger.log(level, "RPZ export: record %s %.80r: %s", record_id, value, reason)

    def log_summary(self) -> None:
        """Log the number written and, if any, the counts left out by reason."""
        logger.info("RPZ export: %d indicators written", self.written)
        if self.left_out:
            counts = ", ".join(
                f"{n} {reason}" for reason, n in sorted(self.left_out.items())
            )
            logger.warning("RPZ export: left out or cut short: %s", counts)


def _check_origin(origin: str) -> str:
    zone = origin.lower().rstrip(".")
    if not (zone.isascii() and _NAME.fullmatch(zone)):
        raise ConfigError(
            f"invalid RPZ zone origin {origin!r}: use a domain name of letters, "
            "digits, hyphens and dots, such as rpz.example.org"
        )
    if len(zone) > _MAX_TEXT_NAME - 10:
        raise ConfigError(
            f"RPZ zone origin {origin[:40]!r}… is {len(zone)} characters long, "
            "which leaves almost no room for names under it; use a shorter one"
        )
    return zone


def _header(origin: str, serial: int) -> str:
    refresh, retry, expire, negative = _SOA_TIMERS
    return (
        f"; Response policy zone {origin}, written by medisac.\n"
        "; Each CNAME . record makes a resolver answer NXDOMAIN.\n"
        f"$TTL {_RECORD_TTL}\n"
        f"@ IN SOA localhost. hostmaster.localhost. "
        f"{serial} {refresh} {retry} {expire} {negative}\n"
        "@ IN NS localhost.\n"
    )


def _address_owner(kind: str, value: str) -> tuple[list[str], str | None]:
    """Return the rpz-ip owner name of an address or network."""
    if kind == IndicatorType.IPV4:
        quad = _IPV4.fullmatch(value)
        if quad is not None:
            first, second, third, fourth = quad.groups()
            return [f"32.{fourth}.{third}.{second}.{first}.rpz-ip"], None
    try:
        if kind == IndicatorType.CIDR:
            network = ipaddress.ip_network(value, strict=True)
        else:
            address = ipaddress.ip_address(value)
            network = ipaddress.ip_network(address)
    except ValueError:
        return [], BAD_ADDRESS
    if isinstance(network, ipaddress.IPv6Network):
        if network.network_address.scope_id or network.prefixlen == 0:
            return [], BAD_ADDRESS
        mapped = network.network_address.ipv4_mapped
        if mapped is not None and network.prefixlen >= 96:
            # BIND keys IPv4-mapped networks as IPv4, so this is their
            # canonical trigger.
            return [_ipv4_owner(mapped, network.prefixlen - 96)], None
        return [_ipv6_owner(network)], None
    if network.prefixlen == 0:
        return [], BAD_ADDRESS
    return [_ipv4_owner(network.network_address, network.prefixlen)], None


def _ipv4_owner(address: ipaddress.IPv4Address, prefix: int) -> str:
    octets = reversed(address.packed)
    return f"{prefix}." + ".".join(str(octet) for octet in octets) + ".rpz-ip"


def _ipv6_owner(network: ipaddress.IPv6Network) -> str:
    number = int(network.network_address)
    groups = [f"{(number >> (112 - 16 * i)) & 0xFFFF:x}" for i in range(8)]
    start, length = _longest_zero_run(groups)
    if length >= 2:
        groups[start : start + length] = ["zz"]
    return f"{network.prefixlen}." + ".".join(reversed(groups)) + ".rpz-ip"


def _longest_zero_run(groups: list[str]) -> tuple[int, int]:
    """Return the start and length of the first longest run of "0" groups.

    The first run in address order is the one RFC 5952 compresses, and the
    same one BIND writes as ``zz`` in its reversed owner names.
    """
    best_start, best_length = 0, 0
    run_start, run_length = 0, 0
    for index, group in enumerate(groups):
        if group != "0":
            run_length = 0
            continue
        if run_length == 0:
            run_start = index
        run_length += 1
        if run_length > best_length:
            best_start, best_length = run_start, run_length
    return best_start, best_length
