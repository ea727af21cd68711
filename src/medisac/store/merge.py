"""The merge step: one record per (type, canonical value), with provenance.

:class:`Merger` takes batches of :class:`Candidate` values from one source and
writes them in one transaction per batch:

1. versioned source objects (a STIX id, a MISP attribute uuid) are compared
   with the version already applied; older versions and repeats are dropped,
   and a same-time conflict is reported and the stored version kept;
2. new indicators are inserted with their known-benign mark, and this
   source's provenance row is inserted or updated for each value;
3. claims of a source object that a newer version (or a revocation) no longer
   makes are withdrawn from that source's provenance;
4. each touched indicator's view (state, confidence, ``valid_until``, TLP,
   seen times, tags) is recomputed from all its provenance rows by
   :func:`medisac.score.aggregate.aggregate`, and when its published content
   changes, a new STIX version is appended to ``stix_objects``.

After the last batch of a complete listing, :meth:`Merger.delist_unclaimed`
delists the claims that the run did not make. :func:`republish` recomputes
given indicators outside a merge.

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
from types import SimpleNamespace
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from medisac.model import TLP, IndicatorType, State
from medisac.model.time import now_us
from medisac.score.aggregate import SourceLookup, SourceMeta, aggregate, merge_context
from medisac.stix import IndicatorView, stix_id_for
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
    "listed_at",
    "delisted_at",
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
    reliability: str = "C"


class BenignMatcher(Protocol):
    """Known-benign lists: :class:`medisac.enrich.benign.KnownBenign` is one."""

    def match(self, kind: IndicatorType, value: str) -> str | None:
        """Return the name of the list that contains the value, or None."""
        ...


@dataclass(slots=True)
class MergeCounts:
    """Counts of what one or more batches changed in the store."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    delisted: int = 0
    superseded: int = 0
    observations: int = 0
    warnings: list[str] = field(default_factory=list)

    def add(self, other: MergeCounts) -> None:
        """Add another batch's counts to these."""
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.withdrawn += other.withdrawn
        self.delisted += other.delisted
        self.superseded += other.superseded
        self.observations += other.observations
        self.warnings.extend(other.warnings)


# Provenance columns of a new value's claim, in the order _insert_new binds.
_NEW_PROVENANCE_COLUMNS = (
    "indicator_id",
    "source_id",
    "first_reported",
    "active",
    *_CLAIM_COLUMNS,
)

# IndicatorType by value and back, found faster than through the enum.
_TYPES = {kind.value: kind for kind in IndicatorType}
_TYPE_NAMES = {kind: kind.value for kind in IndicatorType}

# New values that share one of these share their first view: (type, the
# known-benign list that contains them, their claim's provenance values).
_RunKey = tuple[str, str | None, tuple[Any, ...]]


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
    listed_at: int | None


class SourceCache:
    """Names and reliability grades of sources, each read once."""

    def __init__(self) -> None:
        self._known: dict[int, SourceMeta] = {}

    def lookup(self, conn: Connection) -> SourceLookup:
        """Return a lookup that reads sources it has not seen through ``conn``."""

        def find(source_id: int) -> SourceMeta:
            meta = self._known.get(source_id)
            if meta is None:
                row = conn.execute(
                    sa.select(sources.c.name, sources.c.reliability).where(
                        sources.c.id == source_id
                    )
                ).one()
                meta = SourceMeta(row.name, row.reliability)
                self._known[source_id] = meta
            return meta

        return find


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
        row.id,
        row.name,
        TLP(row.default_tlp),
        int(row.default_confidence),
        row.reliability,
    )


