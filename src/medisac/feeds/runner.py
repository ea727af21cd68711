"""Run feeds: fetch, ingest, and record each run's health.

:func:`run_feed` runs one registered feed under its run lock (see
:mod:`medisac.feeds.guard`) and never raises for a failure of the feed: a
fetch error, an unreadable body or an unexpected exception becomes a failed
run with its reason, logged with the feed's name, so the other feeds run
on. Each run leaves one ``ingest_runs`` row that covers the whole run, the
download included, with its outcome, counts and error.

Kinds:

- ``file``: a file or folder, read whole as the feed's current list.
- ``http``: one URL, downloaded as :mod:`medisac.feeds.httpfeed` describes,
  and read whole as the feed's current list.
- ``taxii``: a TAXII 2.1 collection pulled page by page after the stored
  ``added_after`` cursor, which moves after each committed page.
- ``misp-feed``: a MISP feed, of which only new or changed events are read.

The first two pass ``complete_listing`` to ingest, so values the feed no
longer lists can be delisted. The others deliver changes only and never do.
A feed counts as successful, and ``last_success`` moves, only when every
input was read without an error.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from medisac.errors import MedisacError
from medisac.feeds import mispfeed
from medisac.feeds.fetch import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT
from medisac.feeds.guard import feed_lock
from medisac.feeds.httpfeed import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_WAIT,
    HttpSettings,
    download_feed,
)
from medisac.feeds.registry import (
    KIND_FILE,
    KIND_HTTP,
    KIND_MISP_FEED,
    KIND_TAXII,
    Feed,
    get_feed,
    last_started,
    list_feeds,
    mark_success,
    save_fetch_state,
)
from medisac.feeds.taxii import TaxiiCursor, TaxiiFeed
from medisac.feeds.taxiiingest import pull_and_ingest
from medisac.ingest.pipeline import IngestRequest, ingest
from medisac.ingest.summary import IngestSummary
from medisac.model.time import now_us
from medisac.settings import DEFAULT_MAX_INPUT_BYTES
from medisac.store.tables import ingest_runs

log = logging.getLogger(__name__)

OK = "ok"
PARTIAL = "partial"
FAILED = "failed"
NOT_MODIFIED = "not-modified"
BUSY = "busy"

# Feeds run side by side by one `medisac feeds run`.
DEFAULT_WORKERS = 4
# Failure reasons kept in one run's error text.
_MAX_REASONS = 5


@dataclass(slots=True)
class FeedRun:
    """The outcome of one run of one feed.

    ``outcome`` is ``ok``, ``partial`` (an error after some data was
    stored), ``failed``, ``not-modified`` (HTTP 304) or ``busy`` (another
    run of the feed held its lock, so this one did nothing).
    """

    name: str
    outcome: str
    error: str | None = None
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """True when the run ended with an error."""
        return self.error is not None


@dataclass(slots=True)
class _KindResult:
    """The result of one kind's handler: its ingest summary and the state to keep."""

    summary: IngestSummary = field(default_factory=IngestSummary)
    errors: list[str] = field(default_factory=list)
    state: dict[str, Any] | None = None
    not_modified: bool = False
    inputs: str = ""


def run_feed(
    engine: Engine, name: str, *, max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
) -> FeedRun:
    """Run the feed ``name`` once and record the run; see the module docstring.

    Raises :class:`~medisac.errors.ConfigError` when no feed has that name.
    Every failure of the feed itself is returned as a failed run, and only
    an error of the store while the run is recorded propagates.
    """
    with engine.connect() as conn:
        feed = get_feed(conn, name)
    with feed_lock(engine, feed.id) as held:
        if not held:
            log.warning("feed %s: skipped, because another run of it is going on", name)
            return FeedRun(name, BUSY, "another run of this feed is going on")
        return _run_locked(engine, feed, max_input_bytes)


def _run_locked(engine: Engine, feed: Feed, max_input_bytes: int) -> FeedRun:
    started = now_us()
    marker = _last_run_id(engine, feed.id)
    log.info("feed %s: run started (%s %s)", feed.name, feed.kind, feed.location)
    try:
        result = _HANDLERS[feed.kind](engine, feed, max_input_bytes)
    except MedisacError as exc:
        result = _KindResult(errors=[str(exc)], inputs=feed.location)
    except Exception as exc:
        # A bug met by one feed must not stop the others, so it is logged
        # with its traceback and recorded as this feed's failure.
        log.exception("feed %s: unexpected error", feed.name)
        result = _KindResult(
            errors=[f"unexpected error {type(exc).__name__}: {exc}"],
            inputs=feed.location,
        )
    finished = now_us()
    run = _outcome(feed.name, result, started, finished)
    _record(engine, feed, marker, result, run, started, finished)
    if run.failed:
        log.error("feed %s: %s: %s", feed.name, run.outcome, run.error)
    else:
        log.info(
            "feed %s: %s, %d new, %d updated, %d unchanged, %d rejected, %.1f s",
            feed.name,
            run.outcome,
            run.new,
            run.updated,
            run.unchanged,
            run.rejected,
            run.seconds,
        )
    return run


