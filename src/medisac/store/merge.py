"""The merge step: one record per (type, canonical value), with provenance.

:class:`Merger` takes batches of :class:`Candidate` values from one source and
writes them in one transaction per batch:

1. versioned source objects (a STIX id, a MISP attribute uuid) are compared
   with the version already applied; older versions and repeats are dropped,
   and a same-time conflict is reported and the stored version kept;
2. new indicators are inserted, and this source's provenance row is inserted
   or updated for each value;
3. claims of a source object that a newer version (or a revocation) no longer
   makes are withdrawn from that source's provenance;
4. each touched indicator's aggregate (state, confidence, TLP, seen times,
   tags) is recomputed from all its provenance rows, and when its published
   content changes, a new STIX version is appended to ``stix_objects``.

Writers hold the publish lock (:func:`medisac.store.engine.begin_write`), so
ids, ``seq`` and ``date_added`` are assigned here in commit order and TAXII
paging sees a growing, gap-free sequence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from medisac.enrich.healthcare import is_healthcare
from medisac.model import TLP, IndicatorType, State
from medisac.model.time import now_us
from medisac.stix import IndicatorView, SourceClaim, stix_id_for
from medisac.store.engine import begin_write
from medisac.store.tables import (
    claims,
    indicators,
    provenance,
    source_objects,
    sources,
    stix_objects,
)
from medisac.store.views import indicator_view, render_body, sources_json

log = logging.getLogger(__name__)

# Values per IN (...) list; below SQLite's 32,766 bound-parameter limit.
_CHUNK = 5_000


@dataclass(slots=True)
class Candidate:
    """One normalised value from one source, ready to merge.

    Times are microseconds since the epoch. ``ref``/``version`` identify the
    versioned source object the value came from, if any.
    """

    type: IndicatorType
    value: str
    location: str
    first_seen: int | None = None
    last_seen: int | None = None
    valid_until: int | None = None
    confidence: int | None = None
    tlp: TLP | None = None
    tags: frozenset[str] = frozenset()
    context: dict[str, Any] = field(default_factory=dict)
    ref: str | None = None
    version: int | None = None
    revoked: bool = False
    to_ids: bool = True


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """The source a batch comes from, with its defaults."""

    id: int
    name: str
    default_tlp: TLP
    default_confidence: int


@dataclass(slots=True)
class MergeCounts:
    """Counts of what one or more batches changed in the store."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    superseded: int = 0
    observations: int = 0
    warnings: list[str] = field(default_factory=list)

    def add(self, other: MergeCounts) -> None:
        """Add another batch's counts to these."""
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.withdrawn += other.withdrawn
        self.superseded += other.superseded
        self.observations += other.observations
        self.warnings.extend(other.warnings)


@dataclass(slots=True)
class _Claim:
    """This run's view of one (indicator, source) provenance row."""

    first_seen: int
    last_seen: int
    confidence: int
    tlp: int
    tags: set[str]
    context: dict[str, Any]
    observations: int
    to_ids: bool
    valid_until: int | None


def ensure_source(
    conn: Connection,
    name: str,
    *,
    default_tlp: TLP,
    default_confidence: int,
    kind: str = "file",
) -> SourceInfo:
    """Return the source called ``name``, creating it with these defaults.

    An existing source keeps its stored defaults; the ingest command's
    ``--tlp`` and ``--confidence`` apply to each observation instead.
    """
    row = conn.execute(sa.select(sources).where(sources.c.name == name)).first()
    if row is None:
        source_id = conn.execute(
            sa.insert(sources)
            .values(
                name=name,
                kind=kind,
                reliability="C",
                default_tlp=int(default_tlp),
                default_confidence=default_confidence,
                created=now_us(),
            )
            .returning(sources.c.id)
        ).scalar_one()
        return SourceInfo(source_id, name, default_tlp, default_confidence)
    return SourceInfo(
        row.id, row.name, TLP(row.default_tlp), int(row.default_confidence)
    )


