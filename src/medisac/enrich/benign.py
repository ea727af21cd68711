"""Known-benign values: the lists a value must never be published from as malicious.

:class:`KnownBenign` returns, for one canonical indicator value, the name of
the first list it is on, checked in this order:

1. the operator's allow list (table ``allow_list``): ``operator-allow``;
2. the healthcare allow list shipped in ``data/healthcare_allow.toml``:
   ``healthcare-allow:<organisation>``;
3. networks that no blocklist may carry: a network shorter than /8 (IPv4)
   or /16 (IPv6) is ``over-broad network``, and an address in, or a network
   over, a loopback, private, link-local or other reserved range is
   ``reserved:<range>`` (see :mod:`medisac.enrich.networks`);
4. the MISP warning lists chosen in :mod:`medisac.enrich.warninglists`:
   ``misp:<list name>``.

Allow-list domains cover every name under them; warning-list host names
match exactly (the reason is in :mod:`medisac.enrich.warninglists`). A URL
matches an allow list through its host. It matches a warning list when the
list names the whole URL, or when the URL is a site's root (path ``/``, no
query) and the list names its host. Any other path on a popular site, such
as a payload on a code-hosting site, is still a valid indicator.

The merge builds one instance per ingest run with :meth:`KnownBenign.load`;
the warning-list indexes are built once per process and shared.
"""

from __future__ import annotations

import functools
import logging
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.enrich.networks import (
    MIN_PREFIX,
    RESERVED_RANGES,
    RangeIndex,
    address_int,
    network_bounds,
)
from medisac.enrich.warninglists import (
    DISABLED_BY_DEFAULT,
    HASH_LISTS,
    HOST_LISTS,
    NETWORK_LISTS,
    WarningList,
    hash_entry,
    host_entry,
    read_list,
    selected_lists,
)
from medisac.model import IndicatorType
from medisac.model.types import HASH_TYPES
from medisac.store.tables import allow_list

log = logging.getLogger(__name__)

OPERATOR_ALLOW = "operator-allow"
HEALTHCARE_PREFIX = "healthcare-allow:"
OVER_BROAD = "over-broad network"
RESERVED_PREFIX = "reserved:"

# allow_list.type values that are not indicator types.
ALLOW_NETWORK = "cidr"
ALLOW_DOMAIN = "domain"

_ADDRESS_KINDS = {IndicatorType.IPV4: 4, IndicatorType.IPV6: 6}


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """One allow-list entry: an indicator type (or network, domain) and value."""

    type: str
    value: str
    name: str


@dataclass(slots=True)
class _AllowRules:
    """Allow-list entries indexed for lookup; earlier entries win."""

    exact: dict[tuple[str, str], str] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    ranges: dict[int, list[tuple[int, int, str]]] = field(
        default_factory=lambda: {4: [], 6: []}
    )

    def add(self, entry: AllowEntry) -> None:
        if entry.type == ALLOW_DOMAIN:
            self.domains.setdefault(entry.value, entry.name)
        elif entry.type in (ALLOW_NETWORK, IndicatorType.IPV4, IndicatorType.IPV6):
            version, _, first, last = network_bounds(entry.value)
            self.ranges[version].append((first, last, entry.name))
        else:
            self.exact.setdefault((entry.type, entry.value), entry.name)


