"""Apply a sensor batch to the store exactly once.

The batch's row in ``sensor_batches`` is inserted in the transaction that
merges its values and stores its sightings, so a batch that is retried by
the sensor, or delivered again after a worker died, changes nothing the
second time. A value the sensor's source has not claimed yet, or claimed
longer than :data:`REFRESH_US` ago, goes through the merge like any other
source's value (a new indicator, or a fresh claim that counts as one more
source); every sighting adds to the indicator's sighting counts.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from medisac.enrich.benign import KnownBenign
from medisac.members.sightings import Report, ReportKind, ReportStatus, record_reports
from medisac.members.submissions import source_name
from medisac.model import TLP, IndicatorType
from medisac.model.time import now_us
from medisac.sensors.batch import SensorBatch, Sighting
from medisac.store.engine import PUBLISH_LOCK_KEY, begin_write
from medisac.store.merge import Candidate, Merger, SourceInfo, ensure_source
from medisac.store.tables import indicators, provenance, sensor_batches, sightings

log = logging.getLogger(__name__)

# A sensor's claim on a value is renewed through the merge at most this often
# (one hour); sightings in between only add to the counts.
REFRESH_US = 3600 * 1_000_000
# Confidence of a claim that a sensor's sighting makes.
SENSOR_CONFIDENCE = 50
# (type, value) pairs per IN (...) lookup.
_CHUNK = 2_000
# Seconds between reloads of the known-benign lists (the operator's allow
# list can change while a worker runs).
_BENIGN_RELOAD_S = 300


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """The effect of applying one batch."""

    batch_id: str
    duplicate: bool
    sightings: int = 0
    merged: int = 0
    new_indicators: int = 0


def sensor_source_name(sender: str) -> str:
    """Return the source name of a sender's sensors: a pseudonym, as for submissions."""
    if sender.startswith("key-"):
        return f"sensor-{sender}"
    return f"sensor-{source_name(sender)}"


class _AppliedMeanwhile(Exception):
    """Some batches of a group were applied by another transaction."""