class Merger:
    """Merge batches of candidates from one source into the store.

    ``tlp`` and ``confidence`` are the defaults for values whose observation
    states none (from ``--tlp``/``--confidence``, else the source's defaults).
    """

    def __init__(
        self,
        engine: Engine,
        source: SourceInfo,
        *,
        tlp: TLP | None = None,
        confidence: int | None = None,
    ) -> None:
        self.engine = engine
        self.source = source
        self.default_tlp = tlp if tlp is not None else source.default_tlp
        self.default_confidence = (
            confidence if confidence is not None else source.default_confidence
        )
        self.run_at = now_us()
        # Indicators this run already claimed for this source: a value seen
        # again in a later batch adds to this run's claim instead of replacing it.
        self.claimed_this_run: set[int] = set()
        self._source_names: dict[int, str] = {source.id: source.name}

    def merge(self, batch: Sequence[Candidate]) -> MergeCounts:
        """Write one batch in one transaction; return what changed."""
        counts = MergeCounts(observations=len(batch))
        if not batch:
            return counts
        with begin_write(self.engine) as conn:
            _BatchWriter(self, conn, counts).run(batch)
        return counts

    def source_name(self, conn: Connection, source_id: int) -> str:
        """Return a source's name, caching the lookup for the run."""
        name = self._source_names.get(source_id)
        if name is None:
            name = conn.execute(
                sa.select(sources.c.name).where(sources.c.id == source_id)
            ).scalar_one()
            self._source_names[source_id] = name
        return name


