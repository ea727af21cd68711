"""STIX 2.0 and 2.1 bundles, read as plain JSON.

Objects are read one by one from JSON, not through the ``stix2`` library's
object classes, whose strict checks reject a whole bundle for one custom
object or one unexpected property. What each object gives:

- ``indicator``: one observation per value of its pattern (see
  :mod:`medisac.ingest.stixpattern`). ``ref`` is its id, ``version`` its
  ``modified`` time, ``first_seen`` its ``valid_from`` and ``valid_until``
  its ``valid_until``. A pattern type other than ``stix`` is skipped.
- ``observed-data`` with embedded ``objects`` (STIX 2.0), and the cyber
  observables ``ipv4-addr``, ``ipv6-addr``, ``domain-name``, ``url``,
  ``email-addr`` and ``file`` (STIX 2.1): one observation per value, seen
  between the observed-data's ``first_observed`` and ``last_observed``.
- ``malware``, ``threat-actor``, ``intrusion-set``, ``tool``,
  ``attack-pattern``, ``campaign`` and ``infrastructure`` related to an
  indicator become its tags (``malware:Emotet``), also through one
  ``attributed-to`` step. ``report`` names go into the context, and
  ``sighting`` counts become ``{"sightings": n}``.
- Other standard types and custom or unknown types are skipped, counted by
  type name. A relationship to a skipped custom object gets a warning.

Versions: objects are grouped by id and the one with the greatest
``modified`` is read, whatever the order in the file. Two objects with the
same id and ``modified`` but different content get a warning, and the one
read first is kept. A latest version with ``revoked: true`` gives revoked
observations, so the ingest loop withdraws the source's claim.

Times must be valid RFC 3339; an impossible one rejects its object, naming
the field. Offsets are converted to UTC and a time without one is read as
UTC. TLP comes from ``object_marking_refs`` by well-known marking id alone
(the most restrictive when there are several). A marking named like TLP
under an unknown id sets nothing and gets a warning, so the source default
applies.

Location is ``object <id>``.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Generator, Iterator
from datetime import datetime
from typing import Any

import orjson

from medisac.errors import IngestError
from medisac.ingest.document import Document
from medisac.ingest.jsonload import load_json
from medisac.ingest.options import ParseOptions
from medisac.ingest.stixobjects import (
    CONTEXT_TYPES,
    SKIPPED_TYPES,
    TAG_TYPES,
    observable_values,
    recipient_refs,
)
from medisac.ingest.stixpattern import PatternError, PatternValues, values_in_pattern
from medisac.ingest.vocab import cve_ids_in
from medisac.model import TLP, Observation, ParseItem, ParseWarning, Rejection, Skipped
from medisac.model.time import parse_rfc3339
from medisac.model.tlp import MARKING_ID_TO_TLP

_RECIPIENT = "recipient of an e-mail message: personal data, not an indicator"
_OBSERVABLE_TYPES = frozenset(
    {"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file"}
)


def parse_stix(document: Document, options: ParseOptions) -> Iterator[ParseItem]:
    """Yield observations from a STIX 2.0 or 2.1 bundle; see the module docstring.

    Raises :class:`IngestError` when the document is not valid JSON or contains
    no STIX objects.
    """
    objects = stix_objects(load_json(document), document.origin)
    bundle = Bundle()
    for index, item in enumerate(objects):
        yield from bundle.add(index, item)
    yield from bundle.read()


def stix_objects(data: Any, origin: str) -> list[Any]:
    """Return the objects of a bundle, a TAXII envelope, a list or one object."""
    if isinstance(data, dict):
        objects = data.get("objects")
        if isinstance(objects, list):
            return objects
        if data.get("type") == "bundle":
            return []
        if isinstance(data.get("type"), str) and isinstance(data.get("id"), str):
            return [data]
    if isinstance(data, list):
        return data
    raise IngestError(
        origin, "JSON is not a STIX bundle: no 'objects' list; check the --format"
    )


class Bundle:
    """The latest version of each object of one bundle, and what they give."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self._version: dict[str, datetime | None] = {}
        self._digests: dict[tuple[str, datetime | None], bytes] = {}

    def add(self, index: int, item: Any) -> Iterator[ParseItem]:
        """Keep ``item`` if it is the latest version of its id so far."""
        if not isinstance(item, dict):
            yield Rejection(f"object #{index + 1}", "not a JSON object")
            return
        ident, kind = item.get("id"), item.get("type")
        if not isinstance(ident, str) or not isinstance(kind, str):
            yield Rejection(
                f"object #{index + 1}", "object has no 'id' or 'type' string"
            )
            return

        stamp_field = "modified" if "modified" in item else "created"
        stamp = item.get(stamp_field)
        version: datetime | None = None
        if stamp is not None:
            try:
                version = parse_rfc3339(str(stamp), assume_utc=True)
            except ValueError as exc:
                yield Rejection(f"object {ident}", f"{stamp_field}: {exc}")
                return

        digest = _digest(item)
        key = (ident, version)
        if key in self._digests:
            if self._digests[key] != digest:
                yield ParseWarning(
                    f"object {ident}",
                    f"two versions of {ident} have the same {stamp_field} time "
                    f"{stamp} but different content; the one read first is kept",
                )
            return
        self._digests[key] = digest

        current = self._version.get(ident)
        if ident not in self.latest or (
            version is not None and (current is None or version > current)
        ):
            self.latest[ident] = item
            self._version[ident] = version

    def read(self) -> Iterator[ParseItem]:
        """Yield the parse items of every latest version."""
        context = BundleContext(self.latest, self._version)
        yield from context.relationship_warnings()
        for ident, item in self.latest.items():
            yield from context.read(ident, item)


