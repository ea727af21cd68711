"""The in-memory indicator set a hunt matches log tokens against.

Each indicator type has a structure whose lookup costs one or a few dict
probes, whatever the number of indicators. Addresses are ints, networks sit
in one dict per prefix length, URLs are keyed by canonical text and hashes
by lower-case hex. Domains are keyed by canonical name, and a log name is
looked up label-suffix by label-suffix, so a listed domain matches every
name under it. Each structure maps
a key to the indicator's position in :attr:`ValueIndex.ids`, and
:class:`IndicatorInfo` (confidence, TLP, tags) is read from the store only for
indicators that a hunt hits.

:class:`medisac.hunt.pack.PackIndex` offers the same lookups over keyed
hashes, for members who may not receive the values.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.model import TLP, IndicatorType, State
from medisac.model.time import now_us
from medisac.store.tables import indicators

log = logging.getLogger(__name__)

HASH_TYPES = frozenset({"md5", "sha1", "sha256", "sha512"})
# The types a hunt looks for; e-mail addresses and file names are not matched.
HUNTED_TYPES = frozenset({"ipv4", "ipv6", "cidr", "domain", "url"}) | HASH_TYPES


@dataclass(frozen=True, slots=True)
class IndicatorInfo:
    """The details a hit reports about the indicator it matched.

    ``value`` is None when the hunt runs from a pack, which contains no values.
    ``first_seen`` is in microseconds since the epoch.
    """

    id: int
    type: str
    value: str | None
    confidence: int
    tlp: TLP
    tags: tuple[str, ...]
    first_seen: int


@dataclass(frozen=True, slots=True)
class Match:
    """One indicator that a log token matched, and how.

    ``how`` is ``exact``, ``subdomain`` (the log name lies under the listed
    domain) or ``network`` (the log address lies in the listed CIDR).
    """

    slot: int
    how: str


class Index(Protocol):
    """The lookups a hunt needs; every key is in canonical form."""

    def match_ip(self, number: int, version: int, text: str) -> list[Match]:
        """Return the matches of an address (exact and every network holding it)."""

    def match_domain(self, name: str) -> list[Match]:
        """Return the matches of a name and of each of its parent domains."""

    def match_url(self, url: str) -> list[Match]:
        """Return the match of a canonical URL."""

    def match_hash(self, digest: str) -> list[Match]:
        """Return the match of a lower-case hex digest."""

    def is_url_host(self, host: str) -> bool:
        """Tell whether a listed URL has this host, so its line needs a closer look."""

    def info(self, slot: int) -> IndicatorInfo:
        """Return the details of the indicator at ``slot``."""

    def __len__(self) -> int:
        """Return the number of indicators."""


def parent_names(name: str) -> Iterable[tuple[str, bool]]:
    """Yield ``name`` and each parent with at least two labels, deepest first.

    The flag is True for ``name`` itself and False for its parents.
    """
    yield name, True
    start = name.find(".")
    while start >= 0:
        rest = name[start + 1 :]
        if "." not in rest:
            return
        yield rest, False
        start = name.find(".", start + 1)


def network_key(number: int, version: int, prefix: int) -> int:
    """Return the network int of ``number`` masked to ``prefix`` bits."""
    bits = 32 if version == 4 else 128
    return number >> (bits - prefix) << (bits - prefix)


class ValueIndex:
    """Indicator values in memory, keyed for :class:`Index` lookups."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.ipv4: dict[int, int] = {}
        self.ipv6: dict[int, int] = {}
        # Prefix length -> network int -> slot, one dict per family.
        self.networks: dict[int, dict[int, dict[int, int]]] = {4: {}, 6: {}}
        self.domains: dict[str, int] = {}
        self.urls: dict[str, int] = {}
        self.url_hosts: set[str] = set()
        self.hashes: dict[str, int] = {}
        self.top_labels: set[str] = set()
        self.details: dict[int, IndicatorInfo] = {}
        self._conn: Connection | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, indicator_id: int, kind: str, value: str) -> bool:
        """Add one canonical indicator value; return False for a type not hunted."""
        slot = len(self.ids)
        if kind == "ipv4":
            # Stored values are canonical dotted quads, which inet_aton reads
            # as decimal, about ten times faster than ipaddress does.
            self.ipv4[int.from_bytes(socket.inet_aton(value), "big")] = slot
        elif kind == "ipv6":
            self.ipv6[int(ipaddress.IPv6Address(value))] = slot
        elif kind == "cidr":
            network = ipaddress.ip_network(value)
            by_prefix = self.networks[network.version]
            by_prefix.setdefault(network.prefixlen, {})[
                int(network.network_address)
            ] = slot
        elif kind == "domain":
            self.domains[value] = slot
            self.top_labels.add(value.rpartition(".")[2])
        elif kind == "url":
            self._add_url(value, slot)
        elif kind in HASH_TYPES:
            self.hashes[value] = slot
        else:
            return False
        self.ids.append(indicator_id)
        return True

    def _add_url(self, url: str, slot: int) -> None:
        self.urls[url] = slot
        authority = url.partition("://")[2].split("/", 1)[0]
        host = authority.rpartition("@")[2]
        if host.startswith("["):
            host = host[1 : host.find("]")]
        elif ":" in host:
            host = host.rpartition(":")[0]
        self.url_hosts.add(host)
        if not host.replace(".", "").isdigit():
            self.top_labels.add(host.rpartition(".")[2])

    def match_ip(self, number: int, version: int, text: str) -> list[Match]:
        found = []
        exact = (self.ipv4 if version == 4 else self.ipv6).get(number)
        if exact is not None:
            found.append(Match(exact, "exact"))
        for prefix, networks in self.networks[version].items():
            slot = networks.get(network_key(number, version, prefix))
            if slot is not None:
                found.append(Match(slot, "network"))
        return found

    def match_domain(self, name: str) -> list[Match]:
        if name.rpartition(".")[2] not in self.top_labels:
            return []
        found = []
        for candidate, exact in parent_names(name):
            slot = self.domains.get(candidate)
            if slot is not None:
                found.append(Match(slot, "exact" if exact else "subdomain"))
        return found

    def match_url(self, url: str) -> list[Match]:
        slot = self.urls.get(url)
        return [] if slot is None else [Match(slot, "exact")]

    def match_hash(self, digest: str) -> list[Match]:
        slot = self.hashes.get(digest)
        return [] if slot is None else [Match(slot, "exact")]

    def is_url_host(self, host: str) -> bool:
        return host in self.url_hosts

    def attach(self, conn: Connection) -> None:
        """Read indicator details through ``conn`` when :meth:`info` needs them."""
        self._conn = conn

    def info(self, slot: int) -> IndicatorInfo:
        known = self.details.get(slot)
        if known is None:
            known = self._read_info(slot)
            self.details[slot] = known
        return known

    def _read_info(self, slot: int) -> IndicatorInfo:
        if self._conn is None:
            raise RuntimeError("ValueIndex.attach() must be called before info()")
        ic = indicators.c
        row = self._conn.execute(
            sa.select(
                ic.id, ic.type, ic.value, ic.confidence, ic.tlp, ic.tags, ic.first_seen
            ).where(ic.id == self.ids[slot])
        ).one()
        return IndicatorInfo(
            id=row.id,
            type=row.type,
            value=row.value,
            confidence=row.confidence,
            tlp=TLP(row.tlp),
            tags=tuple(orjson.loads(row.tags)),
            first_seen=row.first_seen,
        )