class _BatchWriter:
    """The work of one batch inside one write transaction."""

    def __init__(self, merger: Merger, conn: Connection, counts: MergeCounts) -> None:
        self.m = merger
        self.conn = conn
        self.counts = counts
        self.source_id = merger.source.id

    def run(self, batch: Sequence[Candidate]) -> None:
        accepted, revoked_refs, applied_refs = self._filter_versions(batch)
        grouped = _group(accepted)
        existing = self._load_indicators(grouped.keys())
        ids = {key: row.id for key, row in existing.items()}
        new_keys = [key for key in grouped if key not in existing]
        ids.update(self._insert_new(new_keys, grouped))
        touched = self._update_provenance(existing, grouped)
        touched |= self._write_claims(applied_refs, revoked_refs, ids)
        self._republish(touched, existing)

    # -- 1. versions of source objects ------------------------------------

    def _filter_versions(
        self, batch: Sequence[Candidate]
    ) -> tuple[list[Candidate], set[str], dict[str, list[Candidate]]]:
        plain = [c for c in batch if c.ref is None]
        by_ref: dict[str, list[Candidate]] = defaultdict(list)
        for cand in batch:
            if cand.ref is not None:
                by_ref[cand.ref].append(cand)
        if not by_ref:
            return plain, set(), {}
        stored = self._load_source_objects(by_ref.keys())
        applied: dict[str, list[Candidate]] = {}
        revoked: set[str] = set()
        for ref, cands in by_ref.items():
            version = cands[0].version
            digest = _claim_digest(cands)
            old = stored.get(ref)
            if old is not None:
                if old.digest == digest:
                    self.counts.unchanged += len({(c.type, c.value) for c in cands})
                    continue
                if version is not None and old.version is not None:
                    if version < old.version:
                        self.counts.superseded += 1
                        continue
                    if version == old.version:
                        self.counts.warnings.append(
                            f"{cands[0].location}: another object with the same "
                            "id and version is already stored; kept the stored one"
                        )
                        continue
            self._save_source_object(ref, version, digest, cands[0].revoked, old)
            if cands[0].revoked:
                revoked.add(ref)
            else:
                applied[ref] = cands
        accepted = plain + [c for cands in applied.values() for c in cands]
        return accepted, revoked, applied

    def _load_source_objects(self, refs: Iterable[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        so = source_objects.c
        for chunk in _chunks(list(refs)):
            rows = self.conn.execute(
                sa.select(so.id, so.ref, so.version, so.digest).where(
                    so.source_id == self.source_id, so.ref.in_(chunk)
                )
            )
            found.update((row.ref, row) for row in rows)
        return found

    def _save_source_object(
        self, ref: str, version: int | None, digest: str, revoked: bool, old: Any
    ) -> None:
        values = {"version": version, "digest": digest, "revoked": revoked}
        if old is None:
            self.conn.execute(
                sa.insert(source_objects).values(
                    source_id=self.source_id, ref=ref, **values
                )
            )
        else:
            self.conn.execute(
                sa.update(source_objects)
                .where(source_objects.c.id == old.id)
                .values(**values)
            )

    # -- 2. indicators and provenance ---------------------------------------

    def _load_indicators(self, keys: Iterable[tuple[str, str]]) -> dict[Any, Any]:
        by_type: dict[str, list[str]] = defaultdict(list)
        for kind, value in keys:
            by_type[kind].append(value)
        found: dict[tuple[str, str], Any] = {}
        ic = indicators.c
        for kind, values in by_type.items():
            for chunk in _chunks(values):
                rows = self.conn.execute(
                    sa.select(indicators).where(ic.type == kind, ic.value.in_(chunk))
                )
                found.update(((row.type, row.value), row) for row in rows)
        return found

    def _insert_new(
        self, keys: list[tuple[str, str]], grouped: dict[Any, list[Candidate]]
    ) -> dict[tuple[str, str], int]:
        """Insert values the store has never seen, with their first version.

        Their only provenance is this batch, so the aggregate is computed in
        memory from the same function that recomputes stored records.
        """
        if not keys:
            return {}
        start = (
            self.conn.execute(sa.select(sa.func.max(indicators.c.id))).scalar() or 0
        ) + 1
        ids: dict[tuple[str, str], int] = {}
        indicator_rows: list[tuple[Any, ...]] = []
        provenance_rows: list[tuple[Any, ...]] = []
        views: list[tuple[int, IndicatorView]] = []
        run_at = self.m.run_at
        for offset, key in enumerate(keys):
            kind, value = key
            indicator_id = start + offset
            ids[key] = indicator_id
            claim = self._claim_for(indicator_id, None, grouped[key])
            provenance_rows.append(
                (indicator_id, self.source_id, run_at, True, *_provenance_values(claim))
            )
            indicator_type = IndicatorType(kind)
            stix_id = stix_id_for(indicator_type, value)
            view = _first_view(stix_id, indicator_type, value, claim, self.m)
            views.append((indicator_id, view))
            indicator_rows.append(
                (
                    indicator_id,
                    kind,
                    value,
                    stix_id,
                    run_at,
                    *_indicator_values(view, _view_digest(view)),
                )
            )
        insert_tuples(
            self.conn,
            indicators,
            ("id", "type", "value", "stix_id", "created", *_INDICATOR_STATE),
            indicator_rows,
        )
        insert_tuples(
            self.conn,
            provenance,
            ("indicator_id", "source_id", "first_reported", "active", *_CLAIM_COLUMNS),
            provenance_rows,
        )
        append_versions(self.conn, views)
        self.counts.new += len(keys)
        return ids

    def _update_provenance(
        self,
        existing: dict[tuple[str, str], Any],
        grouped: dict[tuple[str, str], list[Candidate]],
    ) -> set[int]:
        """Write this source's claim on values the store already holds."""
        if not existing:
            return set()
        stored = self._load_provenance([row.id for row in existing.values()])
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        touched: set[int] = set()
        for key, indicator in existing.items():
            old = stored.get(indicator.id)
            claim = self._claim_for(indicator.id, old, grouped[key])
            row = _provenance_row(claim)
            if old is None:
                inserts.append(
                    {
                        "indicator_id": indicator.id,
                        "source_id": self.source_id,
                        "first_reported": self.m.run_at,
                        "active": True,
                        **row,
                    }
                )
                touched.add(indicator.id)
            elif not old.active or _differs(old, row):
                updates.append({"b_id": old.id, "active": True, **row})
                touched.add(indicator.id)
        if inserts:
            insert_rows(self.conn, provenance, inserts)
        if updates:
            columns = [name for name in updates[0] if name != "b_id"]
            self.conn.execute(
                sa.update(provenance)
                .where(provenance.c.id == sa.bindparam("b_id"))
                .values({name: sa.bindparam(name) for name in columns}),
                updates,
            )
        return touched

    def _load_provenance(self, indicator_ids: list[int]) -> dict[int, Any]:
        found: dict[int, Any] = {}
        pc = provenance.c
        for chunk in _chunks(indicator_ids):
            rows = self.conn.execute(
                sa.select(provenance).where(
                    pc.source_id == self.source_id, pc.indicator_id.in_(chunk)
                )
            )
            found.update((row.indicator_id, row) for row in rows)
        return found

    def _claim_for(self, indicator_id: int, old: Any, cands: list[Candidate]) -> _Claim:
        """Combine this run's observations of one value into one claim.

        A claim from an earlier run is replaced, so re-reading an unchanged
        input changes nothing; within one run, observations add up. Seen times
        the source states win; where it states none, the time the value first
        reached medisac from this source remains.
        """
        if old is not None and indicator_id in self.m.claimed_this_run:
            claim = _Claim(
                first_seen=old.first_seen,
                last_seen=old.last_seen,
                confidence=old.confidence,
                tlp=old.tlp,
                tags=set(orjson.loads(old.tags)),
                context=orjson.loads(old.context),
                observations=old.observations,
                to_ids=old.to_ids,
                valid_until=old.valid_until,
            )
            stated = False
        else:
            claim = _Claim(
                first_seen=old.first_seen if old is not None else self.m.run_at,
                last_seen=old.last_seen if old is not None else self.m.run_at,
                confidence=self.m.default_confidence,
                tlp=int(self.m.default_tlp),
                tags=set(),
                context={},
                observations=0,
                to_ids=False,
                valid_until=None,
            )
            stated = True
        self.m.claimed_this_run.add(indicator_id)
        firsts = [c.first_seen for c in cands if c.first_seen is not None]
        lasts = [c.last_seen or c.first_seen for c in cands]
        seen_lasts = [t for t in lasts if t is not None]
        if firsts:
            claim.first_seen = min(firsts) if stated else min(claim.first_seen, *firsts)
        if seen_lasts:
            claim.last_seen = (
                max(seen_lasts) if stated else max(claim.last_seen, *seen_lasts)
            )
        claim.last_seen = max(claim.last_seen, claim.first_seen)
        for cand in cands:
            claim.observations += 1
            if cand.confidence is not None:
                claim.confidence = cand.confidence
            if cand.tlp is not None:
                claim.tlp = int(cand.tlp)
            claim.tags.update(cand.tags)
            _merge_context(claim.context, cand.context)
            claim.to_ids = claim.to_ids or cand.to_ids
            if cand.valid_until is not None:
                claim.valid_until = max(claim.valid_until or 0, cand.valid_until)
        return claim

    # -- 3. claims of versioned source objects ------------------------------

    def _write_claims(
        self,
        applied: dict[str, list[Candidate]],
        revoked: set[str],
        ids: dict[tuple[str, str], int],
    ) -> set[int]:
        changed_refs = set(applied) | revoked
        if not changed_refs:
            return set()
        so, cl = source_objects.c, claims.c
        object_ids: dict[str, int] = {}
        for chunk in _chunks(list(changed_refs)):
            rows = self.conn.execute(
                sa.select(so.id, so.ref).where(
                    so.source_id == self.source_id, so.ref.in_(chunk)
                )
            )
            object_ids.update((row.ref, row.id) for row in rows)
        previous: set[int] = set()
        for chunk in _chunks(list(object_ids.values())):
            previous.update(
                self.conn.execute(
                    sa.select(cl.indicator_id).where(cl.source_object_id.in_(chunk))
                ).scalars()
            )
            self.conn.execute(sa.delete(claims).where(cl.source_object_id.in_(chunk)))
        new_claims = {
            (object_ids[ref], ids[(c.type.value, c.value)])
            for ref, cands in applied.items()
            for c in cands
        }
        if new_claims:
            insert_rows(
                self.conn,
                claims,
                [{"source_object_id": o, "indicator_id": i} for o, i in new_claims],
            )
        kept = {indicator_id for _, indicator_id in new_claims}
        return self._withdraw(previous - kept)

    def _withdraw(self, indicator_ids: set[int]) -> set[int]:
        """Deactivate this source's claim on values no current object claims."""
        if not indicator_ids:
            return set()
        so, cl, pc = source_objects.c, claims.c, provenance.c
        still_claimed = set(
            self.conn.execute(
                sa.select(cl.indicator_id)
                .join(source_objects, so.id == cl.source_object_id)
                .where(
                    so.source_id == self.source_id,
                    so.revoked.is_(False),
                    cl.indicator_id.in_(list(indicator_ids)),
                )
            ).scalars()
        )
        gone = list(indicator_ids - still_claimed)
        for chunk in _chunks(gone):
            self.conn.execute(
                sa.update(provenance)
                .where(pc.source_id == self.source_id, pc.indicator_id.in_(chunk))
                .values(active=False)
            )
        self.m.claimed_this_run.difference_update(gone)
        self.counts.withdrawn += len(gone)
        return set(gone)

    # -- 4. aggregates and publishing ----------------------------------------

    def _republish(self, touched: set[int], existing: dict[Any, Any]) -> None:
        """Recompute stored records whose provenance changed; publish changes."""
        existing_ids = {row.id for row in existing.values()}
        rows = self._load_touched(touched, existing)
        claims_by_indicator = self._load_all_provenance(touched)
        now = now_us()
        updates: list[dict[str, Any]] = []
        views: list[tuple[int, IndicatorView]] = []
        superseded: list[dict[str, Any]] = []
        for indicator_id in sorted(touched):
            row = rows[indicator_id]
            view = _aggregate(
                row, claims_by_indicator.get(indicator_id, []), self.source_name
            )
            digest = _view_digest(view)
            if digest == row.digest:
                continue
            view = dataclasses.replace(view, modified=max(now, row.modified + 1))
            views.append((indicator_id, view))
            updates.append(_indicator_update(indicator_id, view, digest))
            # The version being replaced was rendered from this row; store it
            # now, before the row changes.
            superseded.append(
                {"b_stix_id": row.stix_id, "body": render_body(indicator_view(row))}
            )
        published = {update["b_id"] for update in updates}
        self.counts.updated += len(published & existing_ids)
        self.counts.unchanged += len(existing_ids - published)
        if not updates:
            return
        so = stix_objects.c
        self.conn.execute(
            sa.update(stix_objects)
            .where(so.stix_id == sa.bindparam("b_stix_id"), so.is_latest.is_(True))
            .values(is_latest=False, body=sa.bindparam("body")),
            superseded,
        )
        columns = [name for name in updates[0] if name != "b_id"]
        self.conn.execute(
            sa.update(indicators)
            .where(indicators.c.id == sa.bindparam("b_id"))
            .values({name: sa.bindparam(name) for name in columns}),
            updates,
        )
        append_versions(self.conn, views)

    def source_name(self, source_id: int) -> str:
        """Return a source's name."""
        return self.m.source_name(self.conn, source_id)

    def _load_touched(
        self, touched: set[int], existing: dict[Any, Any]
    ) -> dict[int, Any]:
        rows = {row.id: row for row in existing.values() if row.id in touched}
        missing = [i for i in touched if i not in rows]
        for chunk in _chunks(missing):
            for row in self.conn.execute(
                sa.select(indicators).where(indicators.c.id.in_(chunk))
            ):
                rows[row.id] = row
        return rows

    def _load_all_provenance(self, touched: set[int]) -> dict[int, list[Any]]:
        found: dict[int, list[Any]] = defaultdict(list)
        for chunk in _chunks(sorted(touched)):
            for row in self.conn.execute(
                sa.select(provenance).where(provenance.c.indicator_id.in_(chunk))
            ):
                found[row.indicator_id].append(row)
        return found


def insert_rows(
    conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert many rows, given as dictionaries with the same keys."""
    if rows:
        columns = tuple(rows[0])
        insert_tuples(
            conn, table, columns, [tuple(row[name] for name in columns) for row in rows]
        )


def insert_tuples(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Insert many rows through the driver's executemany.

    SQLAlchemy's compiled executemany costs more per row than the rest of the
    merge; the rows here are plain values in ``columns`` order, so the driver
    takes them as they are.
    """
    if not rows:
        return
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))})"
    )
    conn.exec_driver_sql(sql, rows)


