"""The ingest loop: read, parse, normalise, merge, for any input format.

The loop does not depend on where inputs come from or how the caller shows
progress: the command line, the feed scheduler and a queue worker all call
:func:`ingest` with paths and a source.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from medisac.enrich.benign import KnownBenign
from medisac.errors import ConfigError, IngestError, NormalizationError
from medisac.ingest.detect import PARSERS, ParseOptions, detect_format
from medisac.ingest.document import Document
from medisac.ingest.reader import expand
from medisac.ingest.summary import FailedInput, IngestSummary
from medisac.members import audit
from medisac.model import (
    TLP,
    Observation,
    ParseItem,
    ParseWarning,
    Rejection,
    Skipped,
)
from medisac.model.time import now_us, to_us
from medisac.normalize import normalize
from medisac.store.merge import Candidate, Merger, ensure_source
from medisac.store.tables import ingest_runs, sources
from medisac.vulns.ingest import VULN_FORMATS, ingest_into_summary

log = logging.getLogger(__name__)

# Candidates merged per transaction: large enough to amortise the queries
# and the index pages that each commit rewrites, small enough to keep memory
# flat on a million-line feed (a batch of bare addresses peaks at about 1 KB
# per candidate).
BATCH_SIZE = 100_000

# The tags of the many observations that have none. Each frozenset() call
# makes a new object of about 200 bytes.
_NO_TAGS: frozenset[str] = frozenset()

# Called after each input with (origin, observations read so far).
ProgressHook = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """The inputs of one ingest run and the source to attribute them to.

    ``tlp`` and ``confidence`` apply where an observation states none; ``None``
    falls back to the source's stored defaults. ``complete_listing`` marks the
    inputs as the source's whole current list (a feed poll), so a value the
    source listed before and no longer lists is delisted once every input
    was read without an error.
    """

    inputs: tuple[str | Path, ...]
    source: str
    format: str | None = None
    tlp: TLP | None = None
    confidence: int | None = None
    max_input_bytes: int = 256 * 1024 * 1024
    complete_listing: bool = False

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in PARSERS:
            choices = ", ".join(PARSERS)
            raise ConfigError(
                f"unknown input format {self.format!r}; use one of {choices}, "
                "or give none to detect it"
            )


def ingest(
    engine: Engine,
    request: IngestRequest,
    *,
    progress: ProgressHook | None = None,
    clock: Callable[[], int] = now_us,
) -> IngestSummary:
    """Ingest every input of ``request`` into the store behind ``engine``.

    Bad records and unreadable inputs are counted in the returned summary,
    never raised, so one bad input costs only itself. ``clock`` returns the
    current time in µs, and the run dates its claims, scores and health
    record by it.
    """
    summary = IngestSummary()
    with engine.begin() as conn:
        source = ensure_source(
            conn,
            request.source,
            default_tlp=request.tlp if request.tlp is not None else TLP.GREEN,
            default_confidence=request.confidence
            if request.confidence is not None
            else 50,
        )
    merger = Merger(
        engine,
        source,
        tlp=request.tlp,
        confidence=request.confidence,
        complete_listing=request.complete_listing,
        benign=_known_benign(engine),
        clock=clock,
    )
    started = merger.run_at
    log.info("ingest started: source %s, %d input(s)", source.name, len(request.inputs))
    batch: list[Candidate] = []
    stopped = True
    try:
        for doc in _documents(request, summary):
            summary.inputs += 1
            _ingest_document(doc, request, summary, merger, batch)
            if progress is not None:
                progress(doc.origin, summary.observations)
        _flush(merger, batch, summary)
        if request.complete_listing:
            _delist(merger, summary)
        stopped = False
    finally:
        try:
            merger.close()
        finally:
            times = (started, clock())
            _record_run(engine, source.id, times, request, summary, stopped)
            _audit_run(engine, source.name, summary, stopped)
    log.info(
        "ingest finished: source %s, %d new, %d updated, %d unchanged, "
        "%d rejected, %d input(s) failed",
        source.name,
        summary.merge.new,
        summary.merge.updated,
        summary.merge.unchanged,
        summary.rejected,
        len(summary.failed),
    )
    return summary


def _audit_run(
    engine: Engine, source: str, summary: IngestSummary, stopped: bool
) -> None:
    """Append the run to the audit log: every write to the store is recorded."""
    detail = {
        "inputs": summary.inputs,
        "new": summary.merge.new,
        "updated": summary.merge.updated,
        "rejected": summary.rejected,
        "stopped": stopped,
    }
    with engine.begin() as conn:
        audit.record(conn, "ingest", source, detail=detail)


def _known_benign(engine: Engine) -> KnownBenign:
    """Load the known-benign lists and the operator's allow list once per run."""
    with engine.connect() as conn:
        return KnownBenign.load(conn)


def _delist(merger: Merger, summary: IngestSummary) -> None:
    """Delist what a complete listing no longer holds, if it was read whole.

    A run with a failed input, or one that read no value at all, proves
    nothing about what the source lists now: an outage or an empty error
    page must not make values stale.
    """
    if summary.failed:
        log.warning(
            "source %s: not delisting, %d input(s) failed",
            merger.source.name,
            len(summary.failed),
        )
        return
    if summary.values == 0:
        log.warning(
            "source %s: not delisting, the listing held no value", merger.source.name
        )
        return
    summary.merge.delisted += merger.delist_unclaimed()


