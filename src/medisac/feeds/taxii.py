"""A TAXII 2.1 collection client for scheduled feeds.

:func:`pull_collection` reads the objects of one collection page by page,
starting after a :class:`TaxiiCursor`, and yields each page with the cursor to
resume from once that page is stored. :func:`pull` collects every page in
memory, and :func:`medisac.feeds.taxiiingest.pull_and_ingest` stores them page
by page.

Paging: the first request sends ``added_after`` (the cursor) and ``limit``
(the page size), each only when set. Every later request sends the same two
values unchanged, plus the ``next`` token of the page before, as the
pagination rules of TAXII 2.1 describe. A cursor received during the run is
never sent together with ``next``, because TAXII 2.1 does not define that
combination and each server reads it its own way. When a server sets ``more``
but sends no ``next`` token, the client requests the rest with
``added_after`` set to the page's ``X-TAXII-Date-Added-Last`` and the same
``limit``, which those rules also allow. Without a usable header it stops
with a warning, and the next run continues from the cursor. A ``next`` token
sent twice in a row raises :class:`FeedError` instead of looping.

Cursor: the cursor is the ``X-TAXII-Date-Added-Last`` header of the last page
that had objects. It is never computed from the objects' ``modified`` times,
which record when the producer changed an object and not when this server
added it. It is kept to the microsecond as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. A
header in another RFC 3339 form is rewritten in that form in UTC, and more than
six fractional digits are cut, which can repeat an object but never skip one.
A header that is missing, empty or not RFC 3339 (``undefined``, ``null``,
JavaScript's ``Date.toString()`` form) leaves the cursor where it was and gives
one warning, naming the header and its value, per pull. So does a header
earlier than the cursor, so the cursor never moves back. The headers of a page
without objects are ignored.

Why not taxii2-client: version 2.3.0 of ``taxii2client.v21``, the OASIS
client, cannot follow these rules unless its HTTP layer, most of its code, is
replaced. Its ``_HTTPConnection.get`` returns only the parsed body, so the
``X-TAXII-Date-Added-Last`` header is lost. It sends requests without a
timeout and reads whole bodies with ``Response.json()``, with no size limit.
``Collection.get_objects`` first fetches the collection resource unless it is
given the collection's metadata, which costs an extra request per run.
``as_pages`` changes ``limit`` after the first page when the server returned
another count, so later pages do not repeat the original filters. When a
server sets ``more`` without ``next``, ``as_pages`` sends ``next=""``, which
its query mapping drops, so it fetches the first page again without end. This
module therefore sends its three query parameters with httpx
(:mod:`medisac.feeds.fetch`), which the project already depends on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import orjson

from medisac.errors import FeedError
from medisac.feeds.fetch import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    FeedHttpClient,
    FetchedResponse,
    SecretAuth,
    check_http_url,
)
from medisac.model.time import format_rfc3339, parse_rfc3339
from medisac.settings import Secret

log = logging.getLogger(__name__)

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
DATE_ADDED_FIRST = "X-TAXII-Date-Added-First"
DATE_ADDED_LAST = "X-TAXII-Date-Added-Last"

_CURSOR_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
_TAXII_20_TYPES = (
    "application/vnd.oasis.taxii+json",
    "application/vnd.oasis.stix+json",
)
_EXCERPT_CHARS = 80


@dataclass(frozen=True, slots=True)
class TaxiiCursor:
    """The position in a collection after which the next pull starts.

    ``added_after`` is a UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always
    six fractional digits), or None to start at the first object. Raises
    ``ValueError`` for any other text.
    """

    added_after: str | None = None

    def __post_init__(self) -> None:
        text = self.added_after
        if text is None:
            return
        if not _CURSOR_FORM.match(text):
            raise ValueError(
                f"TAXII cursor {text!r} is not in the form YYYY-MM-DDTHH:MM:SS.ffffffZ"
            )
        parse_rfc3339(text)

    @classmethod
    def from_header(cls, value: str) -> TaxiiCursor:
        """Read an ``X-TAXII-Date-Added-Last`` value as a cursor.

        Raises ``ValueError`` when ``value`` is not an RFC 3339 timestamp with
        a time zone offset.
        """
        return cls(format_rfc3339(parse_rfc3339(value), digits=6))

    def is_before(self, other: TaxiiCursor) -> bool:
        """Tell whether this cursor is earlier than ``other``.

        No cursor (None) is earlier than any time.
        """
        if other.added_after is None:
            return False
        if self.added_after is None:
            return True
        # Both are UTC in one fixed-width form, so text order is time order.
        return self.added_after < other.added_after


@dataclass(frozen=True, slots=True)
class TaxiiFeed:
    """One TAXII 2.1 collection to pull from, and how.

    ``collection_url`` is the collection's URL (``…/collections/<id>/``); a
    missing final slash is added. ``page_size`` is sent as ``limit`` when set.
    Give either a Bearer ``token`` or HTTP Basic ``password`` (with
    ``username``, which may be left out for servers that ignore it).
    ``timeout`` is in seconds and ``max_bytes`` limits each response body.
    Raises :class:`FeedError` for an invalid URL or setting.
    """

    collection_url: str
    page_size: int | None = None
    token: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __post_init__(self) -> None:
        url = check_http_url(self.collection_url)
        if not url.endswith("/"):
            object.__setattr__(self, "collection_url", url + "/")
        self._check_settings()

    def _check_settings(self) -> None:
        url = self.collection_url
        if self.page_size is not None and self.page_size < 1:
            raise FeedError(url, f"page size must be at least 1, not {self.page_size}")
        if not self.timeout > 0:
            raise FeedError(url, f"timeout must be positive, not {self.timeout}")
        if self.max_bytes < 1:
            raise FeedError(url, f"max_bytes must be positive, not {self.max_bytes}")
        if self.token is not None and (self.username or self.password):
            raise FeedError(
                url, "give either a token or a user name and password, not both"
            )
        if self.username and self.password is None:
            raise FeedError(url, f"user name {self.username!r} has no password")

    @property
    def objects_url(self) -> str:
        """The URL of the collection's ``objects/`` endpoint."""
        return self.collection_url + "objects/"

    def http_client(self) -> FeedHttpClient:
        """Open a connection pool with this feed's limits and credentials."""
        auth = None
        if self.token is not None:
            auth = SecretAuth.bearer(self.token)
        elif self.password is not None:
            auth = SecretAuth.basic(self.username or "", self.password)
        return FeedHttpClient(
            timeout=self.timeout,
            max_bytes=self.max_bytes,
            auth=auth,
            accept=TAXII_MEDIA_TYPE,
        )


