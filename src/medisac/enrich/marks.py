"""Analyst decisions on one stored indicator, and their publication.

An analyst can mark a value as a false positive (state ``false_positive``:
it leaves every collection and export, and no source can bring it back),
undo that mark, and set or clear the healthcare flag
(``indicators.analyst_healthcare``). Each decision publishes a new version
of the indicator when its published content changes, so TAXII readers see
the change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.enrich.benign import KnownBenign
from medisac.errors import MedisacError
from medisac.model import TLP, IndicatorType, State
from medisac.store.merge import republish
from medisac.store.tables import indicators, red_recipients

log = logging.getLogger(__name__)


class MarkError(MedisacError):
    """The value to mark is not stored."""


@dataclass(frozen=True, slots=True)
class MarkResult:
    """The indicator's state after a decision, and whether a version was added."""

    indicator_id: int
    state: str
    healthcare: bool
    published: bool


def find_indicator(conn: Connection, kind: IndicatorType, value: str) -> int:
    """Return the id of the stored indicator; raise :class:`MarkError` if absent."""
    found = conn.execute(
        sa.select(indicators.c.id).where(
            indicators.c.type == kind.value, indicators.c.value == value
        )
    ).scalar_one_or_none()
    if found is None:
        raise MarkError(
            f"{kind.value} {value} is not stored; `medisac search VALUE` shows "
            "what is known about a value"
        )
    return int(found)


def mark_false_positive(conn: Connection, indicator_id: int) -> MarkResult:
    """Mark the indicator as a false positive and publish the change."""
    return _apply(conn, indicator_id, state=State.FALSE_POSITIVE.value)


def clear_false_positive(conn: Connection, indicator_id: int) -> MarkResult:
    """Undo a false-positive mark: the sources and known-benign lists decide again.

    The known-benign mark is looked up again too, since the lists may have
    changed since the value was last merged. Another analyst state, such as
    revoked, is left as it is.
    """
    row = conn.execute(
        sa.select(indicators.c.type, indicators.c.value, indicators.c.state).where(
            indicators.c.id == indicator_id
        )
    ).one()
    benign = KnownBenign.load(conn).match(IndicatorType(row.type), row.value)
    if row.state != State.FALSE_POSITIVE.value:
        return _apply(conn, indicator_id, benign=benign)
    # "active" lets the merge's state rule run: benign, expired or active.
    return _apply(conn, indicator_id, state=State.ACTIVE.value, benign=benign)


def set_healthcare(
    conn: Connection, indicator_id: int, healthcare: bool | None
) -> MarkResult:
    """Set the analyst's healthcare flag; None derives it from the sources again."""
    return _apply(conn, indicator_id, analyst_healthcare=healthcare)


def set_tlp(
    conn: Connection,
    indicator_id: int,
    tlp: TLP | None,
    recipients: Iterable[str] = (),
) -> MarkResult:
    """Set the analyst's TLP level; None lets the sources decide it again.

    ``recipients`` are the organisation ids a TLP:RED record is shared with,
    and replace any named before. Only they (and the operator) read it.
    """
    conn.execute(
        sa.delete(red_recipients).where(red_recipients.c.indicator_id == indicator_id)
    )
    named = sorted(set(recipients))
    if named:
        conn.execute(
            sa.insert(red_recipients),
            [{"indicator_id": indicator_id, "org_id": org_id} for org_id in named],
        )
    return _apply(conn, indicator_id, analyst_tlp=None if tlp is None else int(tlp))


def _apply(conn: Connection, indicator_id: int, **values: object) -> MarkResult:
    """Write the decision's columns, then recompute and publish the indicator."""
    conn.execute(
        sa.update(indicators).where(indicators.c.id == indicator_id).values(**values)
    )
    published = republish(conn, [indicator_id]) > 0
    row = conn.execute(
        sa.select(indicators.c.state, indicators.c.healthcare).where(
            indicators.c.id == indicator_id
        )
    ).one()
    log.info(
        "indicator %d: analyst set %s; state %s",
        indicator_id,
        sorted(values),
        row.state,
    )
    return MarkResult(indicator_id, row.state, bool(row.healthcare), published)
