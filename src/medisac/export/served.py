"""Exports over HTTP: ``/feeds/{format}`` for firewalls, resolvers and sensors.

Each format that ``medisac export`` writes as one file is served here, with
the same filters as query parameters (``type`` repeatable, ``min_confidence``,
``tlp``, ``since``, ``healthcare``, ``max``, and ``list`` for EDL). A request
needs an API key with the ``read`` scope, as for TAXII, and the TLP filter is
capped at the key's clearance.

``/feeds/delta?since=T`` lists, by type, the values added and the values
withdrawn after ``T``, for a device that updates its list in place.

Every export response has a weak ``ETag`` made from the request's format and filters,
the last published version in the store and the count of active indicators
whose ``valid_until`` has passed. A device that polls with ``If-None-Match``
gets ``304 Not Modified`` without an export being written while none of
these has changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from sqlalchemy.engine import Connection, Engine
from starlette.background import BackgroundTask

from medisac.api.validation import validation_error
from medisac.errors import TaxiiError
from medisac.export.formats import (
    DIRECTORY_FORMATS,
    DIRECTORY_ONLY_FORMATS,
    EDL_LISTS,
    FORMATS,
    FormatOptions,
    stream_writer,
    write_directory,
)
from medisac.export.select import ExportFilter, parse_types
from medisac.members.access import Audience
from medisac.members.gate import Gate, forbidden, tier_of
from medisac.model import TLP, IndicatorType, State
from medisac.model.time import format_rfc3339, now_us, parse_rfc3339, to_us
from medisac.store.tables import indicators, stix_objects
from medisac.taxii.auth import READ_SCOPE

log = logging.getLogger(__name__)

FEEDS_MOUNT_PATH = "/feeds"
# The largest ``max`` a request may give: more than any store holds, and
# small enough for the 64-bit integers that ETags are made from.
MAX_COUNT = 1_000_000_000
# File names in directory exports are short; a longer name is not there.
MAX_FILE_NAME = 255

# Media type of each served format.
MEDIA_TYPES = {
    "plain": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "edl": "text/plain; charset=utf-8",
    "rpz": "text/dns; charset=utf-8",
    "stix": "application/stix+json;version=2.1",
    "suricata": "text/plain; charset=utf-8",
    "zeek": "text/plain; charset=utf-8",
}


def _selection(
    request: Request,
    type_: Annotated[list[str] | None, Query(alias="type")] = None,
    min_confidence: Annotated[int, Query(ge=0, le=100)] = 0,
    tlp: str = "amber+strict",
    since: str | None = None,
    healthcare: bool = False,
    max_count: Annotated[int | None, Query(alias="max", ge=1, le=MAX_COUNT)] = None,
) -> ExportFilter:
    """Authenticate the request and read its filters, capped at its clearance."""
    key = request.app.state.authenticate(request)
    return ExportFilter(
        types=_types(type_),
        min_confidence=min_confidence,
        tlp=_level(tlp),
        audience=key.audience,
        since=_since(since),
        healthcare=healthcare,
        max_count=max_count,
    )


# The filters of an export request, read from its query parameters.
Selection = Annotated[ExportFilter, Depends(_selection)]


def create_feeds_app(engine: Engine, gate: Gate | None = None) -> FastAPI:
    """Build the application that serves exports; mount it at ``/feeds``.

    Requests are admitted by ``gate`` (one of its own when None).
    """
    app = FastAPI(title="medisac feeds", openapi_url=None, docs_url=None)
    authenticate = (gate or Gate(engine)).require("feeds", READ_SCOPE)
    app.state.authenticate = authenticate

    app.add_exception_handler(RequestValidationError, validation_error)

    @app.exception_handler(TaxiiError)
    async def _error(_request: Request, exc: TaxiiError) -> Response:
        body = {"title": exc.title, "description": exc.description}
        return Response(
            orjson.dumps(body),
            status_code=exc.status,
            headers=exc.headers,
            media_type="application/json",
        )

    @app.get("/delta")
    def get_delta(
        request: Request,
        since: str,
        type_: Annotated[list[str] | None, Query(alias="type")] = None,
        tlp: str = "amber+strict",
    ) -> Response:
        key = authenticate(request)
        changed_after = _parse_since(since)
        audience = key.audience.narrowed(_level(tlp))
        with engine.connect() as conn:
            delta = read_delta(conn, changed_after, _types(type_), audience)
        return Response(orjson.dumps(delta), media_type="application/json")

    directories = _DirectoryExports(engine)

    @app.get("/{fmt}")
    def get_feed(
        request: Request,
        fmt: str,
        selection: Selection,
        edl_list: Annotated[str, Query(alias="list")] = "ip",
    ) -> Response:
        if fmt in DIRECTORY_ONLY_FORMATS:
            raise _bad(f"{fmt} is a directory of files; fetch /feeds/{fmt}/{{file}}")
        if fmt not in MEDIA_TYPES:
            raise _bad(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        _check_tier(request, fmt)
        if edl_list not in EDL_LISTS:
            raise _bad(f"unknown list {edl_list!r}; use ip, domain or url")
        tag = _etag(engine, fmt, edl_list, selection)
        if tag in _listed_tags(request.headers.get("if-none-match")):
            return Response(status_code=304, headers={"ETag": tag})
        return _export(engine, fmt, edl_list, selection, tag)

    @app.get("/{fmt}/{name}")
    def get_feed_file(
        request: Request, fmt: str, name: str, selection: Selection
    ) -> Response:
        if fmt not in DIRECTORY_FORMATS:
            choices = ", ".join(sorted(DIRECTORY_FORMATS))
            raise _bad(f"{fmt!r} is not a directory format; use one of {choices}")
        _check_tier(request, fmt)
        directory_tag = _etag(engine, fmt, "", selection)
        directory = directories.get(fmt, selection, directory_tag)
        path = directory / name
        if name.startswith(".") or len(name) > MAX_FILE_NAME or not path.is_file():
            listed = ", ".join(sorted(p.name for p in directory.iterdir()))
            raise TaxiiError(
                404,
                "Not Found",
                f"{fmt} has no file {name[:MAX_FILE_NAME]!r}; it has {listed}",
            )
        # The directory's tag covers every file in it, and the name separates them.
        tag = _etag_of([directory_tag, name])
        if tag in _listed_tags(request.headers.get("if-none-match")):
            return Response(status_code=304, headers={"ETag": tag})
        return FileResponse(
            path,
            media_type=_file_media_type(name),
            headers={"ETag": tag, "Cache-Control": "no-cache"},
        )

    return app


class _DirectoryExports:
    """Directory exports written on request and kept while the store is unchanged.

    A MISP instance fetches ``manifest.json`` and then each event file, so
    one export must serve all of those requests. Each is kept under its
    ETag, and only the most recent few are kept.
    """

    KEEP = 4

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._root: Path | None = None
        self._lock = threading.Lock()
        self._built: OrderedDict[str, Path] = OrderedDict()

    def _root_directory(self) -> Path:
        """Create the directory of the exports on first use; delete it at exit."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="medisac-feeds-"))
            weakref.finalize(self, shutil.rmtree, self._root, ignore_errors=True)
        return self._root

    def get(self, fmt: str, selection: ExportFilter, tag: str) -> Path:
        """Return the directory of the export ``tag`` names, writing it if needed."""
        with self._lock:
            directory = self._built.get(tag)
            if directory is not None:
                self._built.move_to_end(tag)
                return directory
            digest = hashlib.blake2b(tag.encode(), digest_size=12).hexdigest()
            directory = self._root_directory() / digest
            with self._engine.connect() as conn:
                count = write_directory(
                    conn, fmt, selection, directory, FormatOptions()
                )
            log.info("wrote %s export for serving: %d indicators", fmt, count)
            self._built[tag] = directory
            while len(self._built) > self.KEEP:
                _old_tag, old = self._built.popitem(last=False)
                shutil.rmtree(old, ignore_errors=True)
            return directory


