"""The tags, TLP, sightings and times a MISP event lends its attributes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Generator
from datetime import datetime
from typing import Any

from medisac.ingest.times import parse_date
from medisac.ingest.vocab import cve_ids_in
from medisac.model import TLP, ParseItem, ParseWarning
from medisac.model.time import format_rfc3339, parse_epoch, parse_rfc3339

_SIGHTING = "0"
_FALSE_POSITIVE = "1"


def event_cves(event: dict[str, Any]) -> list[str]:
    """Return the CVE ids of an event's ``vulnerability`` attributes."""
    attributes = list(as_list(event.get("Attribute")))
    for misp_object in as_list(event.get("Object")):
        if isinstance(misp_object, dict):
            attributes.extend(as_list(misp_object.get("Attribute")))
    found: set[str] = set()
    for attribute in attributes:
        if isinstance(attribute, dict) and attribute.get("type") == "vulnerability":
            found.update(cve_ids_in(str(attribute.get("value", ""))))
    return sorted(found)


class EventContext:
    """Tags, TLP, sightings and context of one event, read once."""

    def __init__(self, event: dict[str, Any]) -> None:
        uuid = event.get("uuid")
        self.uuid = uuid if isinstance(uuid, str) and uuid else "(no uuid)"
        self.warnings: list[ParseItem] = []
        self.tags, self.tlp = split_tags(tag_names(event))
        self.context = self._context(event)
        self._sightings: dict[str, list[Any]] = defaultdict(list)
        for sighting in as_list(event.get("Sighting")):
            if isinstance(sighting, dict) and isinstance(
                sighting.get("attribute_uuid"), str
            ):
                self._sightings[sighting["attribute_uuid"]].append(sighting)

    def _context(self, event: dict[str, Any]) -> dict[str, Any]:
        context: dict[str, Any] = {}
        if isinstance(event.get("uuid"), str):
            context["event_uuid"] = event["uuid"]
        cves = event_cves(event)
        if cves:
            # The event's indicators relate to the vulnerabilities it names.
            context["cves"] = cves
        if isinstance(event.get("info"), str):
            context["event_info"] = event["info"]
        date = event.get("date")
        if date is not None:
            if isinstance(date, str) and parse_date(date) is not None:
                context["event_date"] = date.strip()
            else:
                self.warnings.append(
                    ParseWarning(
                        f"event {self.uuid}",
                        f"event date {date!r} is not a YYYY-MM-DD date; it is ignored",
                    )
                )
        stamp = epoch_time(event.get("timestamp"))
        if stamp is not None:
            context["event_time"] = format_rfc3339(stamp, digits=0)
        return context

    def tags_of(self, attribute: dict[str, Any]) -> tuple[str, ...]:
        """Return the event's tags followed by the attribute's, without TLP tags."""
        own, _ = split_tags(tag_names(attribute))
        return tuple(dict.fromkeys(self.tags + own))

    def tlp_of(self, attribute: dict[str, Any]) -> TLP | None:
        """Return the attribute's TLP, or else the event's."""
        _, own = split_tags(tag_names(attribute))
        return own if own is not None else self.tlp

    def sightings_of(self, attribute: dict[str, Any]) -> list[Any]:
        """Return the event-level sightings of one attribute."""
        uuid = attribute.get("uuid")
        return list(self._sightings.get(uuid, ())) if isinstance(uuid, str) else []


def tag_names(item: dict[str, Any]) -> list[str]:
    """Return the tag names of an event or attribute, galaxy clusters included."""
    names: list[str] = []
    for tag in as_list(item.get("Tag")):
        name = tag.get("name") if isinstance(tag, dict) else tag
        if isinstance(name, str) and name.strip():
            names.append(name.strip())
    for galaxy in as_list(item.get("Galaxy")):
        if not isinstance(galaxy, dict):
            continue
        for cluster in as_list(galaxy.get("GalaxyCluster")):
            if isinstance(cluster, dict) and isinstance(cluster.get("tag_name"), str):
                names.append(cluster["tag_name"])
    return names


def split_tags(names: list[str]) -> tuple[tuple[str, ...], TLP | None]:
    """Split tag names into other tags and the most restrictive TLP level."""
    tags: list[str] = []
    levels: list[TLP] = []
    for name in names:
        if name.lower().startswith("tlp:"):
            try:
                levels.append(TLP.parse(name))
                continue
            except ValueError:
                pass
        tags.append(name)
    return tuple(dict.fromkeys(tags)), max(levels) if levels else None


def seen_times(
    attribute: dict[str, Any], location: str
) -> Generator[ParseItem, None, tuple[datetime | None, datetime | None]]:
    """Yield warnings about an attribute's seen times; return them in UTC.

    An unreadable time is dropped. A ``last_seen`` before ``first_seen``
    drops both, because it is unknown which one is wrong.
    """
    times: list[datetime | None] = []
    for field in ("first_seen", "last_seen"):
        text = attribute.get(field)
        moment = None
        if text not in (None, ""):
            try:
                moment = parse_rfc3339(str(text), assume_utc=True)
            except ValueError as exc:
                yield ParseWarning(location, f"{field} is ignored: {exc}")
        times.append(moment)
    first, last = times
    if first is not None and last is not None and last < first:
        yield ParseWarning(
            location,
            f"last_seen {attribute.get('last_seen')} is before first_seen "
            f"{attribute.get('first_seen')}; both are ignored and the value is kept",
        )
        return None, None
    return first, last


def sighting_context(sightings: list[Any]) -> dict[str, Any]:
    """Return sighting counts, times and observers as context entries."""
    seen: list[datetime] = []
    false_positives: list[datetime | None] = []
    observers: list[str] = []
    for sighting in sightings:
        if not isinstance(sighting, dict):
            continue
        kind = str(sighting.get("type", _SIGHTING))
        moment = epoch_time(sighting.get("date_sighting"))
        if kind == _SIGHTING:
            if moment is not None:
                seen.append(moment)
            observer = _observer(sighting)
            if observer:
                observers.append(observer)
        elif kind == _FALSE_POSITIVE:
            false_positives.append(moment)
    sighted = sum(
        1
        for s in sightings
        if isinstance(s, dict) and str(s.get("type", "0")) == _SIGHTING
    )
    context: dict[str, Any] = {}
    if sighted:
        context["sightings"] = sighted
        context["sighting_times"] = [
            format_rfc3339(moment, digits=0) for moment in sorted(seen)
        ]
        context["observers"] = sorted(set(observers))
    if false_positives:
        context["false_positives"] = len(false_positives)
        context["false_positive_times"] = [
            format_rfc3339(moment, digits=0)
            for moment in sorted(m for m in false_positives if m is not None)
        ]
    return context


def _observer(sighting: dict[str, Any]) -> str | None:
    source = sighting.get("source")
    if isinstance(source, str) and source.strip():
        return source.strip()
    organisation = sighting.get("Organisation")
    if isinstance(organisation, dict) and isinstance(organisation.get("name"), str):
        return str(organisation["name"])
    return None


def epoch_time(value: Any) -> datetime | None:
    """Return seconds since the epoch (text or number) as UTC, or None."""
    if value in (None, ""):
        return None
    try:
        return parse_epoch(value)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def as_list(value: Any) -> list[Any]:
    """Return a list as is, one object as a list of it, anything else as []."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    return []
