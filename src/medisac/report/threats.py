"""Malware families, ransomware and threat actors named by active indicators."""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.enrich.galaxies import (
    MIN_KEY_LENGTH,
    healthcare_names,
    name_key,
    read_clusters,
)
from medisac.members.access import Audience
from medisac.report.period import Month
from medisac.report.queries import ic, sc, stored_condition

TOP_NAMES = 10
_GALAXY_TAG = re.compile(r'^misp-galaxy:(?P<galaxy>[^=]+)="(?P<value>.+)"$', re.I)
_MACHINE_TAG = re.compile(r'^(?P<namespace>[\w.-]+)[:=]"?(?P<value>[^"=]+)"?$')
_GALAXY_KINDS = {
    "ransomware": "ransomware",
    "threat-actor": "actors",
    "mitre-intrusion-set": "actors",
    "mitre-enterprise-attack-intrusion-set": "actors",
    "tidal-groups": "actors",
    "360net": "actors",
    "microsoft-activity-group": "actors",
    "malpedia": "malware",
    "mitre-malware": "malware",
    "mitre-enterprise-attack-malware": "malware",
    "tidal-software": "malware",
    "android": "malware",
    "banker": "malware",
    "botnet": "malware",
    "rat": "malware",
    "stealer": "malware",
    "backdoor": "malware",
}
_NAMESPACE_KINDS = {
    "actor": "actors",
    "threat-actor": "actors",
    "threat_actor": "actors",
    "intrusion-set": "actors",
    "ransomware": "ransomware",
    "malware": "malware",
    "malware_family": "malware",
    "malware-family": "malware",
    "family": "malware",
}
_CONTEXT_KINDS = {
    "malware": "malware",
    "malware_family": "malware",
    "family": "malware",
    "threat_actor": "actors",
}


def _active_ids(month: Month, audience: Audience) -> sa.Select[Any]:
    sighted = sa.select(sc.indicator_id).where(
        sc.kind == "sighting",
        sc.status != "rejected",
        sc.first_seen < month.end,
        sc.last_seen >= month.start,
    )
    in_month = sa.or_(
        sa.and_(ic.created >= month.start, ic.created < month.end),
        sa.and_(ic.last_seen >= month.start, ic.first_seen < month.end),
        ic.id.in_(sighted),
    )
    return sa.select(ic.id, ic.tags, ic.context).where(
        in_month, stored_condition(), audience.condition(ic.tlp, ic.id)
    )


@functools.cache
def _canonical_names(galaxy: str) -> dict[str, str]:
    """Return {name key: cluster name} for every name and synonym of ``galaxy``.

    A synonym thus counts under its cluster: "Sofacy" under "APT28".
    """
    found: dict[str, str] = {}
    for cluster in read_clusters(galaxy):
        synonyms = (cluster.get("meta") or {}).get("synonyms") or []
        for name in [cluster["value"], *synonyms]:
            if isinstance(name, str):
                key = name_key(name)
                if len(key) >= MIN_KEY_LENGTH:
                    found.setdefault(key, cluster["value"])
    return found


_CANONICAL_GALAXY = {"ransomware": "ransomware", "actors": "threat-actor"}


def names_in(
    tags: Iterable[str], context: Mapping[str, Any]
) -> Iterator[tuple[str, str]]:
    """Yield (kind, name) for each malware, ransomware or actor name given.

    Kinds are ``malware``, ``ransomware`` and ``actors``. Names come from
    MISP galaxy tags, machine tags whose namespace names the kind, and the
    context fields that contain one name. Free text is not read.
    """
    for tag in tags:
        galaxy = _GALAXY_TAG.match(tag)
        if galaxy is not None:
            kind = _GALAXY_KINDS.get(galaxy["galaxy"].lower())
            if kind is not None:
                yield kind, galaxy["value"]
            continue
        machine = _MACHINE_TAG.match(tag)
        if machine is not None:
            kind = _NAMESPACE_KINDS.get(machine["namespace"].lower())
            if kind is not None:
                yield kind, machine["value"]
    for field, kind in _CONTEXT_KINDS.items():
        value = context.get(field)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str) and item.strip():
                yield kind, item


def threats(conn: Connection, month: Month, audience: Audience) -> dict[str, Any]:
    """Rank the malware families, ransomware and actors that active indicators name."""
    ransomware = _canonical_names("ransomware")
    healthcare = healthcare_names()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    spellings: dict[str, set[str]] = defaultdict(set)
    result = conn.execute(_active_ids(month, audience).order_by(ic.id))
    for _id, tags, context in result:
        found: set[tuple[str, str]] = set()
        for kind, name in names_in(orjson.loads(tags), orjson.loads(context)):
            key = name_key(name)
            if len(key) < MIN_KEY_LENGTH:
                continue
            if kind == "malware" and key in ransomware:
                kind = "ransomware"
            galaxy = _CANONICAL_GALAXY.get(kind)
            canonical = None if galaxy is None else _canonical_names(galaxy).get(key)
            if canonical is not None:
                key = name_key(canonical)
                name = canonical
            found.add((kind, key))
            spellings[key].add(name.strip())
        for kind, key in found:
            counts[kind][key] += 1
    tops: dict[str, Any] = {}
    for kind in ("malware", "ransomware", "actors"):
        ranked = sorted(counts[kind].items(), key=lambda item: (-item[1], item[0]))
        tops[kind] = [
            {
                "name": healthcare.get(key) or min(spellings[key]),
                "indicators": count,
                "healthcare": key in healthcare,
            }
            for key, count in ranked[:TOP_NAMES]
        ]
    return tops