def _outcome(name: str, result: _KindResult, started: int, finished: int) -> FeedRun:
    summary = result.summary
    errors = result.errors + [item.reason for item in summary.failed]
    merge = summary.merge
    run = FeedRun(
        name,
        OK,
        new=merge.new,
        updated=merge.updated,
        unchanged=merge.unchanged,
        rejected=summary.rejected,
        seconds=(finished - started) / 1_000_000,
    )
    if result.not_modified:
        run.outcome = NOT_MODIFIED
    elif errors:
        run.error = "; ".join(errors[:_MAX_REASONS])
        if len(errors) > _MAX_REASONS:
            run.error += f"; and {len(errors) - _MAX_REASONS} more"
        stored = merge.new or merge.updated or merge.unchanged
        run.outcome = PARTIAL if stored else FAILED
    return run


def _last_run_id(engine: Engine, feed_id: int) -> int:
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(sa.func.max(ingest_runs.c.id)).where(
                ingest_runs.c.source_id == feed_id
            )
        ).scalar_one()
    return int(value or 0)


def _record(
    engine: Engine,
    feed: Feed,
    marker: int,
    result: _KindResult,
    run: FeedRun,
    started: int,
    finished: int,
) -> None:
    """Replace the rows that ingest wrote during the run with one for the run."""
    rc = ingest_runs.c
    with engine.begin() as conn:
        conn.execute(
            sa.delete(ingest_runs).where(rc.source_id == feed.id, rc.id > marker)
        )
        conn.execute(
            sa.insert(ingest_runs).values(
                source_id=feed.id,
                started=started,
                finished=finished,
                outcome=run.outcome,
                inputs=result.inputs or feed.location,
                new=run.new,
                updated=run.updated,
                unchanged=run.unchanged,
                rejected=run.rejected,
                error=run.error,
            )
        )
        if result.state is not None:
            save_fetch_state(conn, feed.id, result.state)
        if not run.failed:
            mark_success(conn, feed.id, finished)


# -- kinds ------------------------------------------------------------------


def http_settings(feed: Feed, max_input_bytes: int) -> HttpSettings:
    """Return the fetch settings of ``feed`` from its options."""
    return HttpSettings(
        timeout=float(feed.option("timeout", DEFAULT_TIMEOUT)),
        max_bytes=int(feed.option("max_bytes", max_input_bytes)),
        retries=int(feed.option("retries", DEFAULT_RETRIES)),
        retry_wait=float(feed.option("retry_wait", DEFAULT_RETRY_WAIT)),
        credentials=feed.credentials,
    )


def _run_file(engine: Engine, feed: Feed, max_input_bytes: int) -> _KindResult:
    request = IngestRequest(
        inputs=(feed.location,),
        source=feed.name,
        format=feed.parse_format,
        max_input_bytes=int(feed.option("max_bytes", max_input_bytes)),
        complete_listing=True,
    )
    return _KindResult(summary=ingest(engine, request), inputs=feed.location)


def _run_http(engine: Engine, feed: Feed, max_input_bytes: int) -> _KindResult:
    settings = http_settings(feed, max_input_bytes)
    validators = {
        key: str(value)
        for key, value in feed.fetch_state.items()
        if key in ("etag", "last_modified")
    }
    with tempfile.TemporaryDirectory(prefix="medisac-feed-") as folder:
        body = download_feed(feed.location, Path(folder), settings, validators)
        if body.path is None:
            return _KindResult(not_modified=True, inputs=body.url)
        request = IngestRequest(
            inputs=(body.path,),
            source=feed.name,
            format=feed.parse_format,
            max_input_bytes=settings.max_bytes,
            complete_listing=True,
        )
        summary = ingest(engine, request)
        rename_origins(summary, str(body.path), body.url)
    # The validators move only with a stored body, so a body that failed to
    # ingest is downloaded again next time instead of getting a 304 reply.
    state = None if summary.failed else body.validators
    return _KindResult(summary=summary, state=state, inputs=body.url)


def _run_taxii(engine: Engine, feed: Feed, max_input_bytes: int) -> _KindResult:
    credentials = feed.credentials
    page_size = feed.option("page_size", None)
    max_pages = feed.option("max_pages", None)
    collection = TaxiiFeed(
        feed.location,
        page_size=int(page_size) if page_size is not None else None,
        token=credentials.token,
        username=credentials.username,
        password=credentials.password,
        timeout=float(feed.option("timeout", DEFAULT_TIMEOUT)),
        max_bytes=int(feed.option("max_bytes", DEFAULT_MAX_RESPONSE_BYTES)),
    )
    cursor = TaxiiCursor(feed.fetch_state.get("added_after"))
    state = dict(feed.fetch_state)

    def save(moved: TaxiiCursor) -> None:
        # Saved after each committed page, so a crash resumes from there.
        state["added_after"] = moved.added_after
        with engine.begin() as conn:
            save_fetch_state(conn, feed.id, state)

    result = pull_and_ingest(
        engine,
        collection,
        feed.name,
        cursor,
        max_pages=int(max_pages) if max_pages is not None else None,
        on_commit=save,
    )
    state["added_after"] = result.cursor.added_after
    # pull_and_ingest lists its own error among the summary's failed inputs.
    return _KindResult(summary=result.summary, state=state, inputs=feed.location)


