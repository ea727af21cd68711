"""External dynamic lists: the plain-text block lists that firewalls fetch.

Palo Alto Networks (PAN-OS "external dynamic list") and Fortinet (FortiOS
"threat feed") read one entry per line, one list per kind of entry.
NOTE: Check Point and Cisco list formats were not checked against their
documentation. Three kinds are written:

- ``ip``: IPv4 and IPv6 addresses and CIDR networks, in canonical form.
- ``domain``: host names, lower case, internationalised names as punycode.
- ``url``: URLs in the Palo Alto URL-list form: no scheme, the host lower
  case, the path and query as stored. Fortinet's examples show the same form.

Rules taken from the Palo Alto Networks documentation ("Formatting Guidelines
for an External Dynamic List" and "Guidelines for URL Category Exceptions"):

- In an IP list, a space ends the entry and starts a comment.
- URL entries omit ``http`` and ``https``, match without regard to case, and
  may be up to 255 characters long.
- ``*`` and ``^`` are wildcard tokens, never literal characters.
- The firewall appends ``/`` to an entry that has no ``/``.

An entry that would break one of these rules is left out, and the number
left out is logged per reason.

Every list honours an optional entry-count limit, because each firewall
model accepts only so many entries and skips those past its limit. Over the
limit, the highest-confidence entries are kept.
"""

from __future__ import annotations

import heapq
import ipaddress
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from sqlalchemy.engine import Connection

from medisac.export.files import replaced_file
from medisac.export.select import ExportFilter, selected_rows
from medisac.model import IndicatorType
from medisac.normalize.url import DEFAULT_PORTS
from medisac.store.views import VIEW_PREFIX

logger = logging.getLogger(__name__)

# The indicator types each list kind takes.
KIND_TYPES: dict[str, frozenset[IndicatorType]] = {
    "ip": frozenset({IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR}),
    "domain": frozenset({IndicatorType.DOMAIN}),
    "url": frozenset({IndicatorType.URL}),
}

# Palo Alto Networks accepts URL entries of up to 255 characters; a DNS name
# has at most 253 characters without its trailing dot (RFC 1035).
MAX_URL_LENGTH = 255
MAX_DOMAIN_LENGTH = 253

# Schemes that a firewall URL filter inspects. A URL list does not match other
# schemes (ftp, tcp...), so listing them would only use up capacity.
_WEB_SCHEMES = frozenset({"http", "https"})
_WILDCARDS = frozenset("*^")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Characters kept as they are when a URL's path and query are made ASCII:
# RFC 3986 unreserved and reserved characters and existing "%" escapes.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_IP_CHARACTERS = re.compile(r"[0-9A-Fa-f:./]+")
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")
# The row columns _entries reads, in the order it unpacks them.
_ROW_FIELDS = (
    "id",
    VIEW_PREFIX + "type",
    VIEW_PREFIX + "value",
    VIEW_PREFIX + "confidence",
    VIEW_PREFIX + "last_seen",
)


class LeftOut(ValueError):
    """A value that has no valid entry in a list; the message is the reason."""


def ip_entry(kind: str, value: str) -> str:
    """Return the IP-list entry of an ipv4, ipv6 or cidr value."""
    if kind == IndicatorType.IPV4 and _CANONICAL_IPV4.fullmatch(value):
        # The common case, and cheaper to check than parsing with ipaddress.
        return value
    if not _IP_CHARACTERS.fullmatch(value):
        # ipaddress accepts an IPv6 zone index ("%eth0") with any characters
        # in it, spaces included, and a space would start a comment.
        raise LeftOut("has a zone index or a character outside an IP address")
    # The stored value is written once ipaddress accepts it, so every export
    # spells an address the same way (RFC 5952 for IPv6).
    # NOTE: parsing costs about 10 microseconds per IPv6 value or network.
    try:
        if kind == IndicatorType.CIDR:
            if ":" in value:
                ipaddress.IPv6Network(value, strict=True)
            else:
                ipaddress.IPv4Network(value, strict=True)
        elif kind == IndicatorType.IPV6:
            ipaddress.IPv6Address(value)
        else:
            ipaddress.IPv4Address(value)
    except ValueError:
        raise LeftOut("not a valid IP address or network") from None
    return value