def append_versions(
    conn: Connection, views: Sequence[tuple[int, IndicatorView]]
) -> None:
    """Append a new latest version for each (indicator id, view), in order.

    The body is left empty: the latest version renders from the indicator row.
    The caller has already marked any earlier version as not the latest.
    """
    seq, added = _next_positions(conn)
    rows = [
        (
            seq + offset,
            view.stix_id,
            "indicator",
            view.modified,
            added + offset,
            True,
            view.state is State.ACTIVE,
            view.healthcare,
            int(view.tlp),
            None,
            indicator_id,
        )
        for offset, (indicator_id, view) in enumerate(views)
    ]
    insert_tuples(conn, stix_objects, _STIX_OBJECT_COLUMNS, rows)


@dataclass(frozen=True, slots=True)
class PublishedObject:
    """A STIX object stored with its body, and the columns TAXII filters on."""

    body: dict[str, Any]
    modified: int
    active: bool = True
    healthcare: bool = False
    tlp: TLP = TLP.CLEAR


def append_objects(conn: Connection, objects: Sequence[PublishedObject]) -> None:
    """Append each object, with its body, as the latest version of its id."""
    if not objects:
        return
    so = stix_objects.c
    for chunk in _chunks([obj.body["id"] for obj in objects]):
        conn.execute(
            sa.update(stix_objects)
            .where(so.stix_id.in_(chunk), so.is_latest.is_(True))
            .values(is_latest=False)
        )
    seq, added = _next_positions(conn)
    rows = [
        (
            seq + offset,
            obj.body["id"],
            obj.body["type"],
            obj.modified,
            added + offset,
            True,
            obj.active,
            obj.healthcare,
            int(obj.tlp),
            orjson.dumps(obj.body, option=orjson.OPT_SORT_KEYS).decode(),
            None,
        )
        for offset, obj in enumerate(objects)
    ]
    insert_tuples(conn, stix_objects, _STIX_OBJECT_COLUMNS, rows)