class KnownBenign:
    """Look up canonical indicator values on the known-benign lists."""

    def __init__(
        self, entries: Iterable[AllowEntry], *, warning_lists: _WarningLists | None
    ) -> None:
        """Index ``entries`` and, unless None, the shared warning-list index."""
        rules = _AllowRules()
        for entry in entries:
            rules.add(entry)
        self._exact = rules.exact
        self._domains = rules.domains
        self._ranges = {v: RangeIndex(r) for v, r in rules.ranges.items() if r}
        self._static = warning_lists

    @classmethod
    def load(
        cls, conn: Connection, *, disabled: frozenset[str] = DISABLED_BY_DEFAULT
    ) -> KnownBenign:
        """Build the matcher from the store's allow list and the shipped lists.

        ``disabled`` names warning lists to leave out (folder names of
        pymispwarninglists); by default the documentation lists are off.
        """
        entries = operator_entries(conn)
        entries.extend(healthcare_entries())
        return cls(entries, warning_lists=shared_warning_lists(disabled))

    @classmethod
    def allow_only(cls, entries: Iterable[AllowEntry]) -> KnownBenign:
        """Build a matcher for ``entries`` alone, without the shipped lists."""
        return cls(entries, warning_lists=None)

    def match(self, kind: IndicatorType, value: str) -> str | None:
        """Return the name of the first list that ``value`` is on, else None.

        ``value`` is canonical, as :func:`medisac.normalize.normalize` returns
        it. A value that is not valid for ``kind`` matches nothing.
        """
        try:
            if kind in _ADDRESS_KINDS:
                return self._match_address(_ADDRESS_KINDS[kind], value)
            if kind is IndicatorType.DOMAIN:
                return self._match_domain(value)
            if kind is IndicatorType.URL:
                return self._match_url(value)
            if kind is IndicatorType.CIDR:
                return self._match_network(value)
        except (OSError, ValueError):
            return None
        found = self._exact.get((kind.value, value))
        if found is None and kind is IndicatorType.EMAIL:
            found = self._allowed_domain(value.rpartition("@")[2])
        if found is None and kind in HASH_TYPES and self._static is not None:
            found = self._static.hashes.get(value)
        return found

    # -- per kind ----------------------------------------------------------

    def _match_address(self, version: int, value: str) -> str | None:
        number = address_int(version, value)
        if self._ranges:
            allowed = self._ranges.get(version)
            found = allowed.find(number) if allowed is not None else None
            if found is not None:
                return found
        if self._static is None:
            return None
        return self._static.ranges[version].find(number)

    def _match_network(self, value: str) -> str | None:
        version, prefix, first, last = network_bounds(value)
        allowed = self._ranges.get(version)
        found = allowed.covering(first, last) if allowed is not None else None
        if found is not None or self._static is None:
            return found
        if prefix < MIN_PREFIX[version]:
            return OVER_BROAD
        reserved = self._static.reserved[version].overlapping(first, last)
        if reserved is not None:
            return reserved
        return self._static.ranges[version].covering(first, last)

    def _match_domain(self, value: str) -> str | None:
        found = self._exact.get((IndicatorType.DOMAIN.value, value))
        found = found or self._allowed_domain(value)
        if found is not None or self._static is None:
            return found
        return _host_lookup(self._static.hosts.hosts, value)

    def _match_url(self, value: str) -> str | None:
        found = self._exact.get((IndicatorType.URL.value, value))
        if found is not None:
            return found
        host, is_root = _url_host(value)
        if host.startswith("["):
            return self._match_address(6, host.strip("[]"))
        if _is_ipv4(host):
            return self._match_address(4, host)
        found = self._allowed_domain(host)
        if found is not None or self._static is None:
            return found
        index = self._static.hosts
        found = index.urls.get(value)
        if found is None and is_root:
            found = _host_lookup(index.url_hosts, host)
        return found

    def _allowed_domain(self, name: str) -> str | None:
        """Return the allow-list domain entry that ``name`` is at or under."""
        if not self._domains:
            return None
        while True:
            found = self._domains.get(name)
            if found is not None:
                return found
            _, dot, name = name.partition(".")
            if not dot:
                return None


@dataclass(slots=True)
class _HostIndex:
    """Host names and URLs from the warning lists, by the name stored on a hit."""

    hosts: dict[str, str] = field(default_factory=dict)
    url_hosts: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)


class _WarningLists:
    """The shipped warning lists and reserved ranges, indexed when first needed.

    Each part (networks, host names, hashes) is read on its first lookup, so
    a run that ingests only addresses never reads the host and hash lists.
    The parts are shared by every instance with the same ``disabled`` set.
    """

    def __init__(self, disabled: frozenset[str]) -> None:
        self.disabled = disabled
        self._networks: tuple[dict[int, RangeIndex], dict[int, RangeIndex]] | None
        self._networks = None
        self._hosts: _HostIndex | None = None
        self._hashes: dict[str, str] | None = None

    @property
    def ranges(self) -> dict[int, RangeIndex]:
        if self._networks is None:
            self._networks = _network_index(self.disabled)
        return self._networks[0]

    @property
    def reserved(self) -> dict[int, RangeIndex]:
        if self._networks is None:
            self._networks = _network_index(self.disabled)
        return self._networks[1]

    @property
    def hosts(self) -> _HostIndex:
        if self._hosts is None:
            self._hosts = _host_index(self.disabled)
        return self._hosts

    @property
    def hashes(self) -> dict[str, str]:
        if self._hashes is None:
            self._hashes = _hash_index(self.disabled)
        return self._hashes