def _run_misp_feed(engine: Engine, feed: Feed, max_input_bytes: int) -> _KindResult:
    settings = http_settings(feed, max_input_bytes)
    known: dict[str, str] = dict(feed.fetch_state.get("events", {}))
    remote = feed.location.lower().startswith(("http://", "https://"))
    with tempfile.TemporaryDirectory(prefix="medisac-misp-") as folder:
        if remote:
            manifest = mispfeed.fetch_remote_manifest(feed.location, settings)
        else:
            manifest = mispfeed.read_local_manifest(Path(feed.location))
        todo = mispfeed.changed_events(manifest, known)
        errors: list[str] = []
        if remote:
            files, failed = mispfeed.download_events(
                manifest, todo, Path(folder), settings
            )
            errors.extend(failed.values())
        else:
            files = {Path(manifest.base) / event.filename: event for event in todo}
        summary = IngestSummary()
        if files:
            request = IngestRequest(
                inputs=tuple(files),
                source=feed.name,
                format="misp",
                max_input_bytes=settings.max_bytes,
            )
            summary = ingest(engine, request)
        by_origin = {str(path): event for path, event in files.items()}
        unread = {
            by_origin[item.origin].uuid
            for item in summary.failed
            if item.origin in by_origin
        }
        for path, event in files.items():
            if event.uuid not in unread:
                known[event.uuid] = event.version
            rename_origins(summary, str(path), manifest.base + event.filename)
    listed = {event.uuid for event in manifest.events}
    state = {"events": {uuid: v for uuid, v in known.items() if uuid in listed}}
    log.info(
        "feed %s: %d of %d events new or changed", feed.name, len(todo), len(listed)
    )
    return _KindResult(
        summary=summary, errors=errors, state=state, inputs=feed.location
    )


_HANDLERS = {
    KIND_FILE: _run_file,
    KIND_HTTP: _run_http,
    KIND_TAXII: _run_taxii,
    KIND_MISP_FEED: _run_misp_feed,
}


def rename_origins(summary: IngestSummary, old: str, new: str) -> None:
    """Name ``new`` instead of the temporary path ``old`` in every message.

    Archive members, named ``old!member``, are renamed too.
    """

    def renamed(origin: str) -> str:
        if origin == old or origin.startswith(old + "!"):
            return new + origin[len(old) :]
        return origin

    summary.rejections = [
        replace(item, origin=renamed(item.origin)) for item in summary.rejections
    ]
    summary.failed = [
        replace(item, origin=renamed(item.origin), reason=item.reason.replace(old, new))
        for item in summary.failed
    ]
    summary.warnings = [text.replace(old, new) for text in summary.warnings]
    summary.merge.warnings = [text.replace(old, new) for text in summary.merge.warnings]


# -- many feeds -------------------------------------------------------------


def due_feeds(engine: Engine, now: int | None = None) -> list[str]:
    """Return the names of enabled feeds with an interval whose next run is due.

    A feed is due when it never ran, or when its last run started at least
    its interval ago.
    """
    moment = now_us() if now is None else now
    with engine.connect() as conn:
        feeds = list_feeds(conn)
        started = last_started(conn)
    due = []
    for feed in feeds:
        if not feed.enabled or feed.every_seconds is None:
            continue
        last = started.get(feed.id)
        if last is None or last + feed.every_seconds * 1_000_000 <= moment:
            due.append(feed.name)
    return due


def run_feeds(
    engine: Engine,
    names: Sequence[str] | None = None,
    *,
    due_only: bool = False,
    workers: int = DEFAULT_WORKERS,
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES,
) -> list[FeedRun]:
    """Run the feeds ``names``, or every enabled feed (every due one with
    ``due_only``), up to ``workers`` at a time; return their runs by name.

    Raises :class:`~medisac.errors.ConfigError` for an unknown name before
    any feed runs.
    """
    if names:
        with engine.connect() as conn:
            chosen = [get_feed(conn, name).name for name in names]
    elif due_only:
        chosen = due_feeds(engine)
    else:
        with engine.connect() as conn:
            chosen = [feed.name for feed in list_feeds(conn) if feed.enabled]
    if not chosen:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(chosen)))) as pool:
        runs = pool.map(
            lambda name: run_feed(engine, name, max_input_bytes=max_input_bytes),
            chosen,
        )
        return sorted(runs, key=lambda run: run.name)
