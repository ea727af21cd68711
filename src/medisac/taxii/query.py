"""Read pages of ``stix_objects`` rows for the objects, manifest and versions endpoints.

Each page is one query ordered by ``seq`` that fetches ``limit + 1`` rows. The
extra row only shows whether more rows follow. Rows above the caller's TLP
clearance are never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.model import TLP
from medisac.store.tables import indicators, stix_objects
from medisac.store.views import VIEW_COLUMNS
from medisac.taxii.collections import CollectionSpec
from medisac.taxii.filters import MatchFilter, VersionMatch
from medisac.taxii.paging import PageParams

_older = stix_objects.alias("older")
_first_added = stix_objects.alias("first_added")


@dataclass(frozen=True, slots=True)
class Scope:
    """The rows one request may see: a collection, at a clearance, maybe one id."""

    collection: CollectionSpec
    clearance: TLP
    object_id: str | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        """Return the SQL conditions that keep a row inside this scope."""
        so = stix_objects.c
        found = [self.collection.condition(), so.tlp <= int(self.clearance)]
        if self.object_id is not None:
            found.append(so.stix_id == self.object_id)
        return found


@dataclass(frozen=True, slots=True)
class Page:
    """Rows of one page, in ``seq`` order, and whether more rows follow."""

    rows: Sequence[Any]
    more: bool


def read_page(
    conn: Connection,
    columns: Sequence[sa.ColumnElement[Any]],
    scope: Scope,
    match: MatchFilter,
    page: PageParams,
    *,
    with_views: bool = False,
) -> Page:
    """Select one page of rows; ``columns`` must include ``seq``.

    With ``with_views``, rows without a stored body also carry their
    indicator's columns (:data:`medisac.store.views.VIEW_COLUMNS`), read in the
    same statement so the body rendered from them matches the version row.
    """
    if not match.wants_served_spec:
        return Page(rows=(), more=False)
    so = stix_objects.c
    conditions = scope.conditions()
    if page.added_after is not None:
        conditions.append(so.date_added > page.added_after)
        conditions.append(so.seq >= _first_seq_added_after(page.added_after))
    if page.after_seq is not None:
        conditions.append(so.seq > page.after_seq)
    if match.ids is not None:
        conditions.append(so.stix_id.in_(sorted(match.ids)))
    if match.types is not None:
        conditions.append(so.stix_type.in_(sorted(match.types)))
    version = _version_condition(match.versions)
    if version is not None:
        conditions.append(version)
    statement = sa.select(*columns)
    if with_views:
        joined = stix_objects.outerjoin(
            indicators,
            sa.and_(indicators.c.id == so.indicator_id, so.body.is_(None)),
        )
        statement = sa.select(*columns, *VIEW_COLUMNS).select_from(joined)
    statement = statement.where(*conditions).order_by(so.seq).limit(page.limit + 1)
    rows = conn.execute(statement).all()
    return Page(rows=rows[: page.limit], more=len(rows) > page.limit)


def object_exists(conn: Connection, scope: Scope) -> bool:
    """Tell whether any version of ``scope.object_id`` is visible in ``scope``."""
    statement = sa.select(stix_objects.c.seq).where(*scope.conditions()).limit(1)
    return conn.execute(statement).first() is not None


def _first_seq_added_after(added_after: int) -> sa.ScalarSelect[Any]:
    """Return the ``seq`` of the first row added after ``added_after``.

    The bound is redundant with ``date_added > added_after``, because ``seq``
    and ``date_added`` grow together, but it lets the page scan start at that
    row through the primary key. Without it SQLite reads the table from the
    start on every poll.
    """
    return (
        sa.select(_first_added.c.seq)
        .where(_first_added.c.date_added > added_after)
        .order_by(_first_added.c.date_added)
        .limit(1)
        .scalar_subquery()
    )


def _version_condition(versions: VersionMatch) -> sa.ColumnElement[bool] | None:
    if versions.all:
        return None
    so = stix_objects.c
    parts: list[sa.ColumnElement[bool]] = []
    if versions.last:
        parts.append(so.is_latest.is_(True))
    if versions.first:
        parts.append(
            ~sa.exists().where(
                _older.c.stix_id == so.stix_id, _older.c.modified < so.modified
            )
        )
    if versions.timestamps:
        parts.append(so.modified.in_(sorted(versions.timestamps)))
    if not parts:
        return None
    return sa.or_(*parts)
