"""Analysts' decisions on one indicator from the portal, published as the CLI's are."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.enrich.marks import (
    clear_false_positive,
    mark_false_positive,
    set_healthcare,
    set_tlp,
)
from medisac.errors import MedisacError
from medisac.members import audit
from medisac.model import TLP, State
from medisac.store.merge import republish
from medisac.store.tables import indicators

ACTIONS = (
    "false-positive",
    "clear",
    "revoke",
    "tlp",
    "confidence",
    "healthcare",
)


class CurationError(MedisacError):
    """A decision names an unknown action or an invalid value."""


def _update(conn: Connection, indicator_id: int, **values: object) -> None:
    conn.execute(
        sa.update(indicators).where(indicators.c.id == indicator_id).values(**values)
    )
    republish(conn, [indicator_id])


def revoke(conn: Connection, indicator_id: int) -> None:
    """Revoke the indicator: it leaves every collection and export for good."""
    _update(conn, indicator_id, state=State.REVOKED.value)


def set_confidence(conn: Connection, indicator_id: int, confidence: int | None) -> None:
    """Set the analyst's confidence (0-100); None lets the scoring decide again."""
    if confidence is not None and not 0 <= confidence <= 100:
        raise CurationError(f"confidence {confidence} is not between 0 and 100")
    _update(conn, indicator_id, analyst_confidence=confidence)


def apply_decision(
    conn: Connection,
    stix_id: str,
    action: str,
    *,
    value: str = "",
    recipients: Sequence[str] = (),
    analyst: str,
) -> None:
    """Apply one analyst decision to the indicator ``stix_id`` and audit it.

    ``value`` is the TLP level (or ``auto``), the confidence (or ``auto``)
    or the healthcare flag (``yes``, ``no`` or ``auto``), as the action needs.
    Raises :class:`CurationError`.
    """
    row = conn.execute(
        sa.select(indicators.c.id).where(indicators.c.stix_id == stix_id)
    ).first()
    if row is None:
        raise CurationError(f"no indicator {stix_id}")
    indicator_id = int(row.id)
    value = value.strip().lower()
    if action == "false-positive":
        mark_false_positive(conn, indicator_id)
    elif action == "clear":
        clear_false_positive(conn, indicator_id)
    elif action == "revoke":
        revoke(conn, indicator_id)
    elif action == "tlp":
        level = _level(value)
        if recipients and level is not TLP.RED:
            raise CurationError("organisations are named only for TLP:RED")
        set_tlp(conn, indicator_id, level, recipients)
    elif action == "confidence":
        set_confidence(conn, indicator_id, _confidence(value))
    elif action == "healthcare":
        flags = {"yes": True, "no": False, "auto": None}
        if value not in flags:
            raise CurationError(f"healthcare is yes, no or auto, not {value!r}")
        set_healthcare(conn, indicator_id, flags[value])
    else:
        raise CurationError(f"unknown action {action!r}; use one of {ACTIONS}")
    audit.record(
        conn,
        "mark",
        stix_id,
        detail={"action": action, "value": value or None, "by": analyst},
    )


def _level(value: str) -> TLP | None:
    if value in ("", "auto"):
        return None
    try:
        return TLP.parse(value)
    except ValueError as exc:
        raise CurationError(str(exc)) from None


def _confidence(value: str) -> int | None:
    if value in ("", "auto"):
        return None
    try:
        return int(value)
    except ValueError:
        raise CurationError(
            f"confidence {value!r} is not a number from 0 to 100"
        ) from None
