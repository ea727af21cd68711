"""Seeding ``stix_objects`` the way the publisher does, and calling the TAXII app.

The seeder writes rows under the publish lock with increasing ``seq`` and
unique, increasing ``date_added``, and marks the previous version of an id
as no longer latest, which is what the TAXII server relies on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from medisac.model import TLP, IndicatorType, State
from medisac.model.time import parse_rfc3339, to_us
from medisac.stix import (
    STATIC_OBJECTS,
    IndicatorView,
    SourceClaim,
    render_indicator,
    stix_id_for,
)
from medisac.store.engine import begin_write
from medisac.store.tables import stix_objects

# 2024-05-01T08:00:00Z, in microseconds.
BASE_US = 1_714_550_400_000_000
TAXII_ACCEPT = "application/taxii+json;version=2.1"
INDICATORS = "c12f9c5b-aebf-420e-8d9a-c760e5a6bbe9"
HEALTHCARE = "a88d4b26-7b43-460b-8902-1ff67a80d17d"


def make_view(
    value: str,
    kind: IndicatorType = IndicatorType.DOMAIN,
    *,
    modified: int = BASE_US,
    created: int = BASE_US,
    tlp: TLP = TLP.GREEN,
    state: State = State.ACTIVE,
    confidence: int = 50,
    healthcare: bool = False,
    tags: tuple[str, ...] = (),
    context: Mapping[str, Any] | None = None,
    sources: tuple[SourceClaim, ...] | None = None,
) -> IndicatorView:
    """Return a view of one indicator with plausible defaults."""
    if sources is None:
        sources = (SourceClaim("test-feed", confidence, tlp, created, modified, None),)
    return IndicatorView(
        stix_id=stix_id_for(kind, value),
        type=kind,
        value=value,
        state=state,
        confidence=confidence,
        tlp=tlp,
        first_seen=created,
        last_seen=modified,
        valid_until=None,
        created=created,
        modified=modified,
        tags=tags,
        context=dict(context or {}),
        healthcare=healthcare,
        to_ids=True,
        sources=sources,
    )


@dataclass
class Published:
    """One row the seeder wrote."""

    stix_id: str
    seq: int
    date_added: int
    modified: int


@dataclass
class Seeder:
    """Append published versions to ``stix_objects`` as the publisher does."""

    engine: Engine
    rows: list[Published] = field(default_factory=list)

    def static(self) -> list[Published]:
        """Publish the identity and the TLP marking definitions."""
        items = []
        for obj in STATIC_OBJECTS:
            modified = to_us(parse_rfc3339(obj.get("modified", obj["created"])))
            items.append((obj, modified, TLP.CLEAR, False, True))
        return self._append(items, None)

    def views(
        self, views: Sequence[IndicatorView], date_added: Sequence[int] | None = None
    ) -> list[Published]:
        """Publish one new version per view, in order.

        ``date_added`` gives each row's date_added; by default each row gets
        the previous row's plus one microsecond.
        """
        items = [
            (
                render_indicator(view),
                view.modified,
                view.tlp,
                view.healthcare,
                view.state is State.ACTIVE,
            )
            for view in views
        ]
        return self._append(items, date_added)

    def _append(
        self,
        items: list[tuple[dict[str, Any], int, TLP, bool, bool]],
        date_added: Sequence[int] | None,
    ) -> list[Published]:
        so = stix_objects.c
        written = []
        with begin_write(self.engine) as conn:
            last_seq, last_added = conn.execute(
                sa.select(sa.func.max(so.seq), sa.func.max(so.date_added))
            ).one()
            seq = last_seq or 0
            added = last_added or BASE_US
            for index, (body, modified, tlp, healthcare, active) in enumerate(items):
                seq += 1
                wanted = added + 1 if date_added is None else date_added[index]
                assert wanted > added, "date_added must grow with seq"
                added = wanted
                conn.execute(
                    sa.update(stix_objects)
                    .where(so.stix_id == body["id"], so.is_latest.is_(True))
                    .values(is_latest=False)
                )
                conn.execute(
                    sa.insert(stix_objects).values(
                        seq=seq,
                        stix_id=body["id"],
                        stix_type=body["type"],
                        modified=modified,
                        date_added=added,
                        is_latest=True,
                        active=active,
                        healthcare=healthcare,
                        tlp=int(tlp),
                        body=orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode(),
                    )
                )
                written.append(Published(body["id"], seq, added, modified))
        self.rows.extend(written)
        return written


@dataclass(frozen=True)
class Keys:
    """API keys for each kind of caller."""

    admin: str
    amber: str
    green: str
    no_read: str
    revoked: str


def auth(key: str) -> dict[str, str]:
    """Return request headers that authenticate with ``key`` as a Bearer token."""
    return {"Authorization": f"Bearer {key}", "Accept": TAXII_ACCEPT}


def collection_path(collection: str = INDICATORS, rest: str = "") -> str:
    """Return the path of a collection resource below the mount point."""
    return f"/taxii2/api/collections/{collection}/{rest}"