class Merger:
    """Merge batches of candidates from one source into the store.

    ``tlp`` and ``confidence`` are the defaults for values whose observation
    states none (from ``--tlp``/``--confidence``, else the source's defaults).
    With ``complete_listing``, the run reads the source's whole current list:
    its claims age from the read that listed them, and :meth:`delist_unclaimed`
    delists what the run did not list. ``benign`` marks the new and changed
    values it matches. ``clock`` returns the current time in µs; tests pass
    a frozen one. Call :meth:`close` when done if any merge used
    ``commit_later``.
    """

    def __init__(
        self,
        engine: Engine,
        source: SourceInfo,
        *,
        tlp: TLP | None = None,
        confidence: int | None = None,
        complete_listing: bool = False,
        benign: BenignMatcher | None = None,
        clock: Callable[[], int] = now_us,
    ) -> None:
        self.engine = engine
        self.source = source
        self.default_tlp = tlp if tlp is not None else source.default_tlp
        self.default_confidence = (
            confidence if confidence is not None else source.default_confidence
        )
        self.clock = clock
        self.run_at = clock()
        # Indicators this run already claimed for this source: a value seen
        # again in a later batch adds to this run's claim instead of replacing it.
        self.claimed_this_run: set[int] = set()
        # Source objects this run read, changed or not: the values they claim
        # are listed by this run.
        self.objects_this_run: set[int] = set()
        self.complete_listing = complete_listing
        self.benign = benign
        self.sources = SourceCache()
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

    def merge_in(self, conn: Connection, batch: Sequence[Candidate]) -> MergeCounts:
        """Write one batch inside the caller's transaction on ``conn``.

        The caller began that transaction with :func:`begin_write`, so the
        batch commits or rolls back together with the caller's other writes.
        """
        self.wait()
        counts = MergeCounts(observations=len(batch))
        if batch:
            writer = _BatchWriter(self, conn, counts)
            writer.run(batch)
            writer.write_new_copies()
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

    def delist_unclaimed(self) -> int:
        """Delist this source's active claims that this run did not list.

        Call it after the last merge of a ``complete_listing`` run in which
        every input was read without an error. Each such claim becomes
        inactive with ``delisted_at`` set to the run's start, so it decays
        from then on, and its indicator is republished. A delisted claim
        whose unchanged source object this run read again is listed again.
        Returns how many claims were delisted.
        """
        self.wait()
        source_id = self.source.id
        pc = provenance.c
        with begin_write(self.engine) as conn:
            by_objects = self._claimed_by_objects(conn)
            active = set(
                conn.execute(
                    sa.select(pc.indicator_id).where(
                        pc.source_id == source_id, pc.active.is_(True)
                    )
                ).scalars()
            )
            dropped = sorted(active - self.claimed_this_run - by_objects)
            delisted = set(
                conn.execute(
                    sa.select(pc.indicator_id).where(
                        pc.source_id == source_id,
                        pc.active.is_(False),
                        pc.delisted_at.is_not(None),
                    )
                ).scalars()
            )
            back = sorted(delisted & by_objects)
            changes = (
                (dropped, {"active": False, "delisted_at": self.run_at}),
                (back, {"active": True, "delisted_at": None, "listed_at": self.run_at}),
            )
            for ids, values in changes:
                for chunk in _chunks(ids):
                    conn.execute(
                        sa.update(provenance)
                        .where(pc.source_id == source_id, pc.indicator_id.in_(chunk))
                        .values(**values)
                    )
            republish(conn, [*dropped, *back], now=self.clock())
        if dropped:
            log.info(
                "source %s no longer lists %d value(s); they now decay",
                self.source.name,
                len(dropped),
            )
        return len(dropped)

    def _claimed_by_objects(self, conn: Connection) -> set[int]:
        """Return the indicators that source objects read in this run claim."""
        cl, so = claims.c, source_objects.c
        found: set[int] = set()
        for chunk in _chunks(sorted(self.objects_this_run)):
            found.update(
                conn.execute(
                    sa.select(cl.indicator_id)
                    .join(source_objects, so.id == cl.source_object_id)
                    .where(so.id.in_(chunk), so.revoked.is_(False))
                ).scalars()
            )
        return found


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
        # Stored values whose known-benign mark this batch changed.
        self.benign_changed: set[int] = set()
        self.sources = merger.sources.lookup(conn)

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

    def benign_name(self, kind: str, value: str) -> str | None:
        """Return the known-benign list that contains the value, if any."""
        if self.m.benign is None:
            return None
        return self.m.benign.match(_TYPES[kind], value)

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
                self.m.objects_this_run.add(old.id)
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
        benign_rows: list[tuple[Any, ...]] = []
        provenance_rows: list[tuple[Any, ...]] = []
        claim_runs: list[dict[str, Any]] = []
        published = 0
        run_at = self.m.run_at
        for run_key, run_keys, first in self._first_versions(keys, grouped):
            _, benign, claim_values = run_key
            run_ids = range(start + len(ids), start + len(ids) + len(run_keys))
            ids.update(zip(run_keys, run_ids, strict=True))
            rows = self._indicator_rows(run_ids, run_keys, first)
            if benign is None:
                indicator_rows.extend(rows)
            else:
                benign_rows.extend((*row, benign) for row in rows)
            if first.published:
                published += len(run_ids)
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
        # Few values are benign, so the rest leave out that column.
        columns = ("id", "type", "value", "stix_id", "created", *_INDICATOR_STATE)
        insert_tuples(self.conn, indicators, columns, indicator_rows)
        insert_tuples(self.conn, indicators, (*columns, "benign"), benign_rows)
        insert_tuples(self.conn, provenance, _NEW_PROVENANCE_COLUMNS, provenance_rows)
        self.claim_runs = claim_runs
        self.m.claimed_this_run.update(range(start, start + len(ids)))
        # Only the published values get a first version. A value that is not
        # active at first sight (known benign, or already past its validity)
        # was never published, so there is nothing to withdraw.
        self.new_ids = range(start, start + published)
        self.counts.new += len(keys)
        return ids

    def _first_versions(
        self, keys: list[tuple[str, str]], grouped: dict[Any, list[Candidate]]
    ) -> list[tuple[_RunKey, list[tuple[str, str]], _FirstVersion]]:
        """Return the runs of new values with the first version they share.

        Published runs come first, so that their ids form one range.
        """
        runs = []
        for run_key, (claim, run_keys) in self._runs_by_claim(keys, grouped):
            kind, value = run_keys[0]
            view = _first_view(
                stix_id_for(kind, value),
                kind,
                value,
                claim,
                self.m,
                run_key[1],
                self.sources,
            )
            runs.append((run_key, run_keys, _FirstVersion.of(view)))
        runs.sort(key=lambda run: not run[2].published)
        return runs

    def _indicator_rows(
        self, run_ids: range, run_keys: list[tuple[str, str]], first: _FirstVersion
    ) -> list[tuple[Any, ...]]:
        """Return the ``indicators`` rows of new values that share ``first``.

        The rows leave out the ``benign`` column, which the caller adds.
        """
        run_at = self.m.run_at
        return [
            (
                indicator_id,
                kind,
                value,
                stix_id_for(kind, value),
                run_at,
                *first.columns,
                finish_digest(first.state, kind, value),
            )
            for indicator_id, (kind, value) in zip(run_ids, run_keys, strict=True)
        ]

    def _runs_by_claim(
        self, keys: list[tuple[str, str]], grouped: dict[Any, list[Candidate]]
    ) -> Iterable[tuple[_RunKey, tuple[_Claim, list[tuple[str, str]]]]]:
        """Group new values by type, benign mark and claim, in first-seen order.

        The run key is (type, benign list, the claim's provenance values).
        Each group carries the claim of its first value; the others are equal.
        """
        runs: dict[_RunKey, tuple[_Claim, list[tuple[str, str]]]] = {}
        # Most values come from one observation each with the same fields, so
        # their claim is computed once and their keys go straight to its run.
        runs_by_inputs: dict[tuple[Any, ...], list[tuple[str, str]]] = {}
        match = None if self.m.benign is None else self.m.benign.match
        for key in keys:
            cands = grouped[key]
            kind, value = key
            benign = None if match is None else match(_TYPES[kind], value)
            inputs = _lone_claim_inputs(cands, kind, benign)
            run_keys = None if inputs is None else runs_by_inputs.get(inputs)
            if run_keys is None:
                claim = self._claim_for(None, cands)
                run_key = (kind, benign, _provenance_values(claim))
                run_keys = runs.setdefault(run_key, (claim, []))[1]
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
        touched = self._mark_benign(existing)
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

    def _mark_benign(self, existing: dict[tuple[str, str], Any]) -> set[int]:
        """Write the known-benign mark of stored values where it changed."""
        if self.m.benign is None:
            return set()
        changes = []
        for (kind, value), row in existing.items():
            name = self.benign_name(kind, value)
            if name != row.benign:
                changes.append({"b_id": row.id, "benign": name})
        if changes:
            self.conn.execute(
                sa.update(indicators)
                .where(indicators.c.id == sa.bindparam("b_id"))
                .values(benign=sa.bindparam("benign")),
                changes,
            )
        self.benign_changed = {change["b_id"] for change in changes}
        return set(self.benign_changed)

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
                listed_at=old.listed_at,
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
                listed_at=self._listed_at(old),
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
            merge_context(claim.context, cand.context)
            claim.to_ids = claim.to_ids or cand.to_ids
            if cand.valid_until is not None:
                claim.valid_until = max(claim.valid_until or 0, cand.valid_until)
        return claim

    def _listed_at(self, old: Any) -> int | None:
        """Return the time from which a claim of this run ages, if listed.

        A value this source still lists keeps the time of the read that
        first listed it, so re-reading an unchanged list changes nothing. An
        active claim from an earlier one-off read becomes listed from the
        time it was first reported, which keeps its age and its version.
        """
        listed_before: int | None = None if old is None else old.listed_at
        if not self.m.complete_listing:
            return listed_before
        if old is not None and old.active:
            return (
                listed_before if listed_before is not None else int(old.first_reported)
            )
        return self.m.run_at

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
                .values(active=False, delisted_at=None)
            )
        self.m.claimed_this_run.difference_update(gone)
        self.counts.withdrawn += len(gone)
        return set(gone)

    # -- 4. aggregates and publishing ----------------------------------------

    def _republish(self, touched: set[int], existing: dict[Any, Any]) -> None:
        """Recompute stored records whose provenance changed; publish changes."""
        existing_ids = {row.id for row in existing.values()}
        rows = self._load_touched(touched, existing)
        claims_by_indicator = load_provenance(self.conn, touched)
        published = publish_changed(
            self.conn, rows, claims_by_indicator, self.sources, self.m.clock()
        )
        self.counts.updated += len(published & existing_ids)
        self.counts.unchanged += len(existing_ids - published)

    def _load_touched(
        self, touched: set[int], existing: dict[Any, Any]
    ) -> dict[int, Any]:
        # Rows whose benign mark changed are read again to see the change.
        rows = {
            row.id: row
            for row in existing.values()
            if row.id in touched and row.id not in self.benign_changed
        }
        missing = [i for i in touched if i not in rows]
        for chunk in _chunks(missing):
            for row in self.conn.execute(
                sa.select(indicators).where(indicators.c.id.in_(chunk))
            ):
                rows[row.id] = row
        return rows