class BatchApplier:
    """The batch applier of one process, which caches each sender's source."""

    def __init__(self, engine: Engine, *, clock: Callable[[], int] = now_us) -> None:
        self.engine = engine
        self.clock = clock
        self._sources: dict[str, SourceInfo] = {}
        self._benign: KnownBenign | None = None
        self._benign_loaded = 0.0

    def apply(self, batch: SensorBatch) -> BatchOutcome:
        """Apply ``batch`` in one transaction, or do nothing if it was applied."""
        return self.apply_many([batch])[0]

    def apply_many(self, batches: Sequence[SensorBatch]) -> list[BatchOutcome]:
        """Apply batches of one sender in one transaction; one outcome each.

        Applying several together stores one sighting row per indicator for
        all of them, which is what makes a busy queue cheaper to drain.
        """
        senders = {batch.sender for batch in batches}
        if len(senders) != 1:
            raise ValueError("apply_many takes the batches of one sender")
        source = self._source(batches[0].sender)
        now = self.clock()
        with self.engine.connect() as conn:
            done = _applied(conn, batches)
        fresh: dict[str, SensorBatch] = {}
        for batch in batches:
            if batch.batch_id not in done:
                fresh.setdefault(batch.batch_id, batch)
        outcomes = {
            b.batch_id: BatchOutcome(b.batch_id, duplicate=True) for b in batches
        }
        if not fresh:
            return [outcomes[b.batch_id] for b in batches]
        group = list(fresh.values())
        keys = {(s.type, s.value) for b in group for s in b.sightings}
        with self.engine.connect() as conn:
            known = _lookup(conn, keys, source.id)
        stale = {key for key in keys if _needs_claim(known.get(key), now)}
        # On SQLite the merge needs the database lock from the start. On
        # PostgreSQL _write takes the publish lock late, so that two workers
        # store their sightings at the same time and hold the lock only for
        # the merge and the commit.
        sqlite_merge = bool(stale) and self.engine.dialect.name == "sqlite"
        begin = begin_write(self.engine) if sqlite_merge else self.engine.begin()
        try:
            with begin as conn:
                self._write(conn, source, group, known, stale, now, outcomes)
        except _AppliedMeanwhile:
            # Another worker applied some of them meanwhile: the transaction
            # is rolled back, and the rest are applied one by one.
            return self._one_by_one(batches, outcomes)
        log.debug(
            "applied %d sensor batch(es) of %s: %d values merged",
            len(group),
            group[0].sender,
            len(stale),
        )
        return [outcomes[b.batch_id] for b in batches]

    def _write(
        self,
        conn: Connection,
        source: SourceInfo,
        group: list[SensorBatch],
        known: dict[tuple[str, str], tuple[int, int | None]],
        stale: set[tuple[str, str]],
        now: int,
        outcomes: dict[str, BatchOutcome],
    ) -> None:
        """Claim, merge and count ``group`` inside the transaction on ``conn``."""
        claimed = _claim(conn, group, now)
        if claimed != {batch.batch_id for batch in group}:
            raise _AppliedMeanwhile
        _store_reports(conn, group[0].org_id, _totals(group, known, skip=stale))
        new_keys: set[tuple[str, str]] = set()
        if stale:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": PUBLISH_LOCK_KEY},
                )
            self._merge(conn, source, group, stale)
            new_keys = stale - known.keys()
            merged = _lookup(conn, stale, source.id)
            _store_reports(conn, group[0].org_id, _totals(group, merged, only=stale))
        for batch in group:
            mine = {(s.type, s.value) for s in batch.sightings} & new_keys
            new_keys -= mine
            outcomes[batch.batch_id] = BatchOutcome(
                batch.batch_id,
                False,
                batch.total,
                len({(s.type, s.value) for s in batch.sightings} & stale),
                len(mine),
            )
            if mine:
                conn.execute(
                    sa.update(sensor_batches)
                    .where(
                        sensor_batches.c.sender == batch.sender,
                        sensor_batches.c.batch_id == batch.batch_id,
                    )
                    .values(new_indicators=len(mine))
                )

    def _one_by_one(
        self, batches: Sequence[SensorBatch], outcomes: dict[str, BatchOutcome]
    ) -> list[BatchOutcome]:
        seen: set[str] = set()
        for batch in batches:
            if batch.batch_id not in seen and len(batches) > 1:
                outcomes[batch.batch_id] = self.apply_many([batch])[0]
            seen.add(batch.batch_id)
        return [outcomes[b.batch_id] for b in batches]

    def _source(self, sender: str) -> SourceInfo:
        source = self._sources.get(sender)
        if source is not None:
            return source
        # begin_write serialises writers, so two workers never both insert it.
        with begin_write(self.engine) as conn:
            source = ensure_source(
                conn,
                sensor_source_name(sender),
                default_tlp=TLP.AMBER,
                default_confidence=SENSOR_CONFIDENCE,
                kind="sensor",
            )
        self._sources[sender] = source
        return source

    def _known_benign(self, conn: Connection) -> KnownBenign:
        if (
            self._benign is None
            or time.monotonic() - self._benign_loaded > _BENIGN_RELOAD_S
        ):
            self._benign = KnownBenign.load(conn)
            self._benign_loaded = time.monotonic()
        return self._benign

    def _merge(
        self,
        conn: Connection,
        source: SourceInfo,
        group: Sequence[SensorBatch],
        stale: set[tuple[str, str]],
    ) -> None:
        spans: dict[tuple[str, str], tuple[int, int, SensorBatch]] = {}
        for batch in group:
            for item in batch.sightings:
                key = (item.type, item.value)
                if key not in stale:
                    continue
                old = spans.get(key)
                if old is None:
                    spans[key] = (item.first_seen, item.last_seen, batch)
                else:
                    first = min(old[0], item.first_seen)
                    spans[key] = (first, max(old[1], item.last_seen), old[2])
        candidates = [
            Candidate(
                type=IndicatorType(kind),
                value=value,
                location=f"sensor batch {batch.batch_id}",
                first_seen=first,
                last_seen=last,
                tlp=batch.tlp,
                confidence=SENSOR_CONFIDENCE,
                tags=frozenset({"sensor-sighting"}),
            )
            for (kind, value), (first, last, batch) in spans.items()
        ]
        merger = Merger(
            self.engine, source, benign=self._known_benign(conn), clock=self.clock
        )
        merger.merge_in(conn, candidates)


def _needs_claim(entry: tuple[int, int | None] | None, now: int) -> bool:
    """Tell whether the sensor's source must (re)claim a stored value."""
    if entry is None or entry[1] is None:
        return True
    return entry[1] < now - REFRESH_US


def _applied(conn: Connection, batches: Sequence[SensorBatch]) -> set[str]:
    """Return the ids of ``batches`` that are already applied."""
    sb = sensor_batches.c
    return set(
        conn.execute(
            sa.select(sb.batch_id).where(
                sb.sender == batches[0].sender,
                sb.batch_id.in_(sorted({b.batch_id for b in batches})),
            )
        ).scalars()
    )


