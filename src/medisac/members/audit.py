"""The audit log: every write, key change and read of AMBER or RED data.

Rows are only ever inserted; no code path of medisac updates or deletes
them. Each names the organisation and key that acted (None for the
operator's command line) and what was touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.model.time import now_us
from medisac.store.tables import audit_log


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log."""

    id: int
    at: int
    org_id: str | None
    key_id: int | None
    action: str
    target: str
    detail: dict[str, Any]


def record(
    conn: Connection,
    action: str,
    target: str,
    *,
    org_id: str | None = None,
    key_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry to the audit log inside the caller's transaction."""
    conn.execute(
        sa.insert(audit_log).values(
            at=now_us(),
            org_id=org_id,
            key_id=key_id,
            action=action,
            target=target,
            detail=orjson.dumps(detail or {}).decode(),
        )
    )


def query(
    conn: Connection,
    *,
    since: int | None = None,
    org_id: str | None = None,
    action: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Return the newest entries first, narrowed by time, organisation and action.

    ``action`` matches a whole action or a prefix ending in a dot, so
    ``key.`` finds every key change.
    """
    log = audit_log.c
    statement = sa.select(audit_log).order_by(log.id.desc()).limit(limit)
    if since is not None:
        statement = statement.where(log.at >= since)
    if org_id is not None:
        statement = statement.where(log.org_id == org_id)
    if action is not None:
        if action.endswith("."):
            statement = statement.where(log.action.startswith(action, autoescape=True))
        else:
            statement = statement.where(log.action == action)
    return [
        AuditEntry(
            id=row.id,
            at=row.at,
            org_id=row.org_id,
            key_id=row.key_id,
            action=row.action,
            target=row.target,
            detail=orjson.loads(row.detail),
        )
        for row in conn.execute(statement)
    ]