def domain_entry(value: str) -> str:
    """Return the domain-list entry of a domain value."""
    entry = value.rstrip(".").lower()
    if _WILDCARDS.intersection(entry):
        raise LeftOut("contains a wildcard character (* or ^)")
    if len(entry) > MAX_DOMAIN_LENGTH:
        raise LeftOut(f"longer than {MAX_DOMAIN_LENGTH} characters")
    if not _DOMAIN.fullmatch(entry):
        raise LeftOut("not an ASCII host name (letters, digits, '-', '_', '.')")
    return entry


def url_entry(value: str) -> str:
    """Return the URL-list entry of a url value: no scheme, host lower case.

    The user information is dropped because a firewall matches on the host,
    and so is the fragment, which a browser never sends. Characters outside
    ASCII in the path and query are percent-encoded as UTF-8 (RFC 3986).
    """
    scheme, separator, remainder = value.partition("://")
    if not separator:
        raise LeftOut("has no scheme")
    if scheme.lower() not in _WEB_SCHEMES:
        raise LeftOut("scheme is not http or https")
    remainder = remainder.split("#", 1)[0]
    split = len(remainder)
    for mark in "/?":
        index = remainder.find(mark)
        if index != -1:
            split = min(split, index)
    authority, rest = remainder[:split], remainder[split:]
    host_port = authority.rpartition("@")[2].lower()
    host_port = _drop_default_port(scheme.lower(), host_port)
    if not host_port:
        raise LeftOut("has no host")
    if not rest.startswith("/"):
        rest = "/" + rest
    # Checked before quoting, because "^" written as "%5E" would no longer
    # match the URL a browser sends.
    if _WILDCARDS.intersection(host_port) or _WILDCARDS.intersection(rest):
        raise LeftOut("contains a wildcard character (* or ^)")
    entry = host_port + quote(rest, safe=_URL_SAFE)
    if _SPACE_OR_CONTROL.search(entry):
        raise LeftOut("contains a space or control character")
    if len(entry) > MAX_URL_LENGTH:
        raise LeftOut(f"longer than {MAX_URL_LENGTH} characters")
    return entry


def _drop_default_port(scheme: str, host_port: str) -> str:
    # NOTE: the Palo Alto pages cited above do not mention ports, so only
    # the scheme's default port, which a browser never writes, is dropped.
    host, colon, port = host_port.rpartition(":")
    if colon and not port.endswith("]") and port == str(DEFAULT_PORTS[scheme]):
        return host
    return host_port


def list_entry(list_kind: str, kind: str, value: str) -> str:
    """Return the entry of a ``kind`` value in a list of ``list_kind``."""
    if list_kind == "ip":
        return ip_entry(kind, value)
    if list_kind == "domain":
        return domain_entry(value)
    return url_entry(value)


def _check_kind(kind: str) -> None:
    if kind not in KIND_TYPES:
        choices = ", ".join(KIND_TYPES)
        raise ValueError(
            f"unknown external dynamic list kind {kind!r}; use one of {choices}"
        )


def _kind_selection(selection: ExportFilter, kind: str) -> ExportFilter | None:
    """Narrow ``selection`` to the blocking indicators of one list kind.

    Returns None when the selection's own type filter leaves no type for it.
    """
    list_types = KIND_TYPES[kind]
    if selection.types:
        list_types = list_types & selection.types
        if not list_types:
            return None
    return replace(selection, types=list_types, blocking_only=True)


