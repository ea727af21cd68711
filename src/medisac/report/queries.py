"""Shared parts of the report's queries: thresholds, columns, weeks."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from medisac.model import State
from medisac.report.period import Month
from medisac.store.tables import (
    indicators,
    sightings,
    stix_objects,
)

# Minimum number of organisations whose sightings one figure may aggregate.
MIN_MEMBERS = 3
# Months before the report's month that the glance compares it with.
COMPARE_MONTHS = 3
DAY_US = 86_400_000_000

ic = indicators.c
so = stix_objects.c
sc = sightings.c


def stored_condition() -> sa.ColumnElement[bool]:
    """Indicators that count: every state but known-benign values."""
    return ic.state != State.BENIGN.value


def week_case(column: sa.ColumnElement[int], month: Month) -> sa.Case[Any]:
    """Return the SQL expression of the week label of ``column`` in ``month``."""
    return sa.case(
        *(
            ((column >= start) & (column < end), label)
            for label, start, end in month.weeks()
        ),
        else_=None,
    )
