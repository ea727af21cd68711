"""HTTP GET for remote feeds, with timeouts, a size limit and hidden credentials.

Every request has a connect, read and write timeout of ``timeout`` seconds,
and the whole response must arrive within that time too, so a server that
sends one byte at a time cannot hold a run open. The body is read in chunks
and counted after decompression, and reading stops with a
:class:`~medisac.errors.FeedError` past ``max_bytes``. httpx 0.29 decompresses
each network read of up to 64 KiB in one step, and deflate expands data at most
about 1,000 times. One step of a compressed body can therefore briefly take
about 64 MiB before the count stops it.

Redirects are not followed, because following one would send the credentials
to whatever host the server names. Credentials travel only in the
``Authorization`` header that :class:`SecretAuth` adds to each request, so
they are never part of a URL, an error message, a log line or a ``repr``.
Text that a server sends back is scrubbed of them before it goes into a
message, in case the server echoes them.
"""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from types import TracebackType
from typing import IO
from urllib.parse import urlsplit

import httpx
import orjson

from medisac import __version__
from medisac.errors import FeedError
from medisac.settings import Secret

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
# Bytes of one response body, after decompression. medisac renders an
# indicator with one source in about 0.9 KB of JSON (measured on the data of
# tests/feeds), so a page of 10,000 takes about 9 MiB.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
USER_AGENT = f"medisac/{__version__}"

# Bytes of an error response read to quote the server's own explanation.
_ERROR_BODY_BYTES = 4096
_QUOTE_CHARS = 200
_HIDDEN = "**********"

_STATUS_HINTS = {
    400: "the server rejected the request; check the URL and the feed settings",
    401: "the server rejected the credentials; check the token, or the user "
    "name and password",
    403: "the credentials do not allow reading this; ask the server's operator "
    "for read access",
    404: "nothing was found at this URL; check it",
    406: "the server does not serve the requested media type; check that it "
    "speaks the protocol this feed expects",
    429: "the server is limiting the request rate; run the feed less often",
}