def _next_positions(conn: Connection) -> tuple[int, int]:
    """Return the next ``seq`` and ``date_added`` for appended rows.

    The caller holds the publish lock. Rows get consecutive ``seq`` values and
    ``date_added`` values one microsecond apart, so a TAXII client that pages
    by ``X-TAXII-Date-Added-Last`` never skips a row.
    """
    so = stix_objects.c
    last_seq, last_added = conn.execute(
        sa.select(sa.func.max(so.seq), sa.func.max(so.date_added))
    ).one()
    return (last_seq or 0) + 1, max(now_us(), (last_added or 0) + 1)


_STIX_OBJECT_COLUMNS = (
    "seq",
    "stix_id",
    "stix_type",
    "modified",
    "date_added",
    "is_latest",
    "active",
    "healthcare",
    "tlp",
    "body",
    "indicator_id",
)


def _aggregate(
    row: Any, rows: list[Any], source_name: Callable[[int], str]
) -> IndicatorView:
    """Compute an indicator's published view from all its provenance rows.

    Confidence is the highest of the active sources' (until scoring weighs
    reliability and corroboration); TLP is the most restrictive of the active
    sources'. An analyst's TLP or confidence overrides both.
    """
    active = [p for p in rows if p.active] or []
    basis = active or rows
    tags: set[str] = set()
    context: dict[str, Any] = {}
    for prov in basis:
        tags.update(orjson.loads(prov.tags))
        _merge_context(context, orjson.loads(prov.context))
    confidence = max((p.confidence for p in basis), default=0)
    tlp = max((p.tlp for p in basis), default=int(TLP.AMBER))
    if row.analyst_confidence is not None:
        confidence = row.analyst_confidence
    if row.analyst_tlp is not None:
        tlp = row.analyst_tlp
    # Analyst decisions (false positive, revoked) stand; the sources decide
    # only between active and expired.
    state = State(row.state)
    if state is State.ACTIVE and not active:
        state = State.EXPIRED
    elif state is State.EXPIRED and active:
        state = State.ACTIVE
    # A value stays valid while any source still vouches for it without end.
    ends = [p.valid_until for p in basis]
    valid_until = None if None in ends else max(ends)
    sources_seen = tuple(
        sorted(
            (
                SourceClaim(
                    source=source_name(p.source_id),
                    confidence=p.confidence,
                    tlp=TLP(p.tlp),
                    first_seen=p.first_seen,
                    last_seen=p.last_seen,
                    ref=None,
                )
                for p in active
            ),
            key=lambda claim: claim.source,
        )
    )
    sorted_tags = tuple(sorted(tags))
    return IndicatorView(
        stix_id=row.stix_id,
        type=IndicatorType(row.type),
        value=row.value,
        state=state,
        confidence=int(confidence),
        tlp=TLP(tlp),
        first_seen=min(p.first_seen for p in basis),
        last_seen=max(p.last_seen for p in basis),
        valid_until=valid_until,
        created=row.created,
        modified=row.modified,
        tags=sorted_tags,
        context=context,
        healthcare=is_healthcare(sorted_tags),
        to_ids=any(p.to_ids for p in basis),
        sources=sources_seen,
    )


