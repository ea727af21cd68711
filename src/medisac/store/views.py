"""Published views of stored indicators, and their STIX bodies.

The latest version of an indicator is not stored as JSON: its ``indicators``
row holds everything its STIX object shows, so the body is rendered from the
row when read. Only superseded versions keep a stored body, written when the
next version replaces them. This keeps ingest from writing each object twice.
"""

from __future__ import annotations

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


def sources_json(claims: tuple[SourceClaim, ...]) -> str:
    """Write a view's source claims as the ``indicators.sources`` column."""
    return orjson.dumps(
        [
            [c.source, c.confidence, int(c.tlp), c.first_seen, c.last_seen, c.ref]
            for c in claims
        ]
    ).decode()


def indicator_view(row: Any, prefix: str = "") -> IndicatorView:
    """Build the published view from an ``indicators`` row.

    ``prefix`` is :data:`VIEW_PREFIX` for rows selected with
    :data:`VIEW_COLUMNS`, and empty for rows of the table itself.
    """

    def get(name: str) -> Any:
        return getattr(row, prefix + name)

    claims = tuple(
        SourceClaim(
            source=source,
            confidence=confidence,
            tlp=TLP(tlp),
            first_seen=first_seen,
            last_seen=last_seen,
            ref=ref,
        )
        for source, confidence, tlp, first_seen, last_seen, ref in orjson.loads(
            get("sources")
        )
    )
    return IndicatorView(
        stix_id=get("stix_id"),
        type=IndicatorType(get("type")),
        value=get("value"),
        state=State(get("state")),
        confidence=get("confidence"),
        tlp=TLP(get("tlp")),
        first_seen=get("first_seen"),
        last_seen=get("last_seen"),
        valid_until=get("valid_until"),
        created=get("created"),
        modified=get("modified"),
        tags=tuple(orjson.loads(get("tags"))),
        context=orjson.loads(get("context")),
        healthcare=bool(get("healthcare")),
        to_ids=bool(get("to_ids")),
        sources=claims,
    )


def render_body(view: IndicatorView) -> str:
    """Serialise a view's STIX object the one way medisac always does."""
    return orjson.dumps(render_indicator(view), option=orjson.OPT_SORT_KEYS).decode()
