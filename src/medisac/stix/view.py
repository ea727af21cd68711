"""Plain-value views of stored indicators, the input of the STIX renderer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medisac.model import TLP, IndicatorType, State


@dataclass(frozen=True, slots=True)
class SourceClaim:
    """One source's claim on an indicator, as it is published.

    Times are microseconds since the epoch, UTC. ``ref`` is the source's own id
    for the object it sent (a STIX id, a MISP attribute uuid), if it has one.
    """

    source: str
    confidence: int
    tlp: TLP
    first_seen: int
    last_seen: int
    ref: str | None


@dataclass(frozen=True, slots=True)
class IndicatorView:
    """The published state of one indicator record at one version.

    Times are microseconds since the epoch, UTC. ``modified`` identifies the
    version, so each new version needs a greater ``modified`` than the last.
    """

    stix_id: str
    type: IndicatorType
    value: str
    state: State
    confidence: int
    tlp: TLP
    first_seen: int
    last_seen: int
    valid_until: int | None
    created: int
    modified: int
    tags: tuple[str, ...]
    context: Mapping[str, Any]
    healthcare: bool
    to_ids: bool
    sources: tuple[SourceClaim, ...]