def stale_digests(conn: Connection) -> list[int]:
    """Return ids of indicators whose stored digest differs from a recomputation.

    An empty list means every record's published state follows from its
    provenance; anything else is a merge defect.
    """
    names = {row.id: row.name for row in conn.execute(sa.select(sources))}
    by_indicator: dict[int, list[Any]] = defaultdict(list)
    for prov in conn.execute(sa.select(provenance)):
        by_indicator[prov.indicator_id].append(prov)
    stale = []
    for row in conn.execute(sa.select(indicators)):
        view = _aggregate(row, by_indicator[row.id], names.__getitem__)
        if _view_digest(view) != row.digest:
            stale.append(row.id)
    return stale


def _first_view(
    stix_id: str, kind: IndicatorType, value: str, claim: _Claim, merger: Merger
) -> IndicatorView:
    """Build the view of a new indicator whose only provenance is ``claim``.

    It equals what :func:`_aggregate` computes from the stored rows (a test
    checks this), without reading them back.
    """
    tags = tuple(sorted(claim.tags))
    tlp = TLP(claim.tlp)
    return IndicatorView(
        stix_id=stix_id,
        type=kind,
        value=value,
        state=State.ACTIVE,
        confidence=claim.confidence,
        tlp=tlp,
        first_seen=claim.first_seen,
        last_seen=claim.last_seen,
        valid_until=claim.valid_until,
        created=merger.run_at,
        modified=merger.run_at,
        tags=tags,
        context=claim.context,
        healthcare=is_healthcare(tags),
        to_ids=claim.to_ids,
        sources=(
            SourceClaim(
                source=merger.source.name,
                confidence=claim.confidence,
                tlp=tlp,
                first_seen=claim.first_seen,
                last_seen=claim.last_seen,
                ref=None,
            ),
        ),
    )


