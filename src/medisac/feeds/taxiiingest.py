"""Pull a TAXII 2.1 collection into the store, one page at a time.

Each page's objects are written as a STIX bundle to a temporary file that
:func:`medisac.ingest.pipeline.ingest` reads with its STIX parser, so objects
from TAXII are read exactly like a bundle file: versions, markings,
relationships and rejections alike. The cursor moves past a page only after
``ingest`` has committed that page. A pull that stops part of the way (an
error, ``max_pages``, or a crash before the caller saved the cursor) resumes
from the last committed page. The merge step drops a STIX object version it
has already stored, so a page that is requested again adds no record, no
provenance and no observation.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy.engine import Engine

from medisac.errors import FeedError
from medisac.feeds.taxii import TaxiiCursor, TaxiiFeed, TaxiiPage, pull_collection
from medisac.ingest.pipeline import IngestRequest, ingest
from medisac.ingest.summary import MAX_LISTED_REJECTIONS, FailedInput, IngestSummary
from medisac.model import TLP
from medisac.settings import DEFAULT_MAX_INPUT_BYTES

log = logging.getLogger(__name__)

# Called with the new cursor once the pages before it are committed.
CommitHook = Callable[[TaxiiCursor], None]


@dataclass(slots=True)
class TaxiiIngest:
    """The outcome of one pull into the store.

    ``cursor`` is where the next pull starts: after the last committed page.
    ``error`` is the failure that ended the pull early, if any; it is also
    in ``summary.failed``.
    """

    summary: IngestSummary
    cursor: TaxiiCursor
    pages: int = 0
    error: FeedError | None = None


@dataclass(frozen=True, slots=True)
class _Target:
    """The store that pages go into, and the defaults for their objects."""

    engine: Engine
    source: str
    tlp: TLP | None
    confidence: int | None
    folder: Path


def pull_and_ingest(
    engine: Engine,
    feed: TaxiiFeed,
    source: str,
    cursor: TaxiiCursor,
    *,
    tlp: TLP | None = None,
    confidence: int | None = None,
    max_pages: int | None = None,
    on_commit: CommitHook | None = None,
) -> TaxiiIngest:
    """Pull the objects added after ``cursor`` into the store as ``source``.

    Each page is ingested and committed before the next is requested, and
    ``on_commit`` (when given) receives the cursor after every page that
    moved it, so a caller can save it as it goes. ``tlp`` and ``confidence``
    apply where an object states none, as in :class:`IngestRequest`.

    A :class:`FeedError` (HTTP error, timeout, invalid body) ends the pull and
    is logged and returned in ``error``, with the pages before it committed.
    A page that ``ingest`` cannot read also ends the pull and leaves the
    cursor before it. Errors of the store propagate.
    """
    result = TaxiiIngest(IngestSummary(), cursor)
    with tempfile.TemporaryDirectory(prefix="medisac-taxii-") as folder:
        target = _Target(engine, source, tlp, confidence, Path(folder))
        pages = pull_collection(feed, cursor, max_pages=max_pages)
        reported = cursor
        try:
            for page in pages:
                if not _store_page(target, page, result):
                    break
                if on_commit is not None and result.cursor != reported:
                    reported = result.cursor
                    on_commit(reported)
        except FeedError as exc:
            log.error("%s; the cursor stays at %s", exc, result.cursor.added_after)
            result.error = exc
            result.summary.inputs += 1
            result.summary.failed.append(FailedInput(exc.url, exc.reason))
        finally:
            pages.close()
    return result


def _store_page(target: _Target, page: TaxiiPage, result: TaxiiIngest) -> bool:
    """Ingest one page; return False when it could not be read."""
    result.pages = page.number
    result.summary.warnings.extend(page.warnings)
    if page.objects:
        part = _ingest_objects(target, page)
        add_summary(result.summary, part)
        if part.failed:
            log.error(
                "%s: page %d was not stored; the cursor stays at %s",
                page.url,
                page.number,
                result.cursor.added_after,
            )
            return False
    result.cursor = page.cursor
    return True


def _ingest_objects(target: _Target, page: TaxiiPage) -> IngestSummary:
    path = target.folder / f"page-{page.number:06d}.json"
    bundle = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": page.objects,
    }
    try:
        data = orjson.dumps(bundle)
    except orjson.JSONEncodeError:
        # Integers past 64 bits, which the standard library writes as they are.
        data = json.dumps(bundle).encode("utf-8")
    path.write_bytes(data)
    request = IngestRequest(
        inputs=(path,),
        source=target.source,
        format="stix",
        tlp=target.tlp,
        confidence=target.confidence,
        max_input_bytes=max(DEFAULT_MAX_INPUT_BYTES, len(data)),
    )
    try:
        part = ingest(target.engine, request)
    finally:
        path.unlink()
    _rename_origin(part, str(path), page.url)
    return part


def _rename_origin(summary: IngestSummary, old: str, new: str) -> None:
    """Name the page's URL, not its temporary file, in every message."""
    summary.rejections = [
        dataclasses.replace(item, origin=new) if item.origin == old else item
        for item in summary.rejections
    ]
    summary.failed = [
        dataclasses.replace(item, origin=new) if item.origin == old else item
        for item in summary.failed
    ]
    summary.warnings = [text.replace(old, new) for text in summary.warnings]
    summary.merge.warnings = [text.replace(old, new) for text in summary.merge.warnings]


def add_summary(total: IngestSummary, part: IngestSummary) -> None:
    """Add the counts and messages of ``part`` to ``total``."""
    total.inputs += part.inputs
    total.formats.update(part.formats)
    total.observations += part.observations
    total.values += part.values
    total.rejected += part.rejected
    room = max(MAX_LISTED_REJECTIONS - len(total.rejections), 0)
    total.rejections.extend(part.rejections[:room])
    total.skipped.update(part.skipped)
    total.warnings.extend(part.warnings)
    total.failed.extend(part.failed)
    total.merge.add(part.merge)