class BundleContext:
    """Tags, sightings, markings and seen times that objects lend each other."""

    def __init__(
        self, latest: dict[str, dict[str, Any]], versions: dict[str, datetime | None]
    ) -> None:
        self.latest = latest
        self.versions = versions
        self.tags: dict[str, set[str]] = defaultdict(set)
        self.reports: dict[str, list[str]] = defaultdict(list)
        self.sightings: dict[str, int] = defaultdict(int)
        self.seen: dict[str, tuple[datetime | None, datetime | None]] = {}
        self.warned_markings: set[str] = set()
        self.recipients = recipient_refs(latest.values())
        # CVE ids of the vulnerabilities each object is related to.
        self.cves: dict[str, set[str]] = defaultdict(set)
        self._index()

    def _index(self) -> None:
        relationships = []
        for item in self.latest.values():
            kind = item["type"]
            if kind == "relationship" and item.get("revoked") is not True:
                relationships.append(item)
            elif kind == "sighting":
                self._add_sighting(item)
            elif kind == "report" and isinstance(item.get("object_refs"), list):
                name = str(item.get("name") or item["id"])
                for ref in item["object_refs"]:
                    if isinstance(ref, str):
                        self.reports[ref].append(name)
            elif kind == "observed-data" and isinstance(item.get("object_refs"), list):
                self._add_seen(item)
        self._add_tags(relationships)

    def _add_sighting(self, item: dict[str, Any]) -> None:
        ref = item.get("sighting_of_ref")
        count = item.get("count", 1)
        if isinstance(ref, str) and isinstance(count, int) and count >= 0:
            self.sightings[ref] += count

    def _add_seen(self, item: dict[str, Any]) -> None:
        try:
            first = _time(item, "first_observed")
            last = _time(item, "last_observed")
        except ValueError:
            return
        for ref in item["object_refs"]:
            if isinstance(ref, str):
                self.seen.setdefault(ref, (first, last))

    def _add_tags(self, relationships: list[dict[str, Any]]) -> None:
        neighbours: dict[str, set[str]] = defaultdict(set)
        attributed: dict[str, set[str]] = defaultdict(set)
        for item in relationships:
            source, target = item.get("source_ref"), item.get("target_ref")
            if not isinstance(source, str) or not isinstance(target, str):
                continue
            if item.get("relationship_type") == "attributed-to":
                attributed[source].add(target)
            neighbours[source].add(target)
            neighbours[target].add(source)
        for ident, item in self.latest.items():
            if item["type"] not in ("indicator", "observed-data"):
                continue
            for other in neighbours.get(ident, ()):
                self._tag(ident, other)
                for actor in attributed.get(other, ()):
                    self._tag(ident, actor)

    def _tag(self, ident: str, other: str) -> None:
        item = self.latest.get(other)
        if item is not None and item["type"] in TAG_TYPES and item.get("name"):
            self.tags[ident].add(f"{item['type']}:{item['name']}")
        if item is not None and item["type"] == "vulnerability":
            self.cves[ident].update(cve_ids(item))

    def relationship_warnings(self) -> Iterator[ParseItem]:
        """Warn about relationships that point at skipped custom objects."""
        for ident, item in self.latest.items():
            if item["type"] != "relationship":
                continue
            for end in ("source_ref", "target_ref"):
                other = self.latest.get(str(item.get(end)))
                if other is not None and is_custom(other["type"]):
                    yield ParseWarning(
                        f"object {ident}",
                        f"relationship points at {other['id']}, whose custom type "
                        f"{other['type']!r} is skipped, so the relationship is ignored",
                    )

    def read(self, ident: str, item: dict[str, Any]) -> Iterator[ParseItem]:
        """Yield the parse items of one object."""
        kind = item["type"]
        location = f"object {ident}"
        if kind == "indicator":
            yield from self._indicator(ident, item)
        elif kind == "observed-data" and isinstance(item.get("objects"), dict):
            yield from self._observed_data(ident, item)
        elif kind in _OBSERVABLE_TYPES:
            yield from self._observable(ident, item)
        elif kind in CONTEXT_TYPES or kind == "observed-data":
            # A STIX 2.1 observed-data lends its times to the objects it names.
            return
        elif kind in SKIPPED_TYPES:
            yield Skipped(kind, location, f"STIX {kind} objects give no indicator")
        else:
            yield Skipped(
                kind, location, f"custom or unknown STIX object type {kind!r}"
            )

    def _indicator(self, ident: str, item: dict[str, Any]) -> Iterator[ParseItem]:
        location = f"object {ident}"
        try:
            valid_from = _time(item, "valid_from")
            valid_until = _time(item, "valid_until")
            _time(item, "created")
        except ValueError as exc:
            yield Rejection(location, str(exc))
            return

        pattern_type = item.get("pattern_type", "stix")
        if pattern_type != "stix":
            yield Skipped(f"pattern:{pattern_type}", location, "pattern is not STIX")
            return
        pattern = item.get("pattern")
        if not isinstance(pattern, str):
            yield Rejection(location, "indicator has no pattern")
            return
        try:
            found = _pattern_values(pattern, item)
        except PatternError as exc:
            yield Rejection(location, f"pattern: {exc}", pattern[:200])
            return
        for skipped in found.skipped:
            yield Skipped(skipped, location, "pattern comparison gives no indicator")

        tlp = yield from self._tlp(item)
        common = self._common(ident, item, tlp)
        common["valid_until"] = valid_until
        for value in found.values:
            yield self._observation(
                value.value, value.type, value.context, common, valid_from
            )

    def _observed_data(self, ident: str, item: dict[str, Any]) -> Iterator[ParseItem]:
        location = f"object {ident}"
        try:
            first = _time(item, "first_observed")
            last = _time(item, "last_observed")
        except ValueError as exc:
            yield Rejection(location, str(exc))
            return
        tlp = yield from self._tlp(item)
        common = self._common(ident, item, tlp)
        common["last_seen"] = last
        embedded = item["objects"]
        recipients = recipient_refs(embedded.values())
        for key, observable in embedded.items():
            if not isinstance(observable, dict):
                continue
            if key in recipients:
                yield Skipped("email-addr:recipient", location, _RECIPIENT)
                continue
            values, skipped = observable_values(observable)
            for kind in skipped:
                yield Skipped(kind, location, "observed object gives no indicator")
            for value, declared, context in values:
                yield self._observation(value, declared, context, common, first)

    def _observable(self, ident: str, item: dict[str, Any]) -> Iterator[ParseItem]:
        if ident in self.recipients:
            yield Skipped("email-addr:recipient", f"object {ident}", _RECIPIENT)
            return
        tlp = yield from self._tlp(item)
        first, last = self.seen.get(ident, (None, None))
        common = self._common(ident, item, tlp)
        # Observables carry no version; the same id always names the same value.
        common["ref"] = common["version"] = None
        common["last_seen"] = last
        values, skipped = observable_values(item)
        for kind in skipped:
            yield Skipped(kind, f"object {ident}", "observed object gives no indicator")
        for value, declared, context in values:
            yield self._observation(value, declared, context, common, first)

    def _common(
        self, ident: str, item: dict[str, Any], tlp: TLP | None
    ) -> dict[str, Any]:
        context: dict[str, Any] = {}
        if self.sightings.get(ident):
            context["sightings"] = self.sightings[ident]
        if ident in self.reports:
            context["reports"] = sorted(set(self.reports[ident]))
        if isinstance(item.get("name"), str):
            context["name"] = item["name"]
        cves = self.cves.get(ident, set()) | set(cve_ids(item))
        if cves:
            context["cves"] = sorted(cves)
        confidence = item.get("confidence")
        # bool is an int in Python; STIX confidence is an integer 0-100.
        if isinstance(confidence, bool) or not isinstance(confidence, int):
            confidence = None
        labels = item.get("labels")
        tags = set(self.tags.get(ident, ()))
        if isinstance(labels, list):
            tags.update(label for label in labels if isinstance(label, str) and label)
        return {
            "location": f"object {ident}",
            "ref": ident,
            "version": self.versions.get(ident),
            "revoked": item.get("revoked") is True,
            "tlp": tlp,
            "tags": tuple(sorted(tags)),
            "confidence": confidence
            if confidence is not None and 0 <= confidence <= 100
            else None,
            "context": context,
            "last_seen": None,
        }

    @staticmethod
    def _observation(
        value: str,
        declared: str | None,
        extra: dict[str, Any],
        common: dict[str, Any],
        first_seen: datetime | None,
    ) -> Observation:
        return Observation(
            value,
            common["location"],
            declared,
            first_seen=first_seen,
            last_seen=common["last_seen"],
            confidence=common["confidence"],
            tlp=common["tlp"],
            tags=common["tags"],
            context={**common["context"], **extra},
            ref=common["ref"],
            version=common["version"],
            revoked=common["revoked"],
            valid_until=common.get("valid_until"),
        )

    def _tlp(self, item: dict[str, Any]) -> Generator[ParseItem, None, TLP | None]:
        """Yield warnings about the object's markings; return its TLP level."""
        refs = item.get("object_marking_refs")
        if not isinstance(refs, list):
            return None
        levels: list[TLP] = []
        for ref in refs:
            if not isinstance(ref, str):
                continue
            level = MARKING_ID_TO_TLP.get(ref)
            if level is not None:
                levels.append(level)
            elif ref not in self.warned_markings and _looks_like_tlp(
                self.latest.get(ref)
            ):
                self.warned_markings.add(ref)
                yield ParseWarning(
                    f"object {item['id']}",
                    f"{ref} is named like a TLP marking but is not a published TLP "
                    "marking-definition id, so it sets no TLP level; the source's "
                    "default TLP applies",
                )
        return max(levels) if levels else None