def _view_digest(view: IndicatorView) -> str:
    """Digest every published field except ``modified``."""
    parts = (
        view.type.value,
        view.value,
        view.state.value,
        view.confidence,
        int(view.tlp),
        view.first_seen,
        view.last_seen,
        view.valid_until,
        list(view.tags),
        view.context,
        view.healthcare,
        view.to_ids,
        [(s.source, s.confidence, int(s.tlp), s.ref) for s in view.sources],
    )
    data = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


# Indicator columns that follow from the published view, in insert order.
_INDICATOR_STATE = (
    "state",
    "confidence",
    "tlp",
    "first_seen",
    "last_seen",
    "valid_until",
    "tags",
    "context",
    "sources",
    "healthcare",
    "to_ids",
    "modified",
    "digest",
)

# Provenance columns that one source's claim sets, in insert order.
_CLAIM_COLUMNS = (
    "first_seen",
    "last_seen",
    "confidence",
    "tlp",
    "tags",
    "context",
    "observations",
    "to_ids",
    "valid_until",
)


def _indicator_values(view: IndicatorView, digest: str) -> tuple[Any, ...]:
    return (
        view.state.value,
        view.confidence,
        int(view.tlp),
        view.first_seen,
        view.last_seen,
        view.valid_until,
        orjson.dumps(view.tags).decode(),
        orjson.dumps(view.context, option=orjson.OPT_SORT_KEYS).decode(),
        sources_json(view.sources),
        view.healthcare,
        view.to_ids,
        view.modified,
        digest,
    )


