"""Validate a sensor batch and turn it into canonical sightings.

A batch is JSON::

    {"batch_id": "probe-7-000123", "tlp": "amber",
     "sightings": [{"value": "198.51.100.7", "type": "ipv4", "count": 3,
                    "first_seen": "2026-12-04T10:00:00Z",
                    "last_seen": "2026-12-04T10:05:00Z"}]}

``type``, ``count``, the times and ``tlp`` are optional. A sighting whose
value is invalid is rejected with its index and reason; the valid rest of
the batch is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from medisac.errors import MedisacError, NormalizationError
from medisac.model import TLP
from medisac.model.time import now_us, parse_rfc3339, to_us
from medisac.normalize import normalize

# Sightings in one batch. Sensors send more as several batches.
MAX_SIGHTINGS = 10_000
# Times one sighting may count; a batch's total per value stays in 32 bits.
MAX_COUNT = 100_000
DEFAULT_TLP = TLP.AMBER
BATCH_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class InvalidBatch(MedisacError):
    """A batch as a whole cannot be read; names the field and the fix."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """One canonical value seen ``count`` times between two times (µs)."""

    type: str
    value: str
    count: int
    first_seen: int
    last_seen: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """A sighting left out of a batch, by its index in ``sightings``."""

    index: int
    field: str
    reason: str


@dataclass(slots=True)
class SensorBatch:
    """A validated batch, ready to queue or apply."""

    sender: str
    batch_id: str
    org_id: str | None
    key_id: int | None
    tlp: TLP
    received: int
    sightings: list[Sighting]
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Return the sum of the sightings' counts."""
        return sum(item.count for item in self.sightings)

    def to_message(self) -> bytes:
        """Encode the batch for the Redis stream."""
        return orjson.dumps(
            {
                "sender": self.sender,
                "batch_id": self.batch_id,
                "org_id": self.org_id,
                "key_id": self.key_id,
                "tlp": int(self.tlp),
                "received": self.received,
                "items": [
                    [s.type, s.value, s.count, s.first_seen, s.last_seen]
                    for s in self.sightings
                ],
            }
        )

    @classmethod
    def from_message(cls, data: bytes) -> SensorBatch:
        """Decode a batch that :meth:`to_message` encoded."""
        body = orjson.loads(data)
        return cls(
            sender=body["sender"],
            batch_id=body["batch_id"],
            org_id=body["org_id"],
            key_id=body["key_id"],
            tlp=TLP(body["tlp"]),
            received=body["received"],
            sightings=[Sighting(*item) for item in body["items"]],
        )


def sender_of(org_id: str | None, key_id: int) -> str:
    """Return the name batch ids are unique within: the organisation, else the key."""
    return org_id if org_id is not None else f"key-{key_id}"


def parse_batch(
    body: Any, *, org_id: str | None, key_id: int, now: int | None = None
) -> SensorBatch:
    """Validate a decoded JSON batch; raise :class:`InvalidBatch` if unusable.

    Invalid sightings are listed in ``rejected``; a batch with none valid
    is invalid as a whole.
    """
    if not isinstance(body, dict):
        raise InvalidBatch("the body must be a JSON object with batch_id and sightings")
    batch_id = body.get("batch_id")
    if not isinstance(batch_id, str) or not BATCH_ID.fullmatch(batch_id):
        raise InvalidBatch(
            "batch_id: give 1-128 characters of letters, digits and . _ : -, "
            "unique per batch and the same when the batch is retried"
        )
    items = body.get("sightings")
    if not isinstance(items, list) or not items:
        raise InvalidBatch("sightings: give a non-empty list of sightings")
    if len(items) > MAX_SIGHTINGS:
        raise InvalidBatch(
            f"sightings: {len(items)} sightings in one batch; send at most "
            f"{MAX_SIGHTINGS} per batch"
        )
    tlp = _tlp(body.get("tlp"))
    received = now if now is not None else now_us()
    batch = SensorBatch(
        sender=sender_of(org_id, key_id),
        batch_id=batch_id,
        org_id=org_id,
        key_id=key_id,
        tlp=tlp,
        received=received,
        sightings=[],
    )
    for index, item in enumerate(items):
        try:
            batch.sightings.extend(_sightings(item, received))
        except _Invalid as exc:
            batch.rejected.append(Rejected(index, exc.field, exc.reason))
    if not batch.sightings:
        first = batch.rejected[0]
        raise InvalidBatch(
            f"no valid sighting in the batch; sightings[{first.index}].{first.field}: "
            f"{first.reason}"
        )
    return batch


class _Invalid(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _tlp(text: Any) -> TLP:
    if text is None:
        return DEFAULT_TLP
    if not isinstance(text, str):
        raise InvalidBatch("tlp: give a TLP level such as green or amber")
    try:
        return TLP.parse(text)
    except ValueError as exc:
        raise InvalidBatch(f"tlp: {exc}") from None


def _sightings(item: Any, received: int) -> list[Sighting]:
    if isinstance(item, str):
        item = {"value": item}
    if not isinstance(item, dict):
        raise _Invalid("value", "a sighting is a JSON object or a string value")
    raw = item.get("value")
    if not isinstance(raw, str) or not raw:
        raise _Invalid("value", "missing; give the observed value as a string")
    declared = item.get("type")
    if declared is not None and not isinstance(declared, str):
        raise _Invalid("type", "give an indicator type such as ipv4 or domain")
    count = item.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int):
        raise _Invalid("count", "give a whole number")
    if not 1 <= count <= MAX_COUNT:
        raise _Invalid("count", f"must be 1-{MAX_COUNT}, not {count}")
    first = _time(item.get("first_seen"), "first_seen", received)
    last = _time(item.get("last_seen"), "last_seen", first)
    if last < first:
        raise _Invalid("last_seen", "is before first_seen")
    try:
        values = normalize(raw, declared)
    except NormalizationError as exc:
        raise _Invalid("value", f"invalid value: {exc.reason}") from None
    except KeyError:
        raise _Invalid("type", f"unknown indicator type {declared!r}") from None
    return [Sighting(v.type.value, v.value, count, first, last) for v in values]


def _time(text: Any, name: str, default: int) -> int:
    if text is None:
        return default
    if not isinstance(text, str):
        raise _Invalid(name, "give an RFC 3339 time such as 2026-12-04T10:00:00Z")
    try:
        return to_us(parse_rfc3339(text, assume_utc=True))
    except ValueError as exc:
        raise _Invalid(name, f"invalid time: {exc}") from None
