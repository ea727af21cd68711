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
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
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
from medisac.store.views import (
    STATE_COLUMNS,
    finish_digest,
    indicator_view,
    render_body,
    state_hash,
    state_values,
    view_digest,
)

log = logging.getLogger(__name__)

# Values per IN (...) list; below SQLite's 32,766 bound-parameter limit.
_CHUNK = 5_000

# Runs of new values with equal claims shorter than this get their
# provenance rows bound one by one, because for so few rows that costs less
# than a statement that copies the claim to the whole run.
_MIN_SHARED_CLAIMS = 8

# Indicator columns that follow from the published view, in insert order.
_INDICATOR_STATE = (*STATE_COLUMNS, "digest")

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
    Call :meth:`close` when done if any merge used ``commit_later``.
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
        self._committer: ThreadPoolExecutor | None = None
        self._commit: Future[None] | None = None

    def merge(
        self, batch: Sequence[Candidate], *, commit_later: bool = False
    ) -> MergeCounts:
        """Write one batch in one transaction; return what changed.

        With ``commit_later``, the batch's last statements and the commit run
        in a background thread and this returns before they end, so the
        caller can read the next batch meanwhile. The next merge, :meth:`wait`
        and :meth:`close` wait for that thread and raise its error, if any.
        """
        self.wait()
        counts = MergeCounts(observations=len(batch))
        if not batch:
            return counts
        with ExitStack() as transaction:
            conn = transaction.enter_context(begin_write(self.engine))
            writer = _BatchWriter(self, conn, counts)
            writer.run(batch)
            if not commit_later:
                writer.write_new_copies()
                return counts
            # pop_all moves the end of the transaction out of this block.
            rest = transaction.pop_all()
        self._commit = self._commit_thread().submit(_finish, writer, rest)
        return counts

    def wait(self) -> None:
        """Wait for the commit of a ``commit_later`` merge; raise its error."""
        commit, self._commit = self._commit, None
        if commit is not None:
            commit.result()

    def close(self) -> None:
        """Wait for the last commit, as :meth:`wait` does, and end its thread."""
        try:
            self.wait()
        finally:
            if self._committer is not None:
                self._committer.shutdown()
                self._committer = None

    def _commit_thread(self) -> ThreadPoolExecutor:
        if self._committer is None:
            self._committer = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="medisac-commit"
            )
        return self._committer

    def source_name(self, conn: Connection, source_id: int) -> str:
        """Return a source's name, caching the lookup for the run."""
        name = self._source_names.get(source_id)
        if name is None:
            name = conn.execute(
                sa.select(sources.c.name).where(sources.c.id == source_id)
            ).scalar_one()
            self._source_names[source_id] = name
        return name


def _finish(writer: _BatchWriter, transaction: ExitStack) -> None:
    """Write the batch's last rows and commit; roll back if that fails."""
    with transaction:
        writer.write_new_copies()


