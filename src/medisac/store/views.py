"""Published views of stored indicators, and their STIX bodies.

The latest version of an indicator is not stored as JSON: its ``indicators``
row holds everything its STIX object shows, so the body is rendered from the
row when read. Only superseded versions keep a stored body, written when the
next version replaces them. This keeps ingest from writing each object twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import orjson
import sqlalchemy as sa

from medisac.model import TLP, IndicatorType, State
from medisac.stix import IndicatorView, SourceClaim, render_indicator
from medisac.store.tables import indicators

# The indicator columns a view needs, labelled so they can join other tables.
VIEW_PREFIX = "i_"
_VIEW_FIELDS = (
    "stix_id",
    "type",
    "value",
    "state",
    "confidence",
    "tlp",
    "first_seen",
    "last_seen",
    "valid_until",
    "created",
    "modified",
    "tags",
    "context",
    "healthcare",
    "to_ids",
    "sources",
)
VIEW_COLUMNS: tuple[sa.Label[Any], ...] = tuple(
    indicators.c[name].label(VIEW_PREFIX + name) for name in _VIEW_FIELDS
)


# The indicator columns that follow from a view's published state, in the order
# of state_values. The ``digest`` column follows them.
STATE_COLUMNS = (
    "state",
    "confidence",
    "tlp",
    "first_seen",
    "last_seen",
    "valid_until",
    "tags",
    "context",
    "sources",
    "healthcare",
    "to_ids",
    "modified",
)


def state_values(view: IndicatorView) -> tuple[Any, ...]:
    """Return the values of :data:`STATE_COLUMNS` for ``view``.

    None of them depends on the view's type or value, so views that differ
    only in those share these values.
    """
    return (
        view.state.value,
        view.confidence,
        int(view.tlp),
        view.first_seen,
        view.last_seen,
        view.valid_until,
        orjson.dumps(view.tags).decode(),
        orjson.dumps(view.context, option=orjson.OPT_SORT_KEYS).decode(),
        sources_json(view.sources),
        view.healthcare,
        view.to_ids,
        view.modified,
    )


def state_hash(view: IndicatorView) -> hashlib.blake2b:
    """Start the digest of ``view`` with every published field but the key.

    :func:`finish_digest` adds the key (type and value). Left out are
    ``stix_id``, which follows from the key, and ``created`` and
    ``modified``, which date a version instead of describing its content.
    """
    parts = (
        view.state,
        view.confidence,
        view.tlp,
        view.first_seen,
        view.last_seen,
        view.valid_until,
        view.tags,
        view.context,
        view.healthcare,
        view.to_ids,
        [(s.source, s.confidence, s.tlp, s.ref) for s in view.sources],
    )
    data = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=16)


def finish_digest(state: hashlib.blake2b, kind: str, value: str) -> str:
    """Return the digest of the view of ``(kind, value)`` whose state is hashed.

    The JSON of the state ends unambiguously and ``kind`` has no ``:``, so
    distinct published contents give distinct input bytes.
    """
    digest = state.copy()
    digest.update(f"{kind}:{value}".encode())
    return digest.hexdigest()


def view_digest(view: IndicatorView) -> str:
    """Return the stored ``digest`` of a view: a hash of what it publishes.

    A new version is published only when this changes; ``modified`` is left
    out because every version has its own.
    """
    return finish_digest(state_hash(view), view.type, view.value)


def shown_source_names(sources_column: str, tlp: int) -> list[str]:
    """Return the source names that a record at ``tlp`` shows.

    ``sources_column`` is the record's ``indicators.sources`` column.

    A source that reported above the record's level (an analyst lowered it)
    is itself information at that higher level, so it is left out, as in
    the rendered STIX object.
    """
    return [claim[0] for claim in orjson.loads(sources_column) if claim[2] <= tlp]


def sources_json(claims: tuple[SourceClaim, ...]) -> str:
    """Write a view's source claims as the ``indicators.sources`` column."""
    return orjson.dumps(
        [
            [c.source, c.confidence, int(c.tlp), c.first_seen, c.last_seen, c.ref]
            for c in claims
        ]
    ).decode()


# Column readers for indicator_view, one per prefix. attrgetter reads all the
# columns in one C call, which matters when a TAXII page renders 1,000 rows.
_READERS = {
    prefix: attrgetter(*(prefix + name for name in _VIEW_FIELDS))
    for prefix in ("", VIEW_PREFIX)
}
_TYPES = {member.value: member for member in IndicatorType}
_STATES = {member.value: member for member in State}
_TLPS = {int(member): member for member in TLP}


def indicator_view(row: Any, prefix: str = "") -> IndicatorView:
    """Build the published view from an ``indicators`` row.

    ``prefix`` is :data:`VIEW_PREFIX` for rows selected with
    :data:`VIEW_COLUMNS`, and empty for rows of the table itself.
    """
    return view_from_columns(_READERS[prefix](row))


def view_from_columns(values: Sequence[Any]) -> IndicatorView:
    """Build the published view from the values of :data:`VIEW_COLUMNS`, in order.

    Rows that select :data:`VIEW_COLUMNS` after other columns pass a slice,
    which is faster than reading a SQLAlchemy row by column name.
    """
    (
        stix_id,
        kind,
        value,
        state,
        confidence,
        tlp,
        first_seen,
        last_seen,
        valid_until,
        created,
        modified,
        tags,
        context,
        healthcare,
        to_ids,
        sources,
    ) = values
    claims = tuple(
        SourceClaim(
            source=source,
            confidence=claim_confidence,
            tlp=_TLPS[claim_tlp],
            first_seen=claim_first_seen,
            last_seen=claim_last_seen,
            ref=ref,
        )
        for (
            source,
            claim_confidence,
            claim_tlp,
            claim_first_seen,
            claim_last_seen,
            ref,
        ) in orjson.loads(sources)
    )
    return IndicatorView(
        stix_id=stix_id,
        type=_TYPES[kind],
        value=value,
        state=_STATES[state],
        confidence=confidence,
        tlp=_TLPS[tlp],
        first_seen=first_seen,
        last_seen=last_seen,
        valid_until=valid_until,
        created=created,
        modified=modified,
        tags=tuple(orjson.loads(tags)),
        context=orjson.loads(context),
        healthcare=bool(healthcare),
        to_ids=bool(to_ids),
        sources=claims,
    )


def render_body(view: IndicatorView) -> str:
    """Serialise a view's STIX object the one way medisac always does."""
    return orjson.dumps(render_indicator(view), option=orjson.OPT_SORT_KEYS).decode()