def republish(
    conn: Connection, indicator_ids: Iterable[int], *, now: int | None = None
) -> int:
    """Recompute the published view of indicators; publish those that changed.

    Each view is computed from the indicator's row and all its provenance, as
    the merge computes it, at ``now`` (µs since the epoch, default the current
    time). A new version is appended for each indicator whose digest changed.
    Returns how many changed. The caller has opened a write transaction
    (:func:`medisac.store.engine.begin_write`).
    """
    ids = sorted(set(indicator_ids))
    if not ids:
        return 0
    rows: dict[int, Any] = {}
    for chunk in _chunks(ids):
        rows.update(
            (row.id, row)
            for row in conn.execute(
                sa.select(indicators).where(indicators.c.id.in_(chunk))
            )
        )
    claims_by_indicator = load_provenance(conn, rows)
    when = now_us() if now is None else now
    lookup = SourceCache().lookup(conn)
    return len(publish_changed(conn, rows, claims_by_indicator, lookup, when))


def load_provenance(
    conn: Connection, indicator_ids: Iterable[int]
) -> dict[int, list[Any]]:
    """Return every provenance row of the given indicators, by indicator id."""
    found: dict[int, list[Any]] = defaultdict(list)
    for chunk in _chunks(sorted(indicator_ids)):
        for row in conn.execute(
            sa.select(provenance).where(provenance.c.indicator_id.in_(chunk))
        ):
            found[row.indicator_id].append(row)
    return found