@dataclass(frozen=True, slots=True)
class TaxiiPage:
    """One page of objects, numbered from 1 within a pull.

    ``cursor`` is where the next pull must start once the objects of this page
    and of every page before it are stored.
    """

    number: int
    url: str
    objects: list[dict[str, Any]]
    more: bool
    cursor: TaxiiCursor
    warnings: tuple[str, ...] = ()


@dataclass(slots=True)
class TaxiiPull:
    """Every object of one pull, the cursor after it, and its warnings."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    cursor: TaxiiCursor = field(default_factory=TaxiiCursor)
    warnings: list[str] = field(default_factory=list)


def pull_collection(
    feed: TaxiiFeed, cursor: TaxiiCursor, *, max_pages: int | None = None
) -> Generator[TaxiiPage, None, None]:
    """Yield the pages of objects added to the collection after ``cursor``.

    Stops after the last page or after ``max_pages`` pages. Warnings are
    logged and kept on their page. Raises :class:`FeedError` for an HTTP
    error, a timeout, a body over the size limit, a body that is not a TAXII
    2.1 envelope, or a ``next`` token sent twice. Pages yielded before the
    error stay valid. Close the iterator (or exhaust it) to release its
    connections.
    """
    log.info("TAXII pull from %s after %s", feed.collection_url, cursor.added_after)
    pager = _Pager(feed, cursor)
    with feed.http_client() as http:
        while pager.query is not None:
            page = pager.fetch(http)
            for warning in page.warnings:
                log.warning("%s", warning)
            yield page
            if max_pages is not None and page.number >= max_pages:
                break
    log.info(
        "TAXII pull from %s: %d page(s), cursor %s",
        feed.collection_url,
        pager.number,
        pager.tracker.cursor.added_after,
    )


def pull(
    feed: TaxiiFeed, cursor: TaxiiCursor, *, max_pages: int | None = None
) -> TaxiiPull:
    """Read every page as :func:`pull_collection` does and return them together.

    Holds all objects in memory; a scheduled feed stores page by page with
    :func:`medisac.feeds.taxiiingest.pull_and_ingest` instead. Raises as
    :func:`pull_collection` does.
    """
    result = TaxiiPull(cursor=cursor)
    for page in pull_collection(feed, cursor, max_pages=max_pages):
        result.objects.extend(page.objects)
        result.pages = page.number
        result.cursor = page.cursor
        result.warnings.extend(page.warnings)
    return result


class _Pager:
    """The query of each request, and the cursor so far."""

    def __init__(self, feed: TaxiiFeed, cursor: TaxiiCursor) -> None:
        self.feed = feed
        self.tracker = _CursorTracker(cursor)
        self.number = 0
        # The filters of the first request, repeated unchanged with every
        # next token that follows it.
        self.filters: dict[str, str] = {}
        if cursor.added_after is not None:
            self.filters["added_after"] = cursor.added_after
        if feed.page_size is not None:
            self.filters["limit"] = str(feed.page_size)
        self.query: dict[str, str] | None = dict(self.filters)
        self.token: str | None = None

    def fetch(self, http: FeedHttpClient) -> TaxiiPage:
        """Request the current query, and work out the one after it."""
        assert self.query is not None
        self.number += 1
        fetched = http.get(self.feed.objects_url, self.query)
        envelope = _Envelope.read(fetched)
        warnings = list(envelope.warnings)
        if envelope.objects:
            warning = self.tracker.advance(fetched)
            if warning:
                warnings.append(warning)
        stop = self._follow(envelope, fetched.url)
        if stop:
            warnings.append(stop)
        return TaxiiPage(
            number=self.number,
            url=fetched.url,
            objects=envelope.objects,
            more=envelope.more,
            cursor=self.tracker.cursor,
            warnings=tuple(warnings),
        )

    def _follow(self, envelope: _Envelope, url: str) -> str | None:
        """Set the next query; return a warning when paging has to stop early."""
        self.query = None
        if not envelope.more:
            return None
        if envelope.next is not None:
            if envelope.next == self.token:
                raise FeedError(
                    url,
                    f"the server sent the next token {envelope.next!r} twice in a "
                    "row, so paging would loop; report this to the server's operator",
                )
            self.token = envelope.next
            self.query = {**self.filters, "next": envelope.next}
            return None
        cursor = self.tracker.cursor.added_after
        if cursor is None or cursor == self.filters.get("added_after"):
            return (
                f"{url}: the server reports more objects but sends no next token "
                f"and no usable {DATE_ADDED_LAST} to continue from; the next run "
                "continues from the cursor"
            )
        self.filters["added_after"] = cursor
        self.token = None
        self.query = dict(self.filters)
        return None


@dataclass(slots=True)
class _Envelope:
    """The parts of a TAXII 2.1 envelope that paging reads."""

    objects: list[dict[str, Any]]
    more: bool
    next: str | None
    warnings: list[str]

    @classmethod
    def read(cls, fetched: FetchedResponse) -> _Envelope:
        """Parse and check a response body; raise :class:`FeedError` if invalid."""
        url = fetched.url
        _check_media_type(url, fetched.headers.get("Content-Type"))

        try:
            data = orjson.loads(fetched.body)
        except orjson.JSONDecodeError as exc:
            raise FeedError(
                url, f"the body is not valid JSON ({exc}); check the collection URL"
            ) from exc
        if not isinstance(data, dict):
            raise FeedError(
                url, f"the body is a JSON {type(data).__name__}, not a TAXII envelope"
            )

        items = data.get("objects", [])
        more = data.get("more", False)
        token = data.get("next")
        if not isinstance(items, list):
            raise FeedError(url, "the envelope's 'objects' is not a list")
        if not isinstance(more, bool):
            raise FeedError(
                url, f"the envelope's 'more' is {more!r}, not true or false"
            )
        if token is not None and not isinstance(token, str):
            raise FeedError(url, f"the envelope's 'next' is {token!r}, not a string")

        objects = [item for item in items if isinstance(item, dict)]
        warnings = []
        if len(objects) < len(items):
            warnings.append(
                f"{url}: {len(items) - len(objects)} item(s) of 'objects' are not "
                "JSON objects and were skipped"
            )
        return cls(objects, more, token or None, warnings)


def _check_media_type(url: str, content_type: str | None) -> None:
    """Raise :class:`FeedError` unless the body is declared TAXII 2.1 or JSON."""
    if content_type is None:
        return
    media, _, parameters = content_type.partition(";")
    media = media.strip().lower()
    version = _media_parameter(parameters, "version")
    if media == "application/taxii+json" and version in (None, "2.1"):
        return
    if media == "application/json":
        return
    if media in _TAXII_20_TYPES or version is not None:
        reason = (
            f"the server sent {content_type!r}, so it speaks another TAXII "
            "version; medisac reads TAXII 2.1 collections"
        )
    elif media == "text/html":
        reason = (
            "the server sent an HTML page, not a TAXII envelope (often a login "
            "or proxy error page); check the collection URL and the credentials"
        )
    else:
        reason = (
            f"the server sent {content_type!r}, not {TAXII_MEDIA_TYPE}; check "
            "the collection URL"
        )
    raise FeedError(url, reason)


def _media_parameter(parameters: str, name: str) -> str | None:
    for item in parameters.split(";"):
        key, _, value = item.partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"')
    return None


class _CursorTracker:
    """The cursor of one pull, moved only by valid, later headers."""

    def __init__(self, cursor: TaxiiCursor) -> None:
        self.cursor = cursor
        self._reported: set[tuple[str, str | None]] = set()

    def advance(self, fetched: FetchedResponse) -> str | None:
        """Move the cursor to the page's header if valid and later.

        Returns a warning naming each bad header and its value, unless the
        same values were already reported in this pull.
        """
        problems: list[tuple[str, str | None, str]] = []
        first = fetched.headers.get(DATE_ADDED_FIRST)
        first_problem = _header_problem(first) if first is not None else ""
        if first_problem:
            problems.append((DATE_ADDED_FIRST, first, first_problem))
        last = fetched.headers.get(DATE_ADDED_LAST)
        problem = _header_problem(last)
        if not problem and last is not None:
            candidate = TaxiiCursor.from_header(last)
            if candidate.is_before(self.cursor):
                problem = f"is {last}, earlier than the cursor"
            else:
                self.cursor = candidate
        if problem:
            problems.insert(0, (DATE_ADDED_LAST, last, problem))
        return self._warning(fetched.url, problems)

    def _warning(
        self, url: str, problems: list[tuple[str, str | None, str]]
    ) -> str | None:
        keys = {(name, value) for name, value, _ in problems}
        if keys <= self._reported:
            return None
        self._reported |= keys
        parts = [f"header {name} {what}" for name, _, what in problems]
        if problems[0][0] == DATE_ADDED_LAST:
            start = self.cursor.added_after or "the first object"
            effect = (
                f"the cursor stays at {start}, so the next run requests these "
                "objects again and merging them adds no duplicates"
            )
        else:
            effect = "the cursor is not affected"
        return f"{url}: {'; '.join(parts)}; {effect}"


def _header_problem(value: str | None) -> str:
    """Return what is wrong with a date-added header, or an empty string."""
    if value is None:
        return "is missing"
    if not value.strip():
        return "is empty"
    try:
        TaxiiCursor.from_header(value)
    except ValueError:
        excerpt = (
            value if len(value) <= _EXCERPT_CHARS else value[:_EXCERPT_CHARS] + "…"
        )
        return f"is {excerpt!r}, not an RFC 3339 timestamp"
    return ""