def _pattern_values(pattern: str, item: dict[str, Any]) -> PatternValues:
    """Read a pattern with its object's grammar, or else the other version's.

    Producers label STIX 2.0 content as 2.1 and the reverse, and the two
    grammars differ only in details, so a pattern valid in either is read.
    """
    is_21 = item.get("spec_version") == "2.1" or "pattern_type" in item
    first, second = ("2.1", "2.0") if is_21 else ("2.0", "2.1")
    try:
        return values_in_pattern(pattern, first)
    except PatternError:
        try:
            return values_in_pattern(pattern, second)
        except PatternError:
            pass
        raise


def _digest(item: dict[str, Any]) -> bytes:
    # A hash, not the serialised object: orjson's output keeps a 4 KiB buffer,
    # so holding one per object made memory grow twentyfold with the bundle.
    try:
        data = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        # Integers past 64 bits, which the standard library reads and orjson
        # does not write.
        data = json.dumps(item, sort_keys=True).encode()
    return hashlib.blake2b(data, digest_size=16).digest()


def is_custom(kind: str) -> bool:
    """Tell whether a STIX type is custom or unknown to STIX 2.1."""
    return (
        kind not in CONTEXT_TYPES
        and kind not in SKIPPED_TYPES
        and kind not in (_OBSERVABLE_TYPES | {"indicator", "observed-data"})
    )


def _looks_like_tlp(marking: dict[str, Any] | None) -> bool:
    if marking is None:
        return False
    name = str(marking.get("name", ""))
    return (
        marking.get("definition_type") == "tlp"
        or name.upper().startswith("TLP")
        or "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
        in (marking.get("extensions") or {})
    )


def cve_ids(item: dict[str, Any]) -> list[str]:
    """Return the CVE ids a STIX object names in its name or external references."""
    found = []
    name = item.get("name")
    if item.get("type") == "vulnerability" and isinstance(name, str):
        found.extend(cve_ids_in(name))
    for reference in item.get("external_references") or []:
        if not isinstance(reference, dict):
            continue
        if str(reference.get("source_name", "")).lower() == "cve":
            found.extend(cve_ids_in(str(reference.get("external_id", ""))))
    return sorted(set(found))


def _time(item: dict[str, Any], name: str) -> datetime | None:
    """Return the time in field ``name``, or None when absent.

    Raises ``ValueError`` naming the object's field when the time is invalid.
    """
    text = item.get(name)
    if text is None:
        return None
    try:
        return parse_rfc3339(str(text), assume_utc=True)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