def publish_changed(
    conn: Connection,
    rows: dict[int, Any],
    claims_by_indicator: dict[int, list[Any]],
    sources_of: SourceLookup,
    now: int,
) -> set[int]:
    """Publish a new version of each indicator whose recomputed view changed.

    ``rows`` are ``indicators`` rows by id, and ``claims_by_indicator`` all
    their provenance rows. Each view is computed at its new ``modified``
    time, at or after ``now`` (µs). A view that is not active and replaces
    no published version updates the row but publishes nothing. Returns the
    ids of the indicators whose row changed.
    """
    updates: list[dict[str, Any]] = []
    hidden: list[int] = []
    for indicator_id in sorted(rows):
        row = rows[indicator_id]
        at = max(now, row.modified + 1)
        view = aggregate(row, claims_by_indicator.get(indicator_id, []), sources_of, at)
        digest = view_digest(view)
        if digest == row.digest:
            continue
        view = dataclasses.replace(view, modified=at)
        updates.append(_indicator_update(indicator_id, view, digest))
        if view.state is not State.ACTIVE:
            hidden.append(indicator_id)
    if not updates:
        return set()
    published = _published_ids(conn, [rows[i].stix_id for i in hidden])
    versioned = [
        update["b_id"]
        for update in updates
        if update["b_id"] not in hidden or rows[update["b_id"]].stix_id in published
    ]
    so = stix_objects.c
    if versioned:
        # The version being replaced was rendered from this row; store it
        # now, before the row changes.
        superseded = [
            {"b_stix_id": rows[i].stix_id, "body": render_body(indicator_view(rows[i]))}
            for i in versioned
        ]
        conn.execute(
            sa.update(stix_objects)
            .where(so.stix_id == sa.bindparam("b_stix_id"), so.is_latest.is_(True))
            .values(is_latest=False, body=sa.bindparam("body")),
            superseded,
        )
    columns = [name for name in updates[0] if name != "b_id"]
    conn.execute(
        sa.update(indicators)
        .where(indicators.c.id == sa.bindparam("b_id"))
        .values({name: sa.bindparam(name) for name in columns}),
        updates,
    )
    append_versions(conn, versioned)
    return {update["b_id"] for update in updates}


