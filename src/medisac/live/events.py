"""Change events: new, updated and withdrawn indicators in commit order.

Every published version of an indicator is a row of ``stix_objects``, whose
``seq`` grows in commit order because writers hold the publish lock until
they commit. An event's id is that ``seq``, so a reader resumes after the
last id it received. Every server process reads the same events from
the store, including those that other processes committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.members.access import Audience
from medisac.model import TLP
from medisac.model.time import format_rfc3339, now_us
from medisac.store.tables import (
    indicators,
    live_subscriptions,
    red_recipients,
    stix_objects,
)


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One committed change of one indicator."""

    seq: int
    kind: str  # "new", "updated" or "withdrawn"
    stix_id: str
    type: str
    value: str
    confidence: int
    tlp: TLP
    # The indicator's current level, which must be readable too.
    current_tlp: TLP
    healthcare: bool
    state: str
    date_added: int
    red_orgs: frozenset[str] = frozenset()

    def body(self) -> dict[str, Any]:
        """Return the JSON form that the stream and webhooks send."""
        return {
            "event": self.kind,
            "seq": self.seq,
            "id": self.stix_id,
            "type": self.type,
            "value": self.value,
            "confidence": self.confidence,
            "tlp": self.tlp.label,
            "healthcare": self.healthcare,
            "state": self.state,
            "committed": format_rfc3339(self.date_added),
        }


@dataclass(frozen=True, slots=True)
class Subscription:
    """A reader's filters on top of what its audience may read."""

    types: frozenset[str] = frozenset()
    min_confidence: int = 0
    healthcare_only: bool = False

    def narrowed(
        self,
        types: frozenset[str] = frozenset(),
        min_confidence: int = 0,
        healthcare_only: bool = False,
    ) -> Subscription:
        """Return these filters narrowed further by a request's own."""
        merged = self.types & types if self.types and types else self.types | types
        return Subscription(
            types=merged,
            min_confidence=max(self.min_confidence, min_confidence),
            healthcare_only=self.healthcare_only or healthcare_only,
        )

    def accepts(self, event: ChangeEvent) -> bool:
        """Tell whether ``event`` passes the filters.

        A withdrawal passes whatever its confidence, so a reader hears about
        a value it may hold even if its confidence dropped first.
        """
        if self.types and event.type not in self.types:
            return False
        if self.healthcare_only and not event.healthcare:
            return False
        return event.kind == "withdrawn" or event.confidence >= self.min_confidence


def visible(event: ChangeEvent, audience: Audience) -> bool:
    """Tell whether ``audience`` may read ``event`` (its version and its record)."""
    return audience.may_read(event.tlp, event.red_orgs) and audience.may_read(
        event.current_tlp, event.red_orgs
    )


def latest_seq(conn: Connection) -> int:
    """Return the ``seq`` of the newest published object, 0 for none."""
    value = conn.execute(sa.select(sa.func.max(stix_objects.c.seq))).scalar()
    return int(value or 0)


def load_events(conn: Connection, after: int, limit: int = 5_000) -> list[ChangeEvent]:
    """Return the indicator events with ``seq`` above ``after``, oldest first."""
    so, ic = stix_objects.c, indicators.c
    rows = conn.execute(
        sa.select(
            so.seq,
            so.stix_id,
            so.active,
            so.tlp,
            so.healthcare,
            so.date_added,
            so.indicator_id,
            ic.type,
            ic.value,
            ic.confidence,
            ic.tlp.label("current_tlp"),
            ic.state,
        )
        .join(indicators, ic.id == so.indicator_id)
        .where(so.seq > after, so.stix_type == "indicator")
        .order_by(so.seq)
        .limit(limit)
    ).all()
    if not rows:
        return []
    first_seqs = _first_seqs(conn, sorted({row.stix_id for row in rows}))
    red = _red_orgs(conn, [row.indicator_id for row in rows if _is_red(row)])
    events = []
    for row in rows:
        if not row.active:
            kind = "withdrawn"
        elif first_seqs.get(row.stix_id) == row.seq:
            kind = "new"
        else:
            kind = "updated"
        events.append(
            ChangeEvent(
                seq=row.seq,
                kind=kind,
                stix_id=row.stix_id,
                type=row.type,
                value=row.value,
                confidence=row.confidence,
                tlp=TLP(row.tlp),
                current_tlp=TLP(row.current_tlp),
                healthcare=bool(row.healthcare),
                state=row.state,
                date_added=row.date_added,
                red_orgs=red.get(row.indicator_id, frozenset()),
            )
        )
    return events


def load_subscription(conn: Connection, org_id: str | None) -> Subscription:
    """Return an organisation's stored filters; none for operators."""
    if org_id is None:
        return Subscription()
    row = conn.execute(
        sa.select(live_subscriptions).where(live_subscriptions.c.org_id == org_id)
    ).first()
    if row is None:
        return Subscription()
    return Subscription(
        types=frozenset(orjson.loads(row.types)),
        min_confidence=row.min_confidence,
        healthcare_only=bool(row.healthcare_only),
    )


def save_subscription(
    conn: Connection, org_id: str, subscription: Subscription
) -> None:
    """Store an organisation's filters, replacing the old ones."""
    values = {
        "types": orjson.dumps(sorted(subscription.types)).decode(),
        "min_confidence": subscription.min_confidence,
        "healthcare_only": subscription.healthcare_only,
        "modified": now_us(),
    }
    ls = live_subscriptions.c
    updated = conn.execute(
        sa.update(live_subscriptions).where(ls.org_id == org_id).values(**values)
    ).rowcount
    if not updated:
        conn.execute(sa.insert(live_subscriptions).values(org_id=org_id, **values))


def _is_red(row: Any) -> bool:
    return bool(row.tlp == int(TLP.RED) or row.current_tlp == int(TLP.RED))


def _first_seqs(conn: Connection, stix_ids: list[str]) -> dict[str, int]:
    so = stix_objects.c
    found: dict[str, int] = {}
    for start in range(0, len(stix_ids), 2_000):
        chunk = stix_ids[start : start + 2_000]
        rows = conn.execute(
            sa.select(so.stix_id, sa.func.min(so.seq))
            .where(so.stix_id.in_(chunk))
            .group_by(so.stix_id)
        )
        found.update((stix_id, int(seq)) for stix_id, seq in rows)
    return found


def _red_orgs(conn: Connection, indicator_ids: list[int]) -> dict[int, frozenset[str]]:
    if not indicator_ids:
        return {}
    rc = red_recipients.c
    named: dict[int, set[str]] = {}
    rows = conn.execute(
        sa.select(rc.indicator_id, rc.org_id).where(
            rc.indicator_id.in_(sorted(set(indicator_ids)))
        )
    )
    for indicator_id, org_id in rows:
        named.setdefault(indicator_id, set()).add(org_id)
    return {key: frozenset(value) for key, value in named.items()}
