"""What a parser reports: observations, rejections and skipped objects.

A parser turns one input into a stream of these three kinds of item. It does no
normalisation and touches no store; the ingest loop does both, so every format
shares one set of rules for values, versions and provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from medisac.model.tlp import TLP


@dataclass(slots=True)
class Observation:
    """One value a source reported, as the source wrote it.

    ``type`` is the declared indicator type (an :class:`IndicatorType` value)
    or ``None`` when the value's type must be detected. ``location`` names
    where in the input the value sits (``line 12``, ``attribute <uuid>``,
    ``object indicator--…``) so a rejection can point at it.

    ``ref`` and ``version`` identify a versioned object in the source (a STIX
    id and its ``modified`` time, a MISP attribute uuid and its timestamp).
    Observations that share a ``ref`` are one claim: a later version replaces
    the values of an earlier one, and ``revoked`` withdraws them.
    """

    value: str
    location: str
    type: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    # When the source says the value stops being valid (STIX valid_until).
    valid_until: datetime | None = None
    confidence: int | None = None
    tlp: TLP | None = None
    tags: tuple[str, ...] = ()
    context: dict[str, Any] = field(default_factory=dict)
    ref: str | None = None
    version: datetime | None = None
    revoked: bool = False
    # False when the source says the value is context, not something to block
    # (MISP ``to_ids: false``); such values never reach blocking exports.
    to_ids: bool = True


@dataclass(slots=True, frozen=True)
class Rejection:
    """A record of the input that cannot be stored, with the reason."""

    location: str
    reason: str
    value: str | None = None


@dataclass(slots=True, frozen=True)
class Skipped:
    """An object the parser read but does not turn into indicators.

    ``kind`` groups skips for the summary (for example the STIX type
    ``x-acme-collection``), so one line per kind is logged, not one per object.
    """

    kind: str
    location: str
    reason: str


@dataclass(slots=True, frozen=True)
class ParseWarning:
    """A problem the parser worked around, reported once in the summary."""

    location: str
    message: str


ParseItem = Observation | Rejection | Skipped | ParseWarning
