"""The operator's allow list: adding and removing entries, and what they hold back.

An entry is one of three kinds. A canonical indicator value is held back
exactly. A network (type ``cidr``) covers every address and network inside
it, and URLs whose host is such an address. A domain (type ``domain``)
covers the name, every name under it, URLs on those hosts and e-mail
addresses at them. Adding or removing an entry re-marks the stored values it
covers (``indicators.benign``) and publishes their new versions, so
collections and exports follow at once.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from publicsuffixlist import PublicSuffixList
from sqlalchemy.engine import Connection

from medisac.enrich.benign import (
    ALLOW_DOMAIN,
    ALLOW_NETWORK,
    OPERATOR_ALLOW,
    AllowEntry,
    KnownBenign,
)
from medisac.enrich.networks import MIN_PREFIX, network_bounds
from medisac.errors import MedisacError
from medisac.model import IndicatorType
from medisac.model.time import now_us
from medisac.store.merge import republish
from medisac.store.tables import allow_list, indicators

log = logging.getLogger(__name__)

# Indicator types that a network or a domain entry can cover.
_NETWORK_KINDS = ("ipv4", "ipv6", "cidr", "url")
_DOMAIN_KINDS = ("domain", "url", "email")


class AllowListError(MedisacError):
    """An allow-list entry is invalid, or the entry to remove is not there."""


@dataclass(frozen=True, slots=True)
class AllowChange:
    """The outcome of adding or removing an allow-list entry."""

    type: str
    value: str
    created: bool
    remarked: int
    republished: int


def entry_type(kind: IndicatorType) -> str:
    """Return the allow-list type for a value of this indicator type."""
    if kind is IndicatorType.CIDR:
        return ALLOW_NETWORK
    return kind.value


def check_entry(kind: str, value: str) -> None:
    """Raise :class:`AllowListError` for an entry that would allow too much.

    A network shorter than /8 (IPv4) or /16 (IPv6) and a domain that is a
    public suffix (``co.uk``, ``github.io``) would hide every value of
    countless unrelated owners.
    """
    if kind == ALLOW_NETWORK:
        version, prefix, _, _ = network_bounds(value)
        if prefix < MIN_PREFIX[version]:
            raise AllowListError(
                f"{value} is shorter than /{MIN_PREFIX[version]} and would hold "
                "back a large part of the Internet; allow smaller networks"
            )
    elif kind == ALLOW_DOMAIN and _suffix_list().is_public(value):
        raise AllowListError(
            f"{value} is a public suffix that many unrelated owners register "
            "names under; allow the registered domain instead"
        )


def add_entry(conn: Connection, kind: str, value: str, reason: str) -> AllowChange:
    """Add (or re-word) an allow-list entry and hold back the values it covers.

    ``kind`` and ``value`` are canonical (see :func:`entry_type`). The caller
    has opened a write transaction. Raises :class:`AllowListError` for an entry
    that :func:`check_entry` rejects.
    """
    check_entry(kind, value)
    table = allow_list.c
    existing = conn.execute(
        sa.select(table.id).where(table.type == kind, table.value == value)
    ).first()
    if existing is None:
        conn.execute(
            sa.insert(allow_list).values(
                type=kind, value=value, reason=reason, created=now_us()
            )
        )
    else:
        conn.execute(
            sa.update(allow_list)
            .where(allow_list.c.id == existing.id)
            .values(reason=reason)
        )
    # The operator's list is checked first, so every covered value now has
    # this list's mark.
    covered = covered_indicators(conn, AllowEntry(kind, value, OPERATOR_ALLOW))
    changed = [row.id for row in covered if row.benign != OPERATOR_ALLOW]
    _set_benign(conn, {indicator_id: OPERATOR_ALLOW for indicator_id in changed})
    republished = republish(conn, changed)
    log.info(
        "allow list: added %s %s; %d stored values re-marked", kind, value, len(changed)
    )
    return AllowChange(kind, value, existing is None, len(changed), republished)


def remove_entry(conn: Connection, kind: str, value: str) -> AllowChange:
    """Remove an allow-list entry and re-mark the values it covered.

    Each covered value gets the mark of the next list it is on, or none,
    and is published again. Raises :class:`AllowListError` when there is no
    such entry.
    """
    table = allow_list.c
    deleted = conn.execute(
        sa.delete(allow_list).where(table.type == kind, table.value == value)
    ).rowcount
    if not deleted:
        raise AllowListError(
            f"{kind} {value} is not on the allow list; "
            "`medisac allow list` shows the entries"
        )
    covered = covered_indicators(conn, AllowEntry(kind, value, OPERATOR_ALLOW))
    matcher = KnownBenign.load(conn)
    marks = {}
    for row in covered:
        mark = matcher.match(IndicatorType(row.type), row.value)
        if mark != row.benign:
            marks[row.id] = mark
    _set_benign(conn, marks)
    republished = republish(conn, list(marks))
    log.info(
        "allow list: removed %s %s; %d stored values re-marked", kind, value, len(marks)
    )
    return AllowChange(kind, value, False, len(marks), republished)


def covered_indicators(conn: Connection, entry: AllowEntry) -> list[Any]:
    """Return (id, type, value, benign) of stored indicators the entry covers."""
    ic = indicators.c
    columns = (ic.id, ic.type, ic.value, ic.benign)
    if entry.type == ALLOW_DOMAIN:
        query = sa.select(*columns).where(
            ic.type.in_(_DOMAIN_KINDS), ic.value.contains(entry.value, autoescape=True)
        )
    elif entry.type in (ALLOW_NETWORK, "ipv4", "ipv6"):
        query = sa.select(*columns).where(ic.type.in_(_NETWORK_KINDS))
        prefix = _ipv4_prefix(entry.value)
        if prefix:
            query = query.where(ic.value.contains(prefix, autoescape=True))
    else:
        query = sa.select(*columns).where(
            ic.type == entry.type, ic.value == entry.value
        )
    matcher = KnownBenign.allow_only([entry])
    return [
        row
        for row in conn.execute(query)
        if matcher.match(IndicatorType(row.type), row.value) is not None
    ]


def _ipv4_prefix(network: str) -> str:
    """Return the whole octets an IPv4 network fixes, as text, for a LIKE filter.

    ``10.1.0.0/16`` gives ``10.1.``. Empty for IPv6 and for networks that fix
    no whole octet.
    """
    version, prefix, _, _ = network_bounds(network)
    if version != 4 or prefix < 8:
        return ""
    octets = network.partition("/")[0].split(".")[: prefix // 8]
    return ".".join(octets) + "."


def _set_benign(conn: Connection, marks: dict[int, str | None]) -> None:
    if not marks:
        return
    conn.execute(
        sa.update(indicators)
        .where(indicators.c.id == sa.bindparam("b_id"))
        .values(benign=sa.bindparam("b_benign")),
        [{"b_id": key, "b_benign": mark} for key, mark in marks.items()],
    )


@functools.cache
def _suffix_list() -> PublicSuffixList:
    # The list bundled with the publicsuffixlist package; nothing is fetched.
    return PublicSuffixList()