class _BatchWriter:
    """The work of one batch inside one write transaction."""

    def __init__(self, merger: Merger, conn: Connection, counts: MergeCounts) -> None:
        self.m = merger
        self.conn = conn
        self.counts = counts
        self.source_id = merger.source.id
        # The rows that write_new_copies writes at the end of the batch.
        self.new_ids = range(0)
        self.claim_runs: list[dict[str, Any]] = []

    def run(self, batch: Sequence[Candidate]) -> None:
        """Write ``batch``, except the rows that :meth:`write_new_copies` writes."""
        if self.conn.dialect.name == "postgresql":
            # psycopg 3 prepares a statement after five executions, and the
            # server may then keep a generic plan made while the tables were
            # small. For the IN (...) lookups that plan scans the table:
            # ingesting 100,000 stored values again took minutes. This setting
            # (PostgreSQL 12 and later) plans every execution anew.
            self.conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        accepted, revoked_refs, applied_refs = self._filter_versions(batch)
        grouped = _group(accepted)
        existing = self._load_indicators(grouped.keys())
        ids = {key: row.id for key, row in existing.items()}
        new_keys = [key for key in grouped if key not in existing]
        ids.update(self._insert_new(new_keys, grouped))
        touched = self._update_provenance(existing, grouped)
        touched |= self._write_claims(applied_refs, revoked_refs, ids)
        self._republish(touched, existing)

    def write_new_copies(self) -> None:
        """Write new values' first versions and their long runs' provenance.

        Both are copied from the new ``indicators`` rows. This is the last
        step of a batch, and may run in the commit thread, because no other
        step reads or changes these rows, which belong to values that are new
        in this batch. The versions come after any that the batch republished.
        """
        execute_many(self.conn, _INSERT_FIRST_CLAIMS, self.claim_runs)
        append_versions(self.conn, self.new_ids)

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
        memory from the same function that recomputes stored records. Values
        with equal claims get consecutive ids, so one view serves the whole
        run and one statement writes a long run's provenance rows.
        """
        if not keys:
            return {}
        start = (
            self.conn.execute(sa.select(sa.func.max(indicators.c.id))).scalar() or 0
        ) + 1
        ids: dict[tuple[str, str], int] = {}
        indicator_rows: list[tuple[Any, ...]] = []
        provenance_rows: list[tuple[Any, ...]] = []
        claim_runs: list[dict[str, Any]] = []
        run_at = self.m.run_at
        for claim_values, (claim, run_keys) in self._runs_by_claim(keys, grouped):
            run_ids = range(start + len(ids), start + len(ids) + len(run_keys))
            ids.update(zip(run_keys, run_ids, strict=True))
            indicator_rows.extend(self._indicator_rows(run_ids, run_keys, claim))
            if len(run_ids) < _MIN_SHARED_CLAIMS:
                provenance_rows.extend(
                    (i, self.source_id, run_at, True, *claim_values) for i in run_ids
                )
                continue
            claim_runs.append(
                {
                    "first_id": run_ids[0],
                    "last_id": run_ids[-1],
                    "source_id": self.source_id,
                    "first_reported": run_at,
                    **dict(zip(_CLAIM_COLUMNS, claim_values, strict=True)),
                }
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
        self.claim_runs = claim_runs
        self.new_ids = range(start, start + len(ids))
        self.m.claimed_this_run.update(self.new_ids)
        self.counts.new += len(keys)
        return ids

    def _indicator_rows(
        self, run_ids: range, run_keys: list[tuple[str, str]], claim: _Claim
    ) -> list[tuple[Any, ...]]:
        """Return the ``indicators`` rows of new values that share ``claim``."""
        rows = []
        first: _FirstVersion | None = None
        run_at = self.m.run_at
        for indicator_id, (kind, value) in zip(run_ids, run_keys, strict=True):
            stix_id = stix_id_for(kind, value)
            if first is None:
                view = _first_view(stix_id, kind, value, claim, self.m)
                first = _FirstVersion.of(view)
            rows.append(
                (
                    indicator_id,
                    kind,
                    value,
                    stix_id,
                    run_at,
                    *first.columns,
                    finish_digest(first.state, kind, value),
                )
            )
        return rows

    def _runs_by_claim(
        self, keys: list[tuple[str, str]], grouped: dict[Any, list[Candidate]]
    ) -> Iterable[tuple[tuple[Any, ...], tuple[_Claim, list[tuple[str, str]]]]]:
        """Group new values by their claim's provenance values, in first-seen order.

        Each group carries the claim of its first value; the others are equal.
        """
        runs: dict[tuple[Any, ...], tuple[_Claim, list[tuple[str, str]]]] = {}
        # Most values come from one observation each with the same fields, so
        # their claim is computed once and their keys go straight to its run.
        runs_by_inputs: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
        for key in keys:
            cands = grouped[key]
            inputs = _lone_claim_inputs(cands)
            run_keys = None if inputs is None else runs_by_inputs.get(inputs)
            if run_keys is None:
                claim = self._claim_for(None, cands)
                run_keys = runs.setdefault(_provenance_values(claim), (claim, []))[1]
                if inputs is not None:
                    runs_by_inputs[inputs] = run_keys
            run_keys.append(key)
        return runs.items()

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
            claim = self._claim_for(old, grouped[key])
            self.m.claimed_this_run.add(indicator.id)
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

    def _claim_for(self, old: Any, cands: list[Candidate]) -> _Claim:
        """Combine this run's observations of one value into one claim.

        A claim from an earlier run is replaced, so re-reading an unchanged
        input changes nothing; within one run, observations add up. Seen times
        the source states win; where it states none, the time the value first
        reached medisac from this source remains.
        """
        if old is not None and old.indicator_id in self.m.claimed_this_run:
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
        superseded: list[dict[str, Any]] = []
        for indicator_id in sorted(touched):
            row = rows[indicator_id]
            view = _aggregate(
                row, claims_by_indicator.get(indicator_id, []), self.source_name, now
            )
            digest = view_digest(view)
            if digest == row.digest:
                continue
            view = dataclasses.replace(view, modified=max(now, row.modified + 1))
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
        append_versions(self.conn, [update["b_id"] for update in updates])

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


def execute_many(
    conn: Connection, statement: sa.Insert, params: Sequence[dict[str, Any]]
) -> None:
    """Run ``statement`` once per parameter set through the driver's executemany.

    Like :func:`insert_tuples`, this skips SQLAlchemy's processing of each
    parameter set, so every value must be one the driver takes as it is.
    """
    if not params:
        return
    compiled = statement.compile(dialect=conn.dialect)
    defaults = compiled.params
    merged = [{**defaults, **values} for values in params]
    names = compiled.positiontup
    if names is None:
        conn.exec_driver_sql(compiled.string, merged)
    else:
        rows = [tuple([values[name] for name in names]) for values in merged]
        conn.exec_driver_sql(compiled.string, rows)


def append_versions(conn: Connection, indicator_ids: Sequence[int]) -> None:
    """Append a new latest version of each indicator, in the order given.

    The version's columns are copied from the ``indicators`` row, so the
    caller writes the rows first. The body is left empty, because the latest
    version renders from the indicator row. The caller has already marked any
    earlier version as not the latest.
    """
    if not indicator_ids:
        return
    seq, added = _next_positions(conn)
    runs = []
    for first, last, offset in _runs(indicator_ids):
        runs.append(
            {
                "first_id": first,
                "last_id": last,
                "seq": seq + offset,
                "date_added": added + offset,
            }
        )
    execute_many(conn, _APPEND_VERSIONS, runs)


def _runs(ids: Sequence[int]) -> Iterator[tuple[int, int, int]]:
    """Split ``ids`` into runs of consecutive ids: (first, last, position).

    ``position`` is the index in ``ids`` of the run's first id.
    """
    if isinstance(ids, range) and ids.step == 1:
        # The ids of new values: one run, found without a loop.
        yield ids.start, ids.stop - 1, 0
        return
    start = 0
    for index in range(1, len(ids) + 1):
        if index == len(ids) or ids[index] != ids[index - 1] + 1:
            yield ids[start], ids[index - 1], start
            start = index


def _in_id_run() -> sa.ColumnElement[bool]:
    """Return the condition that an indicator id is in ``first_id..last_id``."""
    return indicators.c.id.between(
        sa.bindparam("first_id", type_=sa.BigInteger),
        sa.bindparam("last_id", type_=sa.BigInteger),
    )


def _append_versions_statement() -> sa.Insert:
    """Build the INSERT that copies a run of indicator rows as new versions.

    A row's ``seq`` and ``date_added`` are the run's values plus the row's
    distance from the run's first id, so one statement writes a whole run.
    """
    ic = indicators.c
    first_id = sa.bindparam("first_id", type_=sa.BigInteger)
    step = ic.id - first_id
    columns = {
        "seq": sa.bindparam("seq", type_=sa.BigInteger) + step,
        "date_added": sa.bindparam("date_added", type_=sa.BigInteger) + step,
        "stix_id": ic.stix_id,
        "stix_type": sa.literal("indicator"),
        "modified": ic.modified,
        "is_latest": sa.true(),
        "active": ic.state == State.ACTIVE.value,
        "healthcare": ic.healthcare,
        "tlp": ic.tlp,
        "indicator_id": ic.id,
    }
    rows = sa.select(*columns.values()).where(_in_id_run())
    return sa.insert(stix_objects).from_select(list(columns), rows)


_APPEND_VERSIONS = _append_versions_statement()


def _insert_first_claims_statement() -> sa.Insert:
    """Build the INSERT that gives a run of new indicators one equal claim each.

    The run is the indicator ids from ``first_id`` to ``last_id``, and the
    claim's columns are bound once for the whole run.
    """
    ic, pc = indicators.c, provenance.c
    columns: dict[str, Any] = {
        "indicator_id": ic.id,
        "source_id": sa.bindparam("source_id", type_=pc.source_id.type),
        "first_reported": sa.bindparam("first_reported", type_=pc.first_reported.type),
        "active": sa.true(),
    }
    for name in _CLAIM_COLUMNS:
        columns[name] = sa.bindparam(name, type_=pc[name].type)
    rows = sa.select(*columns.values()).where(_in_id_run())
    return sa.insert(provenance).from_select(list(columns), rows)


_INSERT_FIRST_CLAIMS = _insert_first_claims_statement()


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
    # One subquery per maximum: SQLite reads a maximum from an index only when
    # it is the query's single aggregate, and scans the table otherwise.
    last_seq, last_added = conn.execute(
        sa.select(
            sa.select(sa.func.max(so.seq)).scalar_subquery(),
            sa.select(sa.func.max(so.date_added)).scalar_subquery(),
        )
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
    row: Any, rows: list[Any], source_name: Callable[[int], str], now: int
) -> IndicatorView:
    """Compute an indicator's published view from all its provenance rows.

    A value whose ``valid_until`` is at or before ``now`` (µs) is expired.
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
    if state is State.ACTIVE and valid_until is not None and valid_until <= now:
        state = State.EXPIRED
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
    provenance. Anything else is a merge defect, or a ``valid_until`` that
    has passed since the record was last merged.
    """
    now = now_us()
    names = {row.id: row.name for row in conn.execute(sa.select(sources))}
    by_indicator: dict[int, list[Any]] = defaultdict(list)
    for prov in conn.execute(sa.select(provenance)):
        by_indicator[prov.indicator_id].append(prov)
    stale = []
    for row in conn.execute(sa.select(indicators)):
        view = _aggregate(row, by_indicator[row.id], names.__getitem__, now)
        if view_digest(view) != row.digest:
            stale.append(row.id)
    return stale


def _first_view(
    stix_id: str, kind: str, value: str, claim: _Claim, merger: Merger
) -> IndicatorView:
    """Build the view of a new indicator whose only provenance is ``claim``.

    It equals what :func:`_aggregate` computes from the stored rows (a test
    checks this), without reading them back.
    """
    tags = tuple(sorted(claim.tags))
    tlp = TLP(claim.tlp)
    expired = claim.valid_until is not None and claim.valid_until <= merger.run_at
    return IndicatorView(
        stix_id=stix_id,
        type=IndicatorType(kind),
        value=value,
        state=State.EXPIRED if expired else State.ACTIVE,
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


@dataclass(frozen=True, slots=True)
class _FirstVersion:
    """The parts of a first view that new values with equal claims share.

    :func:`_first_view` takes everything but the key and the STIX id from
    the claim, and the claim follows from its provenance row. So one view
    per distinct provenance row gives the state columns and the start of the
    digest of every new value with that claim.
    """

    columns: tuple[Any, ...]
    state: hashlib.blake2b

    @classmethod
    def of(cls, view: IndicatorView) -> _FirstVersion:
        """Return the parts of ``view`` that do not depend on its key."""
        return cls(state_values(view), state_hash(view))


def _indicator_update(
    indicator_id: int, view: IndicatorView, digest: str
) -> dict[str, Any]:
    return {
        "b_id": indicator_id,
        **dict(zip(_INDICATOR_STATE, (*state_values(view), digest), strict=True)),
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


def _lone_claim_inputs(cands: list[Candidate]) -> tuple[Any, ...] | None:
    """Return the fields a new claim reads from a lone candidate, as a dict key.

    These are the fields that :meth:`_BatchWriter._claim_for` reads, so keep
    the two in step. Returns None for several candidates, and for a
    candidate with context, since a dict cannot be part of a key.
    """
    if len(cands) != 1:
        return None
    cand = cands[0]
    if cand.context:
        return None
    return (
        cand.first_seen,
        cand.last_seen,
        cand.valid_until,
        cand.confidence,
        cand.tlp,
        cand.tags,
        cand.to_ids,
    )


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