def _published_ids(conn: Connection, stix_ids: list[str]) -> set[str]:
    """Return which of these STIX ids have a published version."""
    found: set[str] = set()
    so = stix_objects.c
    for chunk in _chunks(stix_ids):
        found.update(
            conn.execute(
                sa.select(so.stix_id).where(
                    so.stix_id.in_(chunk), so.is_latest.is_(True)
                )
            ).scalars()
        )
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


def stale_digests(conn: Connection) -> list[int]:
    """Return ids of indicators whose stored digest differs from a recomputation.

    Each record is recomputed at its ``modified`` time, the time its view was
    computed. An empty list means every record's published state follows
    from its provenance; anything else is a merge defect.
    """
    lookup = SourceCache().lookup(conn)
    by_indicator: dict[int, list[Any]] = defaultdict(list)
    for prov in conn.execute(sa.select(provenance)):
        by_indicator[prov.indicator_id].append(prov)
    stale = []
    for row in conn.execute(sa.select(indicators)):
        view = aggregate(row, by_indicator[row.id], lookup, row.modified)
        if view_digest(view) != row.digest:
            stale.append(row.id)
    return stale


def _first_view(
    stix_id: str,
    kind: str,
    value: str,
    claim: _Claim,
    merger: Merger,
    benign: str | None,
    sources_of: SourceLookup,
) -> IndicatorView:
    """Build the view of a new indicator whose only provenance is ``claim``.

    It is what :func:`aggregate` computes from the rows the merge stores
    for the value, without reading them back.
    """
    row = SimpleNamespace(
        stix_id=stix_id,
        type=kind,
        value=value,
        state=State.ACTIVE.value,
        analyst_confidence=None,
        analyst_tlp=None,
        analyst_healthcare=None,
        benign=benign,
        created=merger.run_at,
        modified=merger.run_at,
    )
    prov = SimpleNamespace(
        source_id=merger.source.id,
        first_reported=merger.run_at,
        active=True,
        **_provenance_row(claim),
    )
    return aggregate(row, [prov], sources_of, merger.run_at)


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

    @property
    def published(self) -> bool:
        """Tell whether the view is active, so that it gets a version."""
        return bool(self.columns[0] == State.ACTIVE.value)

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
        claim.listed_at,
        None,
    )


def _provenance_row(claim: _Claim) -> dict[str, Any]:
    return dict(zip(_CLAIM_COLUMNS, _provenance_values(claim), strict=True))


def _differs(old: Any, row: dict[str, Any]) -> bool:
    return any(getattr(old, name) != value for name, value in row.items())


def _lone_claim_inputs(
    cands: list[Candidate], kind: str, benign: str | None
) -> tuple[Any, ...] | None:
    """Return what a new value's first view reads from a lone candidate, as a key.

    The key is the value's type and known-benign list, and the fields
    that :meth:`_BatchWriter._claim_for` reads, so keep the two in step.
    Returns None for several candidates, and for a candidate with context,
    since a dict cannot be part of a key.
    """
    if len(cands) != 1:
        return None
    cand = cands[0]
    if cand.context:
        return None
    return (
        kind,
        benign,
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
    grouped: dict[tuple[str, str], list[Candidate]] = {}
    # A dict lookup costs a quarter of reading an enum member's value.
    names = _TYPE_NAMES
    for cand in batch:
        key = (names[cand.type], cand.value)
        found = grouped.get(key)
        if found is None:
            grouped[key] = [cand]
        else:
            found.append(cand)
    return grouped


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
