"""The TLP rule that every read path applies to decide what a reader receives.

A reader's :class:`Audience` becomes a SQL condition on a table's TLP and
indicator id columns. TAXII pages, counts and ``next`` tokens, the JSON
API, served exports and searches on behalf of an organisation all filter in
the database with it, so they all apply the same rule:

- an operator (an admin key without an organisation) reads everything;
- a member reads records up to its clearance, and never above AMBER+STRICT
  by clearance alone;
- a TLP:RED record goes only to the organisations named on it (the
  ``red_recipients`` table), whatever their clearance.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import ColumnElement

from medisac.model import TLP
from medisac.store.tables import advisory_recipients, indicators, red_recipients

_CURRENT = indicators.alias("current_indicator")

# The most restrictive level a clearance alone can reach, because RED also
# needs the reader named on the record.
MAX_CLEARANCE = TLP.AMBER_STRICT


@dataclass(frozen=True, slots=True)
class Audience:
    """The records one reader may receive.

    ``clearance`` is the most restrictive TLP level read by clearance (RED
    only for operators); ``org_id`` is the organisation RED records must
    name for this reader to receive them.
    """

    clearance: TLP
    org_id: str | None = None
    operator: bool = False

    @classmethod
    def everything(cls) -> Audience:
        """Return the operator's audience: every record at every level."""
        return cls(clearance=TLP.RED, operator=True)

    @classmethod
    def member(cls, org_id: str | None, clearance: TLP) -> Audience:
        """Return a member's audience at ``clearance``, capped at AMBER+STRICT."""
        return cls(clearance=min(clearance, MAX_CLEARANCE), org_id=org_id)

    def narrowed(self, ceiling: TLP) -> Audience:
        """Return this audience limited to ``ceiling``, as a request may ask."""
        if self.operator:
            return self if ceiling == TLP.RED else Audience(clearance=ceiling)
        return Audience(
            clearance=min(self.clearance, ceiling),
            org_id=self.org_id if ceiling == TLP.RED else None,
        )

    def may_read(self, tlp: TLP, named: frozenset[str] = frozenset()) -> bool:
        """Tell whether a record at ``tlp`` that names ``named`` is readable."""
        if self.operator:
            return True
        if tlp <= self.clearance and tlp < TLP.RED:
            return True
        return tlp == TLP.RED and self.org_id is not None and self.org_id in named

    def condition(
        self,
        tlp_column: ColumnElement[int],
        indicator_id_column: ColumnElement[int],
    ) -> ColumnElement[bool]:
        """Return the SQL condition on a row's TLP and indicator id columns."""
        return self._readable_or_named(
            tlp_column,
            red_recipients.c.indicator_id == indicator_id_column,
            red_recipients.c.org_id,
        )

    def advisory_condition(
        self, tlp_column: ColumnElement[int], stix_id_column: ColumnElement[str]
    ) -> ColumnElement[bool]:
        """Return the SQL condition on an advisory's TLP and STIX id columns.

        A TLP:RED advisory goes only to the organisations named in
        ``advisory_recipients``.
        """
        return self._readable_or_named(
            tlp_column,
            advisory_recipients.c.stix_id == stix_id_column,
            advisory_recipients.c.org_id,
        )

    def _readable_or_named(
        self,
        tlp_column: ColumnElement[int],
        recipient_of_row: ColumnElement[bool],
        recipient_org: ColumnElement[str],
    ) -> ColumnElement[bool]:
        """Return: readable by clearance, or RED with this organisation named.

        ``recipient_of_row`` joins a recipients table to the row, and
        ``recipient_org`` is that table's organisation column.
        """
        if self.operator:
            return sa.true()
        readable = tlp_column <= int(min(self.clearance, MAX_CLEARANCE))
        if self.org_id is None:
            return readable
        named = sa.exists().where(recipient_of_row, recipient_org == self.org_id)
        return sa.or_(readable, sa.and_(tlp_column == int(TLP.RED), named))

    def version_condition(
        self,
        tlp_column: ColumnElement[int],
        indicator_id_column: ColumnElement[int],
        stix_id_column: ColumnElement[str] | None = None,
    ) -> ColumnElement[bool]:
        """Return the condition on a published version of an indicator.

        A version is readable when its own level is, and when the indicator's
        current level is too: a record raised to RED takes its older, less
        restricted versions away from every reader it is not shared with.
        Objects of no indicator (identity, markings, vulnerabilities) need
        only their own level. With ``stix_id_column``, a TLP:RED object of no
        indicator is also readable by the organisations an advisory names.
        """
        if self.operator:
            return sa.true()
        if stix_id_column is not None:
            advisory = sa.and_(
                indicator_id_column.is_(None),
                self.advisory_condition(tlp_column, stix_id_column),
            )
            return sa.or_(
                advisory, self.version_condition(tlp_column, indicator_id_column)
            )
        # An alias, so that the subquery stays its own when the outer query
        # joins the indicators table too.
        ic = _CURRENT.c
        current = sa.exists().where(
            ic.id == indicator_id_column, self.condition(ic.tlp, ic.id)
        )
        return sa.and_(
            self.condition(tlp_column, indicator_id_column),
            sa.or_(indicator_id_column.is_(None), current),
        )
