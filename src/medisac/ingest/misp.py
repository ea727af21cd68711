"""MISP events: one event, a list, an API ``response`` or a feed's event files.

The JSON is read here rather than by PyMISP, whose loader rejects a whole
event for one attribute with an impossible seen range. What each part gives:

- An attribute (top level or inside an object) of an indicator type gives an
  observation declared as in :data:`MISP_TYPES`. ``ip-src`` and ``ip-dst``
  are declared ``ip`` for a bare address and left to content detection for a
  network, so an IPv4 CIDR never reaches the IPv6 rules. ``link`` and other
  types are skipped as ``misp:<type>``.
- ``ref`` is the attribute uuid, ``version`` its ``timestamp``; a deleted
  attribute gives a revoked observation. ``to_ids`` is kept.
- Event and attribute tags, and galaxy cluster tags, become tags. ``tlp:*``
  tags set the TLP (``tlp:white`` is CLEAR), the attribute's own over the
  event's, the most restrictive of several.
- ``first_seen`` and ``last_seen`` are converted to UTC, and a time without
  an offset is read as UTC, as MISP writes it. A ``last_seen`` before
  ``first_seen`` gets a warning naming the attribute and both times, and the
  attribute is kept without seen times.
- Sightings (in the attribute or the event) become context: ``sightings``
  (type 0), ``false_positives`` (type 1), their times and the observers.
- The event's uuid, title and date go into the context. The date is a
  calendar date and is kept as written, never converted through the host's
  time zone.

Location is ``attribute <uuid>``, or ``event <uuid> attribute #n`` for an
attribute without a uuid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from medisac.errors import IngestError
from medisac.ingest.document import Document
from medisac.ingest.jsonload import load_json
from medisac.ingest.mispevent import (
    EventContext,
    as_list,
    epoch_time,
    seen_times,
    sighting_context,
)
from medisac.ingest.options import ParseOptions
from medisac.ingest.vocab import ip_declared
from medisac.model import Observation, ParseItem, Rejection, Skipped

IP = "ip"

# MISP attribute type -> declared type.
MISP_TYPES: dict[str, str | None] = {
    "ip-src": IP,
    "ip-dst": IP,
    "ip-src|port": "ip|port",
    "ip-dst|port": "ip|port",
    "domain": "domain",
    "hostname": "domain",
    "domain|ip": "domain|ip",
    "hostname|port": "domain|port",
    "url": "url",
    "email": "email",
    "email-src": "email",
    "email-reply-to": "email",
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
    "sha512": "sha512",
    "filename": "filename",
    "filename|md5": "filename|md5",
    "filename|sha1": "filename|sha1",
    "filename|sha256": "filename|sha256",
    "filename|sha512": "filename|sha512",
}
# Types that MISP events carry but that are not indicators to share.
_SKIP_REASONS = {
    "link": "a link is a reference, not an indicator",
    # Recipients of phishing are the victims: staff whose addresses are
    # personal data, not something to block.
    "email-dst": "a recipient address identifies a victim, not an attacker",
}
_HASHES = frozenset({"md5", "sha1", "sha256", "sha512"})
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def parse_misp(document: Document, options: ParseOptions) -> Iterator[ParseItem]:
    """Yield observations from MISP event JSON; see the module docstring.

    Raises :class:`IngestError` when the document is not valid JSON (naming
    the line and column) or contains no MISP event.
    """
    data = load_json(document)
    if is_feed_manifest(data):
        yield Skipped(
            "misp:manifest",
            "manifest",
            "a MISP feed manifest lists events; ingest the feed's folder to read them",
        )
        return
    for index, event in enumerate(misp_events(data, document.origin)):
        if not isinstance(event, dict):
            yield Rejection(f"event #{index + 1}", "not a JSON object")
            continue
        yield from _read_event(event)


def misp_events(data: Any, origin: str) -> list[Any]:
    """Return the events of a MISP document in any of its published shapes."""
    if isinstance(data, dict):
        if "Event" in data:
            return [data["Event"]]
        response = data.get("response")
        if isinstance(response, list):
            return [_unwrap(item) for item in response]
        if isinstance(response, dict) and isinstance(response.get("Attribute"), list):
            return [response]
        if isinstance(data.get("Attribute"), list):
            return [data]
    if isinstance(data, list):
        return [_unwrap(item) for item in data]
    raise IngestError(
        origin,
        "JSON is not a MISP event: expected an 'Event' object, a list of events "
        "or a 'response' list; check the --format",
    )


def is_feed_manifest(data: Any) -> bool:
    """Tell whether JSON data is a MISP feed manifest rather than events."""
    if isinstance(data, dict):
        if isinstance(data.get("feeds"), dict):
            return True
        return bool(data) and all(
            _UUID.match(str(key)) and isinstance(value, dict) and "info" in value
            for key, value in data.items()
        )
    if isinstance(data, list) and data:
        return all(
            isinstance(item, dict) and "filename" in item and "info" in item
            for item in data
        )
    return False


def _unwrap(item: Any) -> Any:
    if isinstance(item, dict) and isinstance(item.get("Event"), dict):
        return item["Event"]
    return item


def _read_event(event: dict[str, Any]) -> Iterator[ParseItem]:
    context = EventContext(event)
    yield from context.warnings
    count = 0
    for attribute in as_list(event.get("Attribute")):
        count += 1
        yield from _read_attribute(attribute, count, context, None)
    for misp_object in as_list(event.get("Object")):
        if not isinstance(misp_object, dict):
            continue
        attributes = as_list(misp_object.get("Attribute"))
        object_context = _object_context(misp_object, attributes)
        for attribute in attributes:
            count += 1
            yield from _read_attribute(attribute, count, context, object_context)


def _object_context(
    misp_object: dict[str, Any], attributes: list[Any]
) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if isinstance(misp_object.get("name"), str):
        context["misp_object"] = misp_object["name"]
    names = [
        attribute.get("value")
        for attribute in attributes
        if isinstance(attribute, dict) and attribute.get("type") == "filename"
    ]
    if len(names) == 1 and isinstance(names[0], str):
        # One file object describes one file: its hashes are of that name.
        context["filename"] = names[0]
    return context


def _read_attribute(
    attribute: Any,
    number: int,
    event: EventContext,
    object_context: dict[str, Any] | None,
) -> Iterator[ParseItem]:
    if not isinstance(attribute, dict):
        yield Rejection(f"event {event.uuid} attribute #{number}", "not a JSON object")
        return
    uuid = attribute.get("uuid")
    location = (
        f"attribute {uuid}"
        if isinstance(uuid, str) and uuid
        else f"event {event.uuid} attribute #{number}"
    )
    kind = attribute.get("type")
    value = attribute.get("value")
    if not isinstance(kind, str):
        yield Rejection(location, "attribute has no type")
        return
    if kind not in MISP_TYPES:
        reason = _SKIP_REASONS.get(kind, f"MISP type {kind!r} is not an indicator type")
        yield Skipped(f"misp:{kind}", location, reason)
        return
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        yield Rejection(location, f"{kind} attribute has no value")
        return
    first_seen, last_seen = yield from seen_times(attribute, location)
    yield Observation(
        value,
        location,
        _declared(kind, value),
        first_seen=first_seen,
        last_seen=last_seen,
        tlp=event.tlp_of(attribute),
        tags=event.tags_of(attribute),
        context=_context(attribute, kind, event, object_context),
        ref=uuid if isinstance(uuid, str) and uuid else None,
        version=epoch_time(attribute.get("timestamp")),
        revoked=_flag(attribute.get("deleted"), default=False),
        to_ids=_flag(attribute.get("to_ids"), default=True),
    )


def _declared(kind: str, value: str) -> str | None:
    declared = MISP_TYPES[kind]
    return ip_declared(value) if declared == IP else declared


def _context(
    attribute: dict[str, Any],
    kind: str,
    event: EventContext,
    object_context: dict[str, Any] | None,
) -> dict[str, Any]:
    context = dict(event.context)
    if object_context:
        context["misp_object"] = object_context.get("misp_object")
        if kind in _HASHES and "filename" in object_context:
            context["filename"] = object_context["filename"]
    comment = attribute.get("comment")
    if isinstance(comment, str) and comment.strip():
        context["comment"] = comment.strip()
    if isinstance(attribute.get("category"), str):
        context["misp_category"] = attribute["category"]
    sightings = as_list(attribute.get("Sighting")) + event.sightings_of(attribute)
    context.update(sighting_context(sightings))
    return {key: value for key, value in context.items() if value is not None}


def _flag(value: Any, *, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str):
        return str(value).strip().lower() in ("1", "true", "yes")
    return default