def _documents(request: IngestRequest, summary: IngestSummary) -> Iterator[Document]:
    """Expand each input on its own, so a missing path fails only itself."""
    for item in request.inputs:
        try:
            yield from expand([item], request.max_input_bytes)
        except IngestError as exc:
            summary.inputs += 1
            summary.failed.append(_failure(exc))
            log.error("cannot read %s: %s", exc.origin, exc.reason)


def _ingest_document(
    doc: Document,
    request: IngestRequest,
    summary: IngestSummary,
    merger: Merger,
    batch: list[Candidate],
) -> None:
    values_before = summary.values
    try:
        fmt = request.format or detect_format(doc)
        summary.formats[fmt] += 1
        if fmt in VULN_FORMATS:
            ingest_into_summary(merger.engine, doc, fmt, summary)
            return
        items = PARSERS[fmt](doc, ParseOptions())
        for candidate in _candidates(doc.origin, items, summary):
            batch.append(candidate)
            if len(batch) >= BATCH_SIZE:
                _flush(merger, batch, summary)
    except IngestError as exc:
        read = summary.values - values_before
        summary.failed.append(FailedInput(exc.origin, str(exc), read))
        log.error("cannot read %s: %s", exc.origin, exc)


def _candidates(
    origin: str, items: Iterable[ParseItem], summary: IngestSummary
) -> Iterator[Candidate]:
    for item in items:
        if isinstance(item, Observation):
            summary.observations += 1
            yield from _normalised(origin, item, summary)
        elif isinstance(item, Rejection):
            summary.reject(origin, item.location, item.reason)
        elif isinstance(item, Skipped):
            summary.skipped[item.kind] += 1
        elif isinstance(item, ParseWarning):
            summary.warnings.append(f"{origin}, {item.location}: {item.message}")


def _normalised(
    origin: str, obs: Observation, summary: IngestSummary
) -> Iterator[Candidate]:
    try:
        values = normalize(obs.value, obs.type)
    except NormalizationError as exc:
        summary.reject(origin, obs.location, f"{exc.reason}: {_shorten(obs.value)}")
        return
    first_seen = to_us(obs.first_seen) if obs.first_seen else None
    last_seen = to_us(obs.last_seen) if obs.last_seen else None
    version = to_us(obs.version) if obs.version else None
    valid_until = to_us(obs.valid_until) if obs.valid_until else None
    for value in values:
        summary.values += 1
        context = {**obs.context, **value.context} if value.context else obs.context
        # Positional, in Candidate's field order: keyword arguments cost more
        # than the rest of this loop for a plain list of addresses.
        yield Candidate(
            value.type,
            value.value,
            f"{origin}, {obs.location}",
            first_seen,
            last_seen,
            valid_until,
            obs.confidence,
            obs.tlp,
            frozenset(obs.tags) if obs.tags else _NO_TAGS,
            dict(context),
            obs.ref,
            version,
            obs.revoked,
            obs.to_ids,
        )


def _flush(merger: Merger, batch: list[Candidate], summary: IngestSummary) -> None:
    # The end of the transaction runs in a background thread while the next
    # batch is read. The database drivers release the GIL while they wait
    # for the database, which spends much of that time writing to disk.
    if batch:
        summary.merge.add(merger.merge(batch, commit_later=True))
        batch.clear()


def _failure(exc: IngestError) -> FailedInput:
    return FailedInput(exc.origin, str(exc))


def _shorten(value: str, limit: int = 120) -> str:
    """Quote a rejected value for a message without flooding the terminal."""
    text = value if len(value) <= limit else value[:limit] + "…"
    return repr(text)


def _record_run(
    engine: Engine,
    source_id: int,
    times: tuple[int, int],
    request: IngestRequest,
    summary: IngestSummary,
    stopped: bool,
) -> None:
    """Write the run's health record; note a run without failures as a success.

    ``stopped`` is true when an exception ended the run before it read every
    input.
    """
    started, finished = times
    if stopped or summary.nothing_read:
        outcome = "failed"
    elif summary.complete:
        outcome = "ok"
    else:
        outcome = "partial"
    error = "; ".join(f.reason for f in summary.failed[:5]) or None
    if stopped and error is None:
        error = "the run stopped on an error before reading every input; see the log"
    with engine.begin() as conn:
        if not stopped and not summary.failed:
            conn.execute(
                sources.update()
                .where(sources.c.id == source_id)
                .values(last_success=finished)
            )
        conn.execute(
            ingest_runs.insert().values(
                source_id=source_id,
                started=started,
                finished=finished,
                outcome=outcome,
                inputs="\n".join(str(item) for item in request.inputs),
                new=summary.merge.new,
                updated=summary.merge.updated,
                unchanged=summary.merge.unchanged,
                rejected=summary.rejected,
                error=error,
            )
        )
