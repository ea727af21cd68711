"""Sensor batches from TAXII envelopes of STIX 2.1 sighting objects.

A sensor that speaks TAXII adds ``sighting`` objects to the ``sightings``
collection. The observed values come from the ``observed-data`` objects
that a sighting's ``observed_data_refs`` name and the cyber-observables
those list in ``object_refs``, all in the same envelope. A sighting without
observed data counts for the indicator its ``sighting_of_ref`` names, when
that is one of the exchange's published indicators. ``count``,
``first_seen`` and ``last_seen`` carry over.

The batch id is derived from the sightings' ids and versions, so a client
that retries the same envelope adds nothing the second time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from medisac.model import TLP
from medisac.model.tlp import MARKING_ID_TO_TLP
from medisac.sensors.batch import InvalidBatch

# Cyber-observable types and properties, and the indicator type of each.
_OBSERVABLE_VALUES = {
    "ipv4-addr": "ipv4",
    "ipv6-addr": "ipv6",
    "domain-name": "domain",
    "url": "url",
    "email-addr": "email",
}
_FILE_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}

# Looks up a published indicator by STIX id: (type, value), or None.
IndicatorLookup = Callable[[str], tuple[str, str] | None]


def batch_body(objects: list[Any], lookup: IndicatorLookup) -> dict[str, Any]:
    """Turn an envelope's objects into the JSON body that ``parse_batch`` reads.

    Sightings that yield no value are given as items without one, so
    ``parse_batch`` lists them as rejected by their position among the
    envelope's sightings. Raises :class:`InvalidBatch` when the envelope
    contains no sighting.
    """
    by_id = {
        item["id"]: item
        for item in objects
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    }
    sightings = [
        item
        for item in objects
        if isinstance(item, dict) and item.get("type") == "sighting"
    ]
    if not sightings:
        raise InvalidBatch(
            "the envelope contains no sighting object; sensors add STIX 2.1 "
            "sightings (with their observed-data) to this collection"
        )
    items: list[dict[str, Any]] = []
    levels: list[TLP] = []
    for sighting in sightings:
        levels.extend(_levels(sighting))
        values = list(_observed_values(sighting, by_id))
        if not values:
            found = _indicator_value(sighting, lookup)
            values = [found] if found is not None else []
        timing = {
            name: sighting[name]
            for name in ("count", "first_seen", "last_seen")
            if name in sighting
        }
        if not values:
            items.append({**timing, "value": None})
        items.extend({**timing, "type": kind, "value": value} for kind, value in values)
    body: dict[str, Any] = {"batch_id": _batch_id(sightings), "sightings": items}
    if levels:
        body["tlp"] = max(levels).label.lower()
    return body


def _observed_values(
    sighting: dict[str, Any], by_id: dict[str, Any]
) -> Iterator[tuple[str, str]]:
    refs = sighting.get("observed_data_refs")
    for ref in refs if isinstance(refs, list) else []:
        observed = by_id.get(ref)
        if not isinstance(observed, dict) or observed.get("type") != "observed-data":
            continue
        object_refs = observed.get("object_refs")
        for object_ref in object_refs if isinstance(object_refs, list) else []:
            yield from _values_of(by_id.get(object_ref))


def _values_of(observable: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(observable, dict):
        return
    kind = observable.get("type")
    if kind in _OBSERVABLE_VALUES and isinstance(observable.get("value"), str):
        yield _OBSERVABLE_VALUES[kind], observable["value"]
    elif kind == "file" and isinstance(observable.get("hashes"), dict):
        for name, digest in observable["hashes"].items():
            if name in _FILE_HASHES and isinstance(digest, str):
                yield _FILE_HASHES[name], digest


def _indicator_value(
    sighting: dict[str, Any], lookup: IndicatorLookup
) -> tuple[str, str] | None:
    ref = sighting.get("sighting_of_ref")
    if not isinstance(ref, str) or not ref.startswith("indicator--"):
        return None
    return lookup(ref)


def _levels(sighting: dict[str, Any]) -> list[TLP]:
    markings = sighting.get("object_marking_refs")
    if not isinstance(markings, list):
        return []
    return [MARKING_ID_TO_TLP[m] for m in markings if m in MARKING_ID_TO_TLP]


def _batch_id(sightings: list[dict[str, Any]]) -> str:
    versions = sorted(
        f"{item.get('id')}@{item.get('modified', '')}" for item in sightings
    )
    digest = hashlib.sha256("\n".join(versions).encode()).hexdigest()
    return f"taxii-{digest[:40]}"