class SecretAuth(httpx.Auth):
    """An ``Authorization`` header built from a :class:`Secret` for each request."""

    def __init__(self, scheme: str, credentials: Secret, *plain: Secret) -> None:
        self.scheme = scheme
        self._credentials = credentials
        self._plain = plain

    @classmethod
    def bearer(cls, token: Secret) -> SecretAuth:
        """Return Bearer authentication with ``token``."""
        return cls("Bearer", token)

    @classmethod
    def basic(cls, username: str, password: Secret) -> SecretAuth:
        """Return HTTP Basic authentication with ``username`` and ``password``."""
        pair = f"{username}:{password.reveal()}".encode()
        return cls("Basic", Secret(base64.b64encode(pair).decode("ascii")), password)

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the header to ``request`` and send it once."""
        header = f"{self.scheme} {self._credentials.reveal()}"
        request.headers["Authorization"] = header
        yield request

    def secret_texts(self) -> tuple[str, ...]:
        """Return every text that must never appear in a message."""
        return tuple(s.reveal() for s in (self._credentials, *self._plain))

    def __repr__(self) -> str:
        return f"SecretAuth({self.scheme!r}, {self._credentials!r})"


class TransientFeedError(FeedError):
    """A fetch failure that may pass: a timeout, a network error, 429 or 5xx.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self,
        url: str,
        reason: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(url, reason, status)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """Read a ``Retry-After`` header (seconds or an HTTP date) as seconds."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - time.time())


@dataclass(frozen=True, slots=True)
class DownloadedResponse:
    """The outcome of :meth:`FeedHttpClient.download`: 200 or 304.

    ``size`` is the count of decoded bytes written, 0 for a 304.
    """

    url: str
    status: int
    headers: httpx.Headers
    size: int


@dataclass(frozen=True, slots=True)
class FetchedResponse:
    """A successful (200) response, read in full within the limits."""

    url: str
    headers: httpx.Headers
    body: bytes


class FeedHttpClient:
    """A connection pool for one feed, with its timeout, size limit and credentials.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        auth: SecretAuth | None = None,
        accept: str = "*/*",
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._secrets = auth.secret_texts() if auth is not None else ()
        self._client = httpx.Client(
            auth=auth,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"Accept": accept, "User-Agent": USER_AGENT},
        )

    def __repr__(self) -> str:
        return f"FeedHttpClient(timeout={self.timeout!r}, max_bytes={self.max_bytes!r})"

    def get(self, url: str, params: Mapping[str, str]) -> FetchedResponse:
        """Send a GET and return the response when its status is 200.

        Raises :class:`FeedError` naming the URL and the status for any other
        status, a timeout, a network failure or a body over ``max_bytes``.
        """
        request = self._client.build_request("GET", url, params=params)
        request_url = str(request.url)
        deadline = time.monotonic() + self.timeout
        try:
            response = self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise FeedError(request_url, self._timed_out()) from exc
        except httpx.HTTPError as exc:
            raise FeedError(request_url, self._failed(exc)) from exc
        try:
            if response.status_code != HTTPStatus.OK:
                raise FeedError(
                    request_url, self._status_reason(response), response.status_code
                )
            body = self._read_body(response, request_url, deadline)
        finally:
            response.close()
        log.debug("GET %s: %d bytes", request_url, len(body))
        return FetchedResponse(request_url, response.headers, body)

    def download(
        self, url: str, target: IO[bytes], headers: Mapping[str, str]
    ) -> DownloadedResponse:
        """Send a GET with ``headers`` and write a 200 body to ``target``.

        A 304 (Not Modified) returns with nothing written. Raises
        :class:`FeedError` as :meth:`get` does; its subclass
        :class:`TransientFeedError` marks a failure worth retrying (a
        timeout, a network failure, HTTP 429 or 5xx). Bytes written before
        an error stay in ``target``, so the caller must discard it.
        """
        request = self._client.build_request("GET", url, headers=dict(headers))
        request_url = str(request.url)
        deadline = time.monotonic() + self.timeout
        try:
            response = self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise TransientFeedError(request_url, self._timed_out()) from exc
        except httpx.HTTPError as exc:
            raise TransientFeedError(request_url, self._failed(exc)) from exc
        try:
            status = response.status_code
            if status == HTTPStatus.NOT_MODIFIED:
                return DownloadedResponse(request_url, status, response.headers, 0)
            if status != HTTPStatus.OK:
                reason = self._status_reason(response)
                if status == HTTPStatus.TOO_MANY_REQUESTS or status >= 500:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    raise TransientFeedError(request_url, reason, status, wait)
                raise FeedError(request_url, reason, status)
            size = self._write_body(response, request_url, deadline, target)
        finally:
            response.close()
        log.debug("GET %s: %d bytes", request_url, size)
        return DownloadedResponse(request_url, HTTPStatus.OK, response.headers, size)

    def _write_body(
        self,
        response: httpx.Response,
        request_url: str,
        deadline: float,
        target: IO[bytes],
    ) -> int:
        declared = response.headers.get("Content-Length", "")
        encoded = response.headers.get("Content-Encoding", "identity") != "identity"
        if declared.isdigit() and not encoded and int(declared) > self.max_bytes:
            raise FeedError(request_url, self._too_large(int(declared)))
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise FeedError(request_url, self._too_large(None))
                if time.monotonic() > deadline:
                    raise TransientFeedError(request_url, self._timed_out())
                target.write(chunk)
        except httpx.TimeoutException as exc:
            raise TransientFeedError(request_url, self._timed_out()) from exc
        except httpx.DecodingError as exc:
            raise FeedError(
                request_url, f"the compressed body is corrupt: {exc}"
            ) from exc
        except httpx.HTTPError as exc:
            raise TransientFeedError(request_url, self._failed(exc)) from exc
        return size

    def _read_body(
        self, response: httpx.Response, request_url: str, deadline: float
    ) -> bytes:
        buffer = io.BytesIO()
        self._write_body(response, request_url, deadline, buffer)
        return buffer.getvalue()

    def _timed_out(self) -> str:
        return (
            f"timed out: no complete response within {self.timeout:g} s; the "
            "server may be down or overloaded, or raise the timeout if it is slow"
        )

    def _failed(self, exc: httpx.HTTPError) -> str:
        detail = self._scrub(str(exc)) or type(exc).__name__
        return f"request failed: {detail}; check the URL and the network"

    def _too_large(self, declared: int | None) -> str:
        if declared is None:
            size = f"the body passed the limit of {self.max_bytes:,} bytes"
        else:
            size = (
                f"the server declares {declared:,} bytes, over the limit of "
                f"{self.max_bytes:,} bytes"
            )
        return (
            f"response too large: {size}; ask for smaller pages, or raise the "
            "limit if the server is trusted"
        )

    def _status_reason(self, response: httpx.Response) -> str:
        status = response.status_code
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "unknown status"
        hint = _STATUS_HINTS.get(status)
        if hint is None and 300 <= status < 400:
            target = self._scrub(response.headers.get("Location", "nowhere"))
            hint = (
                f"the server redirects to {target[:_QUOTE_CHARS]}; use that URL "
                "if it is right"
            )
        if hint is None:
            hint = "the server failed; try again later" if status >= 500 else ""
        quoted = self._server_message(response)
        parts = [f"HTTP {status} {phrase}", hint, quoted]
        return "; ".join(part for part in parts if part)

    def _server_message(self, response: httpx.Response) -> str:
        """Quote the title and description of a TAXII or JSON error body."""
        try:
            head = _read_head(response, _ERROR_BODY_BYTES)
            data = orjson.loads(head)
        except (httpx.HTTPError, orjson.JSONDecodeError):
            return ""
        if not isinstance(data, dict):
            return ""
        words = [str(data[key]) for key in ("title", "description") if data.get(key)]
        if not words:
            return ""
        text = self._scrub(": ".join(words))
        if len(text) > _QUOTE_CHARS:
            text = text[:_QUOTE_CHARS] + "…"
        return f"the server's error message: {text!r}"

    def _scrub(self, text: str) -> str:
        """Return ``text`` with every credential replaced by asterisks."""
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, _HIDDEN)
        return text

    def close(self) -> None:
        """Close every connection of the pool."""
        self._client.close()

    def __enter__(self) -> FeedHttpClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _read_head(response: httpx.Response, size: int) -> bytes:
    chunks: list[bytes] = []
    count = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        count += len(chunk)
        if count >= size:
            break
    return b"".join(chunks)[:size]