def _claim(conn: Connection, group: Sequence[SensorBatch], now: int) -> set[str]:
    """Insert the batches' rows; return the ids this transaction inserted.

    On PostgreSQL a concurrent insert of the same key waits for the other
    transaction and then inserts nothing, so two workers never both apply
    a batch.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(sensor_batches)
        .values(
            [
                {
                    "sender": batch.sender,
                    "batch_id": batch.batch_id,
                    "received": batch.received,
                    "applied": now,
                    "sightings": batch.total,
                    "new_indicators": 0,
                }
                for batch in group
            ]
        )
        .on_conflict_do_nothing()
        .returning(sensor_batches.c.batch_id)
    )
    return set(conn.execute(statement).scalars())


def _lookup(
    conn: Connection, keys: Iterable[tuple[str, str]], source_id: int
) -> dict[tuple[str, str], tuple[int, int | None]]:
    """Return (indicator id, this source's claim's last_seen) per stored key."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for kind, value in keys:
        by_type[kind].append(value)
    ic, pc = indicators.c, provenance.c
    found: dict[tuple[str, str], tuple[int, int | None]] = {}
    joined = indicators.outerjoin(
        provenance, sa.and_(pc.indicator_id == ic.id, pc.source_id == source_id)
    )
    columns = (ic.type, ic.value, ic.id, pc.last_seen)
    postgres = conn.dialect.name == "postgresql"
    for kind, values in by_type.items():
        if postgres:
            # One array parameter instead of an IN (...) list of thousands.
            rows = conn.execute(
                sa.select(*columns)
                .select_from(joined)
                .where(ic.type == kind, ic.value == sa.any_(_text_array(values)))
            )
            found.update(((r.type, r.value), (r.id, r.last_seen)) for r in rows)
            continue
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            rows = conn.execute(
                sa.select(*columns)
                .select_from(joined)
                .where(ic.type == kind, ic.value.in_(chunk))
            )
            found.update(((r.type, r.value), (r.id, r.last_seen)) for r in rows)
    return found


def _text_array(values: list[str]) -> Any:
    return sa.bindparam(None, values, type_=postgresql.ARRAY(sa.Text))


_SIGHTING_COLUMNS = (
    "indicator_id",
    "org_id",
    "kind",
    "count",
    "first_seen",
    "last_seen",
    "origin",
    "status",
    "created",
)


def _store_reports(
    conn: Connection, org_id: str | None, totals: dict[int, list[int]]
) -> None:
    """Insert one accepted sighting row per indicator in ``totals``.

    PostgreSQL gets the rows by COPY, which costs a fraction of an INSERT
    per row; SQLite through :func:`record_reports`.
    """
    if not totals:
        return
    if conn.dialect.name != "postgresql":
        record_reports(
            conn,
            [
                Report(
                    indicator_id=indicator_id,
                    kind=ReportKind.SIGHTING,
                    first_seen=first,
                    last_seen=last,
                    origin="sensor",
                    org_id=org_id,
                    count=count,
                    status=ReportStatus.ACCEPTED,
                )
                for indicator_id, (count, first, last) in totals.items()
            ],
        )
        return
    now = now_us()
    kind, status = ReportKind.SIGHTING.value, ReportStatus.ACCEPTED.value
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    columns = ", ".join(_SIGHTING_COLUMNS)
    with cursor.copy(f"COPY {sightings.name} ({columns}) FROM STDIN") as copy:
        for indicator_id, (count, first, last) in totals.items():
            copy.write_row(
                (indicator_id, org_id, kind, count, first, last, "sensor", status, now)
            )


def _totals(
    group: Sequence[SensorBatch],
    known: dict[tuple[str, str], tuple[int, int | None]],
    *,
    skip: set[tuple[str, str]] | None = None,
    only: set[tuple[str, str]] | None = None,
) -> dict[int, list[int]]:
    """Return [count, first seen, last seen] per indicator sighted in the batches.

    Sightings of values in ``skip``, or of values not in ``only``, are left out.
    """
    totals: dict[int, list[int]] = {}
    missing = 0
    for batch in group:
        for item in batch.sightings:
            key = (item.type, item.value)
            if (skip is not None and key in skip) or (
                only is not None and key not in only
            ):
                continue
            entry = known.get(key)
            if entry is None:
                missing += 1
                continue
            _add(totals, entry[0], item)
    if missing:
        # Every value is stored by the merge before this runs.
        log.error("%d sensor sighting(s) matched no indicator", missing)
    return totals


def _add(totals: dict[int, list[int]], indicator_id: int, item: Sighting) -> None:
    entry = totals.get(indicator_id)
    if entry is None:
        totals[indicator_id] = [item.count, item.first_seen, item.last_seen]
        return
    entry[0] += item.count
    entry[1] = min(entry[1], item.first_seen)
    entry[2] = max(entry[2], item.last_seen)