def _check_tier(request: Request, fmt: str) -> None:
    """Raise 403 when the tier of the request's key does not include ``fmt``."""
    tier = tier_of(request.state.key)
    if tier is not None and not tier.allows_export(fmt):
        allowed = ", ".join(sorted(tier.export_formats or ()))
        raise forbidden(
            f"the {tier.name} tier does not include {fmt} exports; it includes "
            f"{allowed}"
        )


def _file_media_type(name: str) -> str:
    if name.endswith(".json"):
        return "application/json"
    if name.endswith(".csv"):
        return "text/csv; charset=utf-8"
    return "text/plain; charset=utf-8"


def read_delta(
    conn: Connection,
    since: int,
    types: frozenset[IndicatorType],
    audience: Audience,
) -> dict[str, Any]:
    """Return the values added and withdrawn after ``since`` (µs), by type.

    A value is added when its latest version, published after ``since``, is
    active and blockable. It is withdrawn when that version ended it
    (expired, benign, false positive or revoked) or no source flags it for
    detection any more. A device applies the delta to the list it holds.
    """
    ic = indicators.c
    now = now_us()
    conditions = [ic.modified > since, audience.condition(ic.tlp, ic.id)]
    if types:
        conditions.append(ic.type.in_(sorted(t.value for t in types)))
    added: dict[str, list[str]] = {}
    withdrawn: dict[str, list[str]] = {}
    rows = conn.execute(
        sa.select(ic.type, ic.value, ic.state, ic.to_ids, ic.valid_until)
        .where(*conditions)
        .order_by(ic.id)
    )
    for kind, value, state, to_ids, valid_until in rows:
        live = (
            state == State.ACTIVE.value
            and bool(to_ids)
            and (valid_until is None or valid_until > now)
        )
        (added if live else withdrawn).setdefault(kind, []).append(value)
    return {
        "since": format_rfc3339(since),
        "until": format_rfc3339(now),
        "added": added,
        "withdrawn": withdrawn,
    }


