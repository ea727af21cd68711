"""An indicator's published view, computed from its row and provenance rows.

The merge, :func:`medisac.store.merge.republish` and
:func:`medisac.score.expire_due` all compute views here, so a value's state,
confidence and ``valid_until`` follow one rule wherever they change.

A provenance row is one source's claim. Its role in the view:

- active: the source reports the value now;
- delisted (inactive, ``delisted_at`` set): a complete read of the source no
  longer lists the value; the claim still counts while it decays;
- withdrawn (inactive, no ``delisted_at``): the source revoked or superseded
  the object that claimed the value; the claim counts for nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from medisac.enrich.healthcare import healthcare_relevance
from medisac.model import TLP, IndicatorType, State
from medisac.score import formula
from medisac.stix import IndicatorView, SourceClaim

# States that an analyst set; the sources and the clock never change them.
_ANALYST_STATES = frozenset({State.FALSE_POSITIVE, State.REVOKED})


@dataclass(frozen=True, slots=True)
class SourceMeta:
    """A source's name and reliability grade, as a view reads them."""

    name: str
    reliability: str = "C"


SourceLookup = Callable[[int], SourceMeta]


def counted_claims(rows: Sequence[Any]) -> list[Any]:
    """Return the claims that count: active and delisted ones."""
    return [p for p in rows if p.active or p.delisted_at is not None]


def age_basis(prov: Any) -> int:
    """Return the time (µs) from which a provenance row's claim ages.

    A claim from a complete listing ages from ``listed_at`` while listed and
    from ``delisted_at`` once delisted. Any other claim ages from when its
    source first reported the value to medisac, so a report read today
    starts fresh whatever its dates. A later ``last_seen`` that the source
    states wins in every case.
    """
    if not prov.active and prov.delisted_at is not None:
        start = prov.delisted_at
    elif prov.listed_at is not None:
        start = prov.listed_at
    else:
        start = prov.first_reported
    return max(int(start), int(prov.last_seen))


def formula_claims(rows: Sequence[Any], sources: SourceLookup) -> list[formula.Claim]:
    """Convert counted provenance rows to the formula's claims."""
    return [
        formula.Claim(
            reliability=sources(p.source_id).reliability,
            confidence=p.confidence,
            basis=age_basis(p),
            ends=p.valid_until,
        )
        for p in rows
    ]


def sightings(rows: Sequence[Any]) -> int:
    """Count the observations beyond the first in each counted claim.

    Sensor sightings will add to this count once medisac stores them.
    """
    return sum(max(p.observations - 1, 0) for p in rows)


def aggregate(
    row: Any, rows: Sequence[Any], sources: SourceLookup, at: int
) -> IndicatorView:
    """Compute an indicator's published view at ``at`` (µs since the epoch).

    ``row`` is the ``indicators`` row and ``rows`` are all its provenance
    rows. Confidence and ``valid_until`` come from :mod:`formula` over the
    claims that count. An analyst's confidence, TLP or healthcare mark
    overrides the computed one. TLP is the most restrictive of the counted
    claims'. The state is the analyst's (false positive, revoked) if set,
    else benign for a value on a known-benign list, else expired when no
    claim counts or ``valid_until`` is at or before ``at``, else active.
    """
    kind = IndicatorType(row.type)
    counted = counted_claims(rows)
    basis = counted or list(rows)
    tags: set[str] = set()
    context: dict[str, Any] = {}
    for prov in basis:
        tags.update(orjson.loads(prov.tags))
        merge_context(context, orjson.loads(prov.context))
    valid_until: int | None = None
    confidence = 0
    if counted:
        claims = formula_claims(counted, sources)
        seen = sightings(counted)
        confidence = formula.confidence(claims, kind, at, seen)
        valid_until = formula.valid_until(claims, kind, seen)
    if row.analyst_confidence is not None:
        confidence = row.analyst_confidence
    tlp = max((p.tlp for p in basis), default=int(TLP.AMBER))
    if row.analyst_tlp is not None:
        tlp = row.analyst_tlp
    sorted_tags = tuple(sorted(tags))
    healthcare = healthcare_relevance(sorted_tags, context, row.analyst_healthcare)
    return IndicatorView(
        stix_id=row.stix_id,
        type=kind,
        value=row.value,
        state=_state(row, bool(counted), valid_until, at),
        confidence=int(confidence),
        tlp=TLP(tlp),
        first_seen=min(p.first_seen for p in basis),
        last_seen=max(p.last_seen for p in basis),
        valid_until=valid_until,
        created=row.created,
        modified=row.modified,
        tags=sorted_tags,
        context=context,
        healthcare=bool(healthcare),
        to_ids=any(p.to_ids for p in basis),
        sources=_source_claims(counted, sources),
    )


def _state(row: Any, counted: bool, valid_until: int | None, at: int) -> State:
    current = State(row.state)
    if current in _ANALYST_STATES:
        return current
    if row.benign is not None:
        return State.BENIGN
    if not counted or (valid_until is not None and valid_until <= at):
        return State.EXPIRED
    return State.ACTIVE


def _source_claims(
    rows: Sequence[Any], sources: SourceLookup
) -> tuple[SourceClaim, ...]:
    claims = (
        SourceClaim(
            source=sources(p.source_id).name,
            confidence=p.confidence,
            tlp=TLP(p.tlp),
            first_seen=p.first_seen,
            last_seen=p.last_seen,
            ref=None,
        )
        for p in rows
    )
    return tuple(sorted(claims, key=lambda claim: claim.source))


def merge_context(into: dict[str, Any], extra: dict[str, Any]) -> None:
    """Merge context maps; list values and differing scalars become sorted lists."""
    for name, value in extra.items():
        if name not in into:
            into[name] = value
            continue
        current = into[name]
        if current == value:
            continue
        items = current if isinstance(current, list) else [current]
        more = value if isinstance(value, list) else [value]
        merged = list(items)
        for item in more:
            if item not in merged:
                merged.append(item)
        try:
            merged.sort()
        except TypeError:
            merged.sort(key=repr)
        into[name] = merged