@functools.cache
def _network_index(
    disabled: frozenset[str],
) -> tuple[dict[int, RangeIndex], dict[int, RangeIndex]]:
    """Index the reserved ranges, then the network lists, for both families."""
    reserved: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
    for network, reason in RESERVED_RANGES:
        version, _, first, last = network_bounds(network)
        reserved[version].append((first, last, RESERVED_PREFIX + reason))
    ranges = {version: list(items) for version, items in reserved.items()}
    for warning_list in selected_lists(NETWORK_LISTS, disabled):
        for entry in warning_list.entries:
            try:
                version, _, first, last = network_bounds(entry)
            except ValueError:
                log.debug("skipped %r in warning list %s", entry, warning_list.key)
                continue
            ranges[version].append((first, last, warning_list.label))
    return (
        {version: RangeIndex(items) for version, items in ranges.items()},
        {version: RangeIndex(items) for version, items in reserved.items()},
    )


@functools.cache
def _host_index(disabled: frozenset[str]) -> _HostIndex:
    """Index the host-name lists; an earlier list names a shared entry."""
    index = _HostIndex()
    for warning_list in selected_lists(HOST_LISTS, disabled):
        if warning_list.type != "regex":
            _add_hosts(warning_list, index)
    if "rfc6761" in disabled:
        # Special-use names stay ordinary values while their list is off,
        # even where a popularity list also names them.
        for name in read_list("rfc6761").entries:
            for table in (index.hosts, index.url_hosts):
                table.pop(host_entry(name), None)
    return index


@functools.cache
def _hash_index(disabled: frozenset[str]) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for warning_list in reversed(selected_lists(HASH_LISTS, disabled)):
        # Reversed, so that the first list that names a hash wins.
        hashes.update((hash_entry(e), warning_list.label) for e in warning_list.entries)
    return hashes


def _add_hosts(warning_list: WarningList, index: _HostIndex) -> None:
    for_domains = IndicatorType.DOMAIN in warning_list.kinds
    for_urls = IndicatorType.URL in warning_list.kinds
    for entry in warning_list.entries:
        if "/" in entry:
            # Some popularity lists name pages; only the URL type can match.
            if for_urls and "://" in entry:
                index.urls.setdefault(entry, warning_list.label)
            continue
        host = host_entry(entry)
        if for_domains:
            index.hosts.setdefault(host, warning_list.label)
        if for_urls:
            index.url_hosts.setdefault(host, warning_list.label)


@functools.cache
def shared_warning_lists(disabled: frozenset[str]) -> _WarningLists:
    """Return the warning-list index shared by matchers with this ``disabled`` set."""
    return _WarningLists(disabled)


def _host_lookup(table: dict[str, str], host: str) -> str | None:
    found = table.get(host)
    if found is None and host.startswith("www."):
        found = table.get(host[4:])
    return found


def _url_host(url: str) -> tuple[str, bool]:
    """Return a canonical URL's host and whether the URL is the site's root.

    IPv6 hosts keep their brackets. User information and port are dropped.
    """
    _, _, rest = url.partition("://")
    end = len(rest)
    for mark in "/?#":
        position = rest.find(mark)
        if position != -1 and position < end:
            end = position
    authority, tail = rest[:end], rest[end:]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host[: host.find("]") + 1], tail in ("", "/")
    return host.partition(":")[0], tail in ("", "/")


def _is_ipv4(host: str) -> bool:
    return host[-1:].isdigit() and host.replace(".", "").isdigit()


def operator_entries(conn: Connection) -> list[AllowEntry]:
    """Return the operator's allow-list rows as entries, oldest first."""
    rows = conn.execute(
        sa.select(allow_list.c.type, allow_list.c.value).order_by(allow_list.c.id)
    )
    return [AllowEntry(row.type, row.value, OPERATOR_ALLOW) for row in rows]


@dataclass(frozen=True, slots=True)
class HealthcareOrganisation:
    """One entry of the healthcare allow list."""

    name: str
    domains: tuple[str, ...]
    networks: tuple[str, ...]
    reason: str


@functools.cache
def healthcare_organisations() -> tuple[HealthcareOrganisation, ...]:
    """Read the healthcare allow list shipped with medisac, once per process."""
    path = resources.files("medisac.enrich") / "data" / "healthcare_allow.toml"
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return tuple(
        HealthcareOrganisation(
            name=item["name"],
            domains=tuple(item.get("domains", ())),
            networks=tuple(item.get("networks", ())),
            reason=item["reason"],
        )
        for item in data["entry"]
    )


def healthcare_entries() -> list[AllowEntry]:
    """Return the healthcare allow list as allow entries."""
    entries: list[AllowEntry] = []
    for organisation in healthcare_organisations():
        name = HEALTHCARE_PREFIX + organisation.name
        entries.extend(AllowEntry(ALLOW_DOMAIN, d, name) for d in organisation.domains)
        entries.extend(
            AllowEntry(ALLOW_NETWORK, n, name) for n in organisation.networks
        )
    return entries