def _indicator_update(
    indicator_id: int, view: IndicatorView, digest: str
) -> dict[str, Any]:
    return {
        "b_id": indicator_id,
        **dict(zip(_INDICATOR_STATE, _indicator_values(view, digest), strict=True)),
    }


def _provenance_values(claim: _Claim) -> tuple[Any, ...]:
    return (
        claim.first_seen,
        claim.last_seen,
        claim.confidence,
        claim.tlp,
        orjson.dumps(sorted(claim.tags)).decode(),
        orjson.dumps(claim.context, option=orjson.OPT_SORT_KEYS).decode(),
        claim.observations,
        claim.to_ids,
        claim.valid_until,
    )


def _provenance_row(claim: _Claim) -> dict[str, Any]:
    return dict(zip(_CLAIM_COLUMNS, _provenance_values(claim), strict=True))


def _differs(old: Any, row: dict[str, Any]) -> bool:
    return any(getattr(old, name) != value for name, value in row.items())


def _merge_context(into: dict[str, Any], extra: dict[str, Any]) -> None:
    """Merge context maps; list values and differing scalars become sorted lists."""
    for name, value in extra.items():
        if name not in into:
            into[name] = value
            continue
        current = into[name]
        if current == value:
            continue
        items = current if isinstance(current, list) else [current]
        more = value if isinstance(value, list) else [value]
        merged = list(items)
        for item in more:
            if item not in merged:
                merged.append(item)
        try:
            merged.sort()
        except TypeError:
            merged.sort(key=repr)
        into[name] = merged


def _claim_digest(cands: list[Candidate]) -> str:
    parts = sorted(
        (c.type.value, c.value, c.confidence, c.tlp, sorted(c.tags), c.revoked)
        for c in cands
    )
    data = orjson.dumps([cands[0].version, parts], default=str)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _group(batch: Iterable[Candidate]) -> dict[tuple[str, str], list[Candidate]]:
    grouped: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for cand in batch:
        grouped[(cand.type.value, cand.value)].append(cand)
    return grouped


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
