"""The filters that choose an export's indicators, shared by every format."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.members.access import Audience
from medisac.model import TLP, IndicatorType, State
from medisac.model.time import now_us
from medisac.store.tables import indicators, stix_objects
from medisac.store.views import VIEW_COLUMNS

# Rows fetched per round trip while streaming an export.
_FETCH = 5_000


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """The indicators to export: active ones, narrowed by these conditions.

    ``tlp`` is the most restrictive level included; ``since`` keeps records
    whose published version is newer (microseconds since the epoch).
    ``healthcare`` keeps only healthcare-relevant records, and ``max_count``
    keeps the highest-confidence records up to that many, newer first among
    equals. ``audience`` is the reader on whose behalf the export is made;
    without one (an operator's command) only ``tlp`` limits the levels.
    """

    types: frozenset[IndicatorType] = frozenset()
    min_confidence: int = 0
    tlp: TLP = TLP.AMBER_STRICT
    since: int | None = None
    blocking_only: bool = False
    healthcare: bool = False
    max_count: int | None = None
    audience: Audience | None = None

    def visibility(self) -> sa.ColumnElement[bool]:
        """Return the TLP condition on ``indicators`` for this export's reader."""
        ic = indicators.c
        if self.audience is None:
            return ic.tlp <= int(self.tlp)
        return self.audience.narrowed(self.tlp).condition(ic.tlp, ic.id)

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        """Return SQL conditions on ``indicators`` for this filter."""
        ic = indicators.c
        found = [
            ic.state == State.ACTIVE.value,
            # A value past the end of validity its sources gave is not blocked.
            sa.or_(ic.valid_until.is_(None), ic.valid_until > now_us()),
            ic.confidence >= self.min_confidence,
            self.visibility(),
        ]
        if self.types:
            found.append(ic.type.in_(sorted(t.value for t in self.types)))
        if self.since is not None:
            found.append(ic.modified > self.since)
        if self.blocking_only:
            found.append(ic.to_ids.is_(True))
        if self.healthcare:
            found.append(ic.healthcare.is_(True))
        if self.max_count is not None:
            # The ids to keep are chosen before the rows are streamed in id
            # order, so the selection is the same whatever order a writer wants.
            top = (
                sa.select(ic.id)
                .where(*found)
                .order_by(ic.confidence.desc(), ic.modified.desc(), ic.id)
                .limit(self.max_count)
            )
            found = [ic.id.in_(top)]
        return found


def parse_types(names: list[str] | None) -> frozenset[IndicatorType]:
    """Return the indicator types ``names`` give, for a type filter.

    Raises ``ValueError`` naming the unknown type and the known ones.
    """
    found = set()
    for name in names or []:
        try:
            found.add(IndicatorType(name))
        except ValueError:
            choices = ", ".join(t.value for t in IndicatorType)
            raise ValueError(f"unknown type {name!r}; use one of {choices}") from None
    return frozenset(found)


def selected_rows(conn: Connection, selection: ExportFilter) -> Iterator[Any]:
    """Yield the latest published row of each selected indicator, by id.

    Each row carries the indicator's view columns (``VIEW_COLUMNS``) and the
    stored ``body`` when the latest version has one.
    """
    so, ic = stix_objects.c, indicators.c
    statement = (
        sa.select(ic.id, so.body, *VIEW_COLUMNS)
        .select_from(
            indicators.join(
                stix_objects,
                sa.and_(so.indicator_id == ic.id, so.is_latest.is_(True)),
            )
        )
        .where(*selection.conditions())
        .order_by(ic.id)
        .execution_options(yield_per=_FETCH)
    )
    yield from conn.execute(statement)