def _export(
    engine: Engine, fmt: str, edl_list: str, selection: ExportFilter, tag: str
) -> Response:
    """Write the export to a temporary file and send it, then delete the file."""
    writer = stream_writer(fmt, FormatOptions(edl_list=edl_list))
    descriptor, name = tempfile.mkstemp(prefix="medisac-feed-")
    path = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle, engine.connect() as conn:
            count = writer(conn, selection, handle)
    except BaseException:
        path.unlink()
        raise
    log.info("served %s export: %d indicators", fmt, count)
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[fmt],
        headers={"ETag": tag, "Cache-Control": "no-cache"},
        background=BackgroundTask(path.unlink),
    )


def _etag(engine: Engine, fmt: str, edl_list: str, selection: ExportFilter) -> str:
    """Return the weak ETag of an export under the store's current state.

    The state is read through the reader's audience, so that the tag changes
    only with records the reader may see: a change to a hidden record must
    not tell a member that it happened.
    """
    audience = selection.audience or Audience.everything()
    audience = audience.narrowed(selection.tlp)
    ic, so = indicators.c, stix_objects.c
    with engine.connect() as conn:
        # The newest version the reader may see; scanning from the newest
        # stops at the first visible one.
        last_seq = conn.execute(
            sa.select(so.seq)
            .where(audience.version_condition(so.tlp, so.indicator_id))
            .order_by(so.seq.desc())
            .limit(1)
        ).scalar()
        # A record that becomes hidden publishes a version the reader cannot
        # see, so the count of visible active records shows that it left.
        visible = conn.execute(
            sa.select(sa.func.count()).where(
                ic.state == State.ACTIVE.value, audience.condition(ic.tlp, ic.id)
            )
        ).scalar()
        # Values past their valid_until leave exports before expiry publishes
        # their expired version, so they change the export too.
        lapsed = conn.execute(
            sa.select(sa.func.count()).where(
                ic.state == State.ACTIVE.value,
                ic.valid_until <= now_us(),
                audience.condition(ic.tlp, ic.id),
            )
        ).scalar()
    parts = [
        fmt,
        edl_list,
        sorted(t.value for t in selection.types),
        selection.min_confidence,
        int(selection.tlp),
        selection.since,
        selection.healthcare,
        selection.max_count,
        _audience_key(selection.audience),
        last_seq or 0,
        visible,
        lapsed,
    ]
    return _etag_of(parts)


def _audience_key(audience: Audience | None) -> list[Any] | None:
    if audience is None:
        return None
    return [int(audience.clearance), audience.org_id, audience.operator]


def _etag_of(parts: list[Any]) -> str:
    digest = hashlib.blake2b(orjson.dumps(parts), digest_size=12).hexdigest()
    return f'W/"{digest}"'


def _listed_tags(header: str | None) -> set[str]:
    """Return the entity tags an ``If-None-Match`` header lists, weak or strong."""
    if not header:
        return set()
    tags = set()
    for item in header.split(","):
        item = item.strip()
        if item == "*":
            return {"*"}
        tags.add(item if item.startswith("W/") else f"W/{item}")
    return tags


def _types(values: list[str] | None) -> frozenset[IndicatorType]:
    try:
        return parse_types(values)
    except ValueError as exc:
        raise _bad(str(exc)) from None


def _level(text: str) -> TLP:
    try:
        return TLP.parse(text)
    except ValueError as exc:
        raise _bad(f"invalid tlp: {exc}") from None


def _since(text: str | None) -> int | None:
    return None if text is None else _parse_since(text)


def _parse_since(text: str) -> int:
    try:
        return to_us(parse_rfc3339(text, assume_utc=True))
    except ValueError as exc:
        raise _bad(f"invalid since: {exc}; give an RFC 3339 time") from None


def _bad(description: str) -> TaxiiError:
    return TaxiiError(400, "Bad Request", description)
