"""Download one HTTP(S) feed body to a file, whole and checked, or not at all.

The body goes to a file in a folder that the caller owns, and the caller
ingests it only after :func:`download_feed` returns. Every failure raises
:class:`FeedError` before that, so a half-read body, an error page or a
compression bomb never reaches the store:

- A conditional GET sends the ``ETag`` and ``Last-Modified`` of the last
  stored body; 304 means nothing to read.
- Connection failures, timeouts, HTTP 429 and 5xx are retried with
  exponential backoff. A ``Retry-After`` header sets the wait instead, and
  every wait is capped.
- An HTML page (a login, captcha or error page) is a failure, because no
  feed format medisac reads is HTML.
- ``Content-Encoding`` is decoded while the body is counted against the
  size cap. A body that is itself compressed (gzip, bzip2, xz, zip, tar) is
  read through once to its end with the ingest reader's cap before ingest
  starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medisac.errors import FeedError, IngestError
from medisac.feeds.fetch import (
    DEFAULT_TIMEOUT,
    FeedHttpClient,
    SecretAuth,
    TransientFeedError,
    check_http_url,
)
from medisac.feeds.registry import Credentials
from medisac.ingest.reader import expand

log = logging.getLogger(__name__)

DEFAULT_RETRIES = 3
# Seconds before the first retry; each later retry waits twice as long.
DEFAULT_RETRY_WAIT = 2.0
# Maximum wait between two attempts, whatever Retry-After requests.
MAX_RETRY_WAIT = 120.0

_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """How to fetch one feed: limits, retries and credentials.

    ``timeout`` is in seconds per attempt, ``max_bytes`` caps the decoded
    body and, for a compressed body, its decompressed content. ``retry_wait``
    is the first backoff in seconds.
    """

    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = 256 * 1024 * 1024
    retries: int = DEFAULT_RETRIES
    retry_wait: float = DEFAULT_RETRY_WAIT
    credentials: Credentials = field(default_factory=Credentials, repr=False)


@dataclass(frozen=True, slots=True)
class HttpBody:
    """A body downloaded in full, or None for 304, and the validators to keep."""

    path: Path | None
    url: str
    validators: dict[str, str]
    attempts: int


Sleep = Callable[[float], None]


def auth_for(credentials: Credentials) -> SecretAuth | None:
    """Return the ``Authorization`` builder for ``credentials``, if any."""
    if credentials.token is not None:
        return SecretAuth.bearer(credentials.token)
    if credentials.password is not None:
        return SecretAuth.basic(credentials.username or "", credentials.password)
    return None


def download_feed(
    url: str,
    folder: Path,
    settings: HttpSettings,
    validators: dict[str, str],
    *,
    sleep: Sleep = time.sleep,
) -> HttpBody:
    """Download ``url`` into ``folder``, sending the stored ``validators``.

    ``validators`` contains ``etag`` and ``last_modified`` from the last body
    that was stored. Returns :class:`HttpBody` with ``path`` None when the
    server replies 304. Raises :class:`FeedError` for any failure, after
    the retries for a transient one.
    """
    check_http_url(url, allow_query=True)
    headers = {}
    if validators.get("etag"):
        headers["If-None-Match"] = validators["etag"]
    if validators.get("last_modified"):
        headers["If-Modified-Since"] = validators["last_modified"]
    attempt = 0
    with FeedHttpClient(
        timeout=settings.timeout,
        max_bytes=settings.max_bytes,
        auth=auth_for(settings.credentials),
    ) as client:
        while True:
            attempt += 1
            try:
                return _attempt(client, url, folder, headers, settings, attempt)
            except TransientFeedError as exc:
                if attempt > settings.retries:
                    raise
                wait = _backoff(settings, attempt, exc.retry_after)
                log.warning(
                    "%s; attempt %d of %d failed, retrying in %.1f s",
                    exc,
                    attempt,
                    settings.retries + 1,
                    wait,
                )
                sleep(wait)


def _backoff(settings: HttpSettings, attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_WAIT)
    return float(min(settings.retry_wait * 2 ** (attempt - 1), MAX_RETRY_WAIT))


def _attempt(
    client: FeedHttpClient,
    url: str,
    folder: Path,
    headers: dict[str, str],
    settings: HttpSettings,
    attempt: int,
) -> HttpBody:
    path = folder / "body"
    try:
        with path.open("wb") as target:
            response = client.download(url, target, headers)
    except FeedError:
        path.unlink(missing_ok=True)
        raise
    if response.status == 304:
        path.unlink(missing_ok=True)
        log.info("%s: not modified since the last run", response.url)
        return HttpBody(None, response.url, {}, attempt)
    _check_content(response.url, response.headers.get("Content-Type", ""), path)
    _check_expanded_size(response.url, path, settings.max_bytes)
    kept = {}
    if response.headers.get("ETag"):
        kept["etag"] = response.headers["ETag"]
    if response.headers.get("Last-Modified"):
        kept["last_modified"] = response.headers["Last-Modified"]
    log.info("%s: downloaded %d bytes", response.url, response.size)
    return HttpBody(path, response.url, kept, attempt)


def _check_content(url: str, content_type: str, path: Path) -> None:
    """Raise :class:`FeedError` for an HTML page or an empty body."""
    media = content_type.partition(";")[0].strip().lower()
    with path.open("rb") as stream:
        head = stream.read(1024)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not start and path.stat().st_size == len(head):
        # Read as a whole list, an empty body would delist every value the
        # feed listed before, which a provider's glitch must not do.
        raise FeedError(
            url, "the server sent an empty body; the feed is left as it was"
        )
    # Some servers label plain lists text/html, so the label alone is not
    # enough: the body must also start with markup.
    declared = media in ("text/html", "application/xhtml+xml")
    markup = start.startswith(b"<") and not start.startswith(b"<?xml")
    if start.startswith(_HTML_STARTS) or (declared and markup):
        raise FeedError(
            url,
            "the server sent an HTML page, not feed data (often a login, "
            "captcha or error page); check the URL in a browser and the "
            "feed's credentials",
        )


def _check_expanded_size(url: str, path: Path, max_bytes: int) -> None:
    """Read every document of a compressed body to its end within ``max_bytes``.

    Plain bodies were counted while they were downloaded. The reader's cap
    applies to each archive member, as it does when the body is ingested.
    """
    with path.open("rb") as stream:
        head = stream.read(8)
    compressed = head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"PK\x03\x04"))
    if not compressed:
        return
    try:
        for document in expand([path], max_bytes):
            with document.open() as content:
                while content.read(_READ_CHUNK):
                    pass
    except IngestError as exc:
        raise FeedError(url, exc.reason) from exc