def _entries(
    conn: Connection, selection: ExportFilter, kind: str, skipped: Counter[str]
) -> Iterator[tuple[tuple[int, int, int], str]]:
    """Yield ``(rank, entry)`` per distinct entry, in record-id order.

    A higher rank is kept first under a limit: confidence, then the time last
    seen, then the lower record id.
    """
    narrowed = _kind_selection(selection, kind)
    if narrowed is None:
        return
    # Only URLs can share an entry (http and https of one address), so only
    # they need the set of entries already written.
    # NOTE: that set grows with the URL count, about 100 bytes per URL.
    seen: set[str] | None = set() if kind == "url" else None
    read: Callable[[Any], tuple[Any, ...]] | None = None
    for row in selected_rows(conn, narrowed):
        if read is None:
            # Reading a SQLAlchemy row by position is faster than by name.
            names = list(row._fields)
            read = itemgetter(*(names.index(name) for name in _ROW_FIELDS))
        record_id, value_type, value, confidence, last_seen = read(row)
        try:
            entry = list_entry(kind, value_type, value)
        except LeftOut as reason:
            skipped[str(reason)] += 1
            continue
        if seen is not None:
            if entry in seen:
                skipped["same entry as another record"] += 1
                continue
            seen.add(entry)
        yield (confidence, last_seen or 0, -record_id), entry


def write_edl(
    conn: Connection,
    selection: ExportFilter,
    out: BinaryIO,
    *,
    kind: str,
    max_entries: int | None,
) -> int:
    """Write one external dynamic list of ``kind``; return the entry count.

    ``kind`` is ``ip``, ``domain`` or ``url``. Only blocking indicators are
    listed (active, flagged for detection, not known-benign). Entries follow
    record-id order. With ``max_entries``, only that many entries with the
    highest confidence are written; ties go to the value seen last. Those
    entries are held in memory until the end, so memory grows with the limit.
    """
    _check_kind(kind)
    if max_entries is not None and max_entries < 0:
        raise ValueError(f"max_entries must be 0 or more, not {max_entries}")
    skipped: Counter[str] = Counter()
    entries = _entries(conn, selection, kind, skipped)
    if max_entries is None:
        count = _write_all(entries, out)
    else:
        count = _write_top(entries, out, kind, max_entries)
    for reason, number in sorted(skipped.items()):
        logger.warning(
            "external dynamic list %s: left out %d values: %s", kind, number, reason
        )
    return count


def _write_all(
    entries: Iterator[tuple[tuple[int, int, int], str]], out: BinaryIO
) -> int:
    count = 0
    for _rank, entry in entries:
        out.write(entry.encode("ascii") + b"\n")
        count += 1
    return count


def _write_top(
    entries: Iterator[tuple[tuple[int, int, int], str]],
    out: BinaryIO,
    kind: str,
    max_entries: int,
) -> int:
    """Write the ``max_entries`` highest-ranked entries, in record-id order."""
    top: list[tuple[tuple[int, int, int], str]] = []
    total = 0
    for item in entries:
        total += 1
        if len(top) < max_entries:
            heapq.heappush(top, item)
        elif top and item > top[0]:
            heapq.heapreplace(top, item)
    # -rank[2] is the record id, so this restores record-id order.
    top.sort(key=lambda item: -item[0][2])
    for _rank, entry in top:
        out.write(entry.encode("ascii") + b"\n")
    if total > len(top):
        lowest = min((rank[0] for rank, _ in top), default=None)
        logger.warning(
            "external dynamic list %s: left out %d of %d entries over the limit "
            "of %d; the lowest confidence kept is %s",
            kind,
            total - len(top),
            total,
            max_entries,
            lowest,
        )
    return len(top)


def write_edl_dir(
    conn: Connection,
    selection: ExportFilter,
    directory: Path,
    *,
    max_entries: int | None = None,
) -> dict[str, int]:
    """Write ``ip.txt``, ``domain.txt`` and ``url.txt`` into ``directory``.

    Returns the entry count per list kind. ``max_entries`` applies to each
    list on its own. Each file is written under a temporary name and then
    renamed, so a firewall that fetches during an export reads the old list
    or the new one, never half of one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for kind in KIND_TYPES:
        with replaced_file(directory / f"{kind}.txt") as handle:
            counts[kind] = write_edl(
                conn, selection, handle, kind=kind, max_entries=max_entries
            )
    return counts
