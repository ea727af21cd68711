"""Expire indicators whose ``valid_until`` has passed.

A value that an enabled source still lists is not expired but extended:
the claim's age basis (``listed_at``) moves to the current time and a new
version with a later ``valid_until`` is published. A source whose reads fail
keeps its last listing, so an outage of any length expires nothing it
listed. Claims of a disabled source are not extended, and values that no
enabled source lists any more expire as their score decays.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from medisac.model import State
from medisac.model.time import now_us
from medisac.store.engine import begin_write
from medisac.store.tables import indicators, provenance, sources

log = logging.getLogger(__name__)

# Indicators recomputed per write transaction.
_CHUNK = 5_000


def expire_due(engine: Engine, now: int | None = None) -> int:
    """Publish a new version of every active indicator whose time is up.

    An indicator is due when its ``valid_until`` is at or before ``now`` (µs
    since the epoch, default the current time). Its view is recomputed at
    ``now``: a value that an enabled source still lists gets a later
    ``valid_until``, any other expires and leaves every collection. Returns
    how many indicators expired. When nothing is due this costs one indexed
    read and takes no write lock; the scheduler runs it periodically.
    """
    # Imported here because the merge imports this package's formula.
    from medisac.store.merge import republish

    when = now_us() if now is None else now
    with engine.connect() as conn:
        if not _due_ids(conn, when, limit=1):
            return 0
    expired = extended = 0
    while True:
        with begin_write(engine) as conn:
            # Read under the lock: a merge may have published since.
            due = _due_ids(conn, when, limit=_CHUNK)
            if not due:
                break
            _rebase_listed(conn, due, when)
            republish(conn, due, now=when)
            states = _states(conn, due, when)
        expired += states.count("expired")
        extended += states.count("extended")
        if "due" in states:
            # Recomputing left some due: stop rather than loop on them.
            log.error(
                "expiry: %d indicator(s) still due after recomputing",
                states.count("due"),
            )
            break
    log.info(
        "expiry: %d indicator(s) expired, %d still listed and extended",
        expired,
        extended,
    )
    return expired


def _due_ids(conn: Connection, now: int, *, limit: int) -> list[int]:
    ic = indicators.c
    return list(
        conn.execute(
            sa.select(ic.id)
            .where(ic.state == State.ACTIVE.value, ic.valid_until <= now)
            .order_by(ic.id)
            .limit(limit)
        ).scalars()
    )


def _rebase_listed(conn: Connection, ids: list[int], now: int) -> None:
    """Move the age basis of claims that enabled sources still list to ``now``."""
    pc, sc = provenance.c, sources.c
    enabled = sa.select(sc.id).where(sc.enabled.is_(True))
    conn.execute(
        sa.update(provenance)
        .where(
            pc.indicator_id.in_(ids),
            pc.active.is_(True),
            pc.listed_at.is_not(None),
            pc.listed_at < now,
            pc.source_id.in_(enabled),
        )
        .values(listed_at=now)
    )


def _states(conn: Connection, ids: list[int], now: int) -> list[str]:
    """Say for each indicator whether it expired, was extended or is still due."""
    ic = indicators.c
    rows = conn.execute(sa.select(ic.state, ic.valid_until).where(ic.id.in_(ids))).all()
    return [
        "expired"
        if row.state != State.ACTIVE.value
        else "extended"
        if row.valid_until is None or row.valid_until > now
        else "due"
        for row in rows
    ]
