"""Read pages of ``stix_objects`` rows for the objects, manifest and versions endpoints.

Each page is one query ordered by ``seq`` that fetches ``limit + 1`` rows. The
extra row only shows whether more rows follow. Rows the caller's audience
may not read (see :mod:`medisac.members.access`) are never read, so they
count in no page, total or ``next`` token.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.members.access import Audience
from medisac.store.tables import indicators, stix_objects
from medisac.store.views import VIEW_COLUMNS, VIEW_PREFIX
from medisac.taxii.collections import CollectionSpec
from medisac.taxii.filters import MatchFilter, VersionMatch
from medisac.taxii.paging import PageParams

_older = stix_objects.alias("older")
_first_added = stix_objects.alias("first_added")


@dataclass(frozen=True, slots=True)
class Scope:
    """The rows one request may see: a collection, for an audience, maybe one id."""

    collection: CollectionSpec
    audience: Audience
    object_id: str | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        """Return the SQL conditions that keep a row inside this scope."""
        so = stix_objects.c
        # Only the advisories collection serves objects that name RED
        # recipients of their own, so only its queries test for them.
        stix_id = so.stix_id if self.collection.alias == "advisories" else None
        found = [
            self.collection.condition(),
            self.audience.version_condition(so.tlp, so.indicator_id, stix_id),
        ]
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
) -> Page:
    """Select one page of rows with ``columns``, which must include ``seq``."""
    if not match.wants_served_spec:
        return Page(rows=(), more=False)
    statement = sa.select(*columns)
    rows = conn.execute(_page_statement(statement, scope, match, page)).all()
    return Page(rows=rows[: page.limit], more=len(rows) > page.limit)


# One row of an objects page: ``seq``, ``date_added`` and ``body`` of the
# version, then the indicator columns of VIEW_COLUMNS under their names in the
# ``indicators`` table, so that ``indicator_view(row)`` reads them without a
# prefix and ``view_from_columns(row[3:])`` by position. A namedtuple field is
# a descriptor on its class, while SQLAlchemy's Row reaches a column by name
# only in ``__getattr__``, after ordinary attribute lookup has failed.
# Building views from Row objects took more than twice as long. mypy cannot
# check a field list built at run time.
ObjectRow = namedtuple(  # type: ignore[misc]
    "ObjectRow",
    [
        "seq",
        "date_added",
        "body",
        *(column.name.removeprefix(VIEW_PREFIX) for column in VIEW_COLUMNS),
    ],
)
_OBJECT_JOIN = stix_objects.outerjoin(
    indicators,
    sa.and_(
        indicators.c.id == stix_objects.c.indicator_id,
        stix_objects.c.body.is_(None),
    ),
)
_OBJECT_SELECT = sa.select(
    stix_objects.c.seq, stix_objects.c.date_added, stix_objects.c.body, *VIEW_COLUMNS
).select_from(_OBJECT_JOIN)


def read_object_page(
    conn: Connection, scope: Scope, match: MatchFilter, page: PageParams
) -> Page:
    """Select one page of object versions as :data:`ObjectRow` tuples.

    A row without a stored ``body`` is the latest version of an indicator,
    and carries that indicator's columns, read in the same statement so that
    the body rendered from them matches the version row. Other rows carry
    None in those columns.
    """
    if not match.wants_served_spec:
        return Page(rows=(), more=False)
    statement = _page_statement(_OBJECT_SELECT, scope, match, page)
    make = ObjectRow._make
    rows = [make(row) for row in conn.execute(statement).all()]
    return Page(rows=rows[: page.limit], more=len(rows) > page.limit)


def _page_statement(
    statement: sa.Select[Any], scope: Scope, match: MatchFilter, page: PageParams
) -> sa.Select[Any]:
    """Add the scope, filters, order and ``limit + 1`` of a page to ``statement``."""
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
    return statement.where(*conditions).order_by(so.seq).limit(page.limit + 1)


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