def hunted_rows(
    conn: Connection, *, states: Iterable[State] = (State.ACTIVE,)
) -> Iterator[tuple[int, str, str]]:
    """Select (id, type, value) of the indicators a hunt looks for.

    Only indicators in ``states`` (active by default) whose validity has not
    ended are selected.
    """
    ic = indicators.c
    statement = (
        sa.select(ic.id, ic.type, ic.value)
        .where(
            ic.state.in_([state.value for state in states]),
            sa.or_(ic.valid_until.is_(None), ic.valid_until > now_us()),
            ic.type.in_(sorted(HUNTED_TYPES)),
        )
        .execution_options(yield_per=20_000)
    )
    for row in conn.execute(statement):
        yield row[0], row[1], row[2]


def load_index(
    conn: Connection, *, states: Iterable[State] = (State.ACTIVE,)
) -> ValueIndex:
    """Build a :class:`ValueIndex` of the hunted indicators in the store."""
    index = ValueIndex()
    for indicator_id, kind, value in hunted_rows(conn, states=states):
        index.add(indicator_id, kind, value)
    index.attach(conn)
    log.info("hunting for %d indicators", len(index))
    return index


def index_from_values(
    values: Iterable[tuple[int, IndicatorType | str, str]],
) -> ValueIndex:
    """Build a :class:`ValueIndex` from (id, type, canonical value) triples."""
    index = ValueIndex()
    for indicator_id, kind, value in values:
        index.add(indicator_id, str(kind), value)
    return index
