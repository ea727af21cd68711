"""Address ranges as sorted integer intervals, and the ranges never to block.

A :class:`RangeIndex` stores named ranges of one address family as disjoint
``[start, end]`` integer intervals, so that finding the range around an
address is one binary search. Where named ranges overlap, the name added
first wins.

:data:`RESERVED_RANGES` lists the special-purpose ranges that are not
reachable on the public Internet (RFC 6890 and the IANA special-purpose
registries). A blocklist entry inside or over one of them would make members
block their own loopback, LAN or link, so such values are held back. The
documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and
2001:db8::/32) and the benchmarking range 198.18.0.0/15 are left out on
purpose: no production host uses them, so blocking them harms nobody, and
examples, tests and benchmarks use them as ordinary values.
"""

from __future__ import annotations

import heapq
import itertools
import socket
from bisect import bisect_right
from collections.abc import Iterable

# (network, reason) pairs; each reason becomes part of the match name.
RESERVED_RANGES: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this network (RFC 1122)"),
    ("10.0.0.0/8", "private network (RFC 1918)"),
    ("100.64.0.0/10", "shared carrier-grade NAT space (RFC 6598)"),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link-local (RFC 3927)"),
    ("172.16.0.0/12", "private network (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.168.0.0/16", "private network (RFC 1918)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("240.0.0.0/4", "reserved for future use (RFC 1112)"),
    ("::/128", "unspecified address (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    ("::ffff:0:0/96", "IPv4-mapped address (RFC 4291)"),
    ("100::/64", "discard-only prefix (RFC 6666)"),
    ("fc00::/7", "unique local address (RFC 4193)"),
    ("fe80::/10", "link-local (RFC 4291)"),
    ("ff00::/8", "multicast (RFC 4291)"),
)

# Networks shorter than these cover so much of the Internet that no member
# can block them as one entry.
MIN_PREFIX = {4: 8, 6: 16}


def address_int(version: int, text: str) -> int:
    """Return the integer of a canonical IPv4 or IPv6 address.

    Raises OSError when ``text`` is not an address of that version.
    """
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    return int.from_bytes(socket.inet_pton(family, text), "big")


def network_bounds(text: str) -> tuple[int, int, int, int]:
    """Return (version, prefix length, first, last) of a network or address.

    Raises ValueError when ``text`` is not an IP network. Host bits are
    ignored, as warning lists sometimes set them.
    """
    address, slash, prefix_text = text.strip().partition("/")
    version = 6 if ":" in address else 4
    bits = 32 if version == 4 else 128
    try:
        number = address_int(version, address)
    except OSError:
        raise ValueError(f"{text!r} is not an IP address or network") from None
    prefix = bits
    if slash:
        if not prefix_text.isdigit() or int(prefix_text) > bits:
            raise ValueError(f"{text!r} has an invalid prefix length")
        prefix = int(prefix_text)
    host_mask = (1 << (bits - prefix)) - 1
    first = number & ~host_mask
    return version, prefix, first, first | host_mask


class RangeIndex:
    """Named, possibly overlapping ranges of one family, searchable by bisect."""

    __slots__ = ("_ends", "_names", "_starts")

    def __init__(self, ranges: Iterable[tuple[int, int, str]]) -> None:
        """Index ``(first, last, name)`` ranges; an earlier range wins overlaps."""
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._names: list[str] = []
        for first, last, name in _flatten(ranges):
            if self._names and self._names[-1] == name and self._ends[-1] + 1 == first:
                self._ends[-1] = last
                continue
            self._starts.append(first)
            self._ends.append(last)
            self._names.append(name)

    def __len__(self) -> int:
        return len(self._starts)

    def find(self, number: int) -> str | None:
        """Return the name of the range that contains ``number``, if any."""
        index = bisect_right(self._starts, number) - 1
        if index >= 0 and self._ends[index] >= number:
            return self._names[index]
        return None

    def covering(self, first: int, last: int) -> str | None:
        """Return the name of one range that contains all of ``first..last``."""
        index = bisect_right(self._starts, first) - 1
        if index >= 0 and self._ends[index] >= last:
            return self._names[index]
        return None

    def overlapping(self, first: int, last: int) -> str | None:
        """Return the name of the first range that shares an address with it."""
        index = max(bisect_right(self._starts, first) - 1, 0)
        while index < len(self._starts) and self._starts[index] <= last:
            if self._ends[index] >= first:
                return self._names[index]
            index += 1
        return None


def _flatten(ranges: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Split overlapping ranges into disjoint pieces named by the earliest range.

    A sweep over the start and end points keeps the ranges that are open at
    each point in a heap ordered by input position.
    """
    items = [
        (first, last, order, name) for order, (first, last, name) in enumerate(ranges)
    ]
    if not items:
        return []
    items.sort()
    points = sorted(
        {first for first, _, _, _ in items} | {last + 1 for _, last, _, _ in items}
    )
    pieces: list[tuple[int, int, str]] = []
    open_ranges: list[tuple[int, int, str]] = []
    next_item = 0
    for here, following in itertools.pairwise(points):
        while next_item < len(items) and items[next_item][0] <= here:
            _, last, order, name = items[next_item]
            heapq.heappush(open_ranges, (order, last, name))
            next_item += 1
        while open_ranges and open_ranges[0][1] < here:
            heapq.heappop(open_ranges)
        if open_ranges:
            pieces.append((here, following - 1, open_ranges[0][2]))
    return pieces