def check_http_url(url: str, *, allow_query: bool = False) -> str:
    """Return ``url`` when it is an absolute http or https URL without credentials.

    Raises :class:`FeedError` for another scheme, a missing host, a user name
    or password inside the URL (which would show in every message), a
    fragment, or a query unless ``allow_query``. A TAXII collection URL takes
    no query, because the client sets the query itself. The message shows
    the URL without its credentials.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FeedError(hide_userinfo(url), f"invalid URL: {exc}") from exc
    shown = hide_userinfo(url)
    if parts.scheme not in ("http", "https"):
        raise FeedError(shown, "only http and https URLs can be fetched")
    if not parts.hostname:
        raise FeedError(shown, "the URL has no host name")
    if parts.username is not None or parts.password is not None:
        raise FeedError(
            shown,
            "the URL contains a user name or password; remove it and give the "
            "credentials as the feed's user name and password",
        )
    if port == 0:
        raise FeedError(shown, "port 0 is not a valid port")
    if parts.fragment:
        raise FeedError(shown, "the URL has a fragment; remove it")
    if parts.query and not allow_query:
        raise FeedError(shown, "the URL has a query; remove it")
    return url


def hide_userinfo(url: str) -> str:
    """Return ``url`` with any ``user:password@`` part replaced by asterisks."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = _HIDDEN + "@" + authority.rpartition("@")[2]
    return f"{scheme}://{authority}{slash}{path}"
