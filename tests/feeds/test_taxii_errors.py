"""Failures of a TAXII server become FeedError, and credentials never show."""

from __future__ import annotations

import base64
import gzip
import logging
import socket
import time

import orjson
import pytest

from medisac.errors import FeedError
from medisac.feeds import TaxiiCursor, TaxiiFeed, pull
from medisac.settings import Secret
from tests.feeds.conftest import StartServer
from tests.feeds.mock_taxii import TAXII, Exchange, MockTaxiiServer, Reply, envelope

TOKEN = "tok-3f9a7c1e5b2d4a6f8e0c"
PASSWORD = "pw-9d8c7b6a5f4e3d2c1b0a"
COLLECTION = "/taxii2/api/collections/c12f9c5b-aebf-420e-8d9a-c760e5a6bbe9/"
OBJECTS = COLLECTION + "objects/"


def indicator(n: int) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": "2024-05-20T00:00:00.000Z",
        "modified": "2024-05-20T00:00:00.000Z",
        "pattern": f"[domain-name:value = 'err-{n}.example.org']",
        "pattern_type": "stix",
        "valid_from": "2024-05-20T00:00:00.000Z",
    }


def one_reply(mock_taxii: StartServer, reply: Reply) -> MockTaxiiServer:
    return mock_taxii([Exchange(OBJECTS, {}, reply)])


def token_feed(
    server: MockTaxiiServer, *, timeout: float = 5.0, max_bytes: int = 1024 * 1024
) -> TaxiiFeed:
    return TaxiiFeed(
        server.base_url + COLLECTION,
        token=Secret(TOKEN),
        timeout=timeout,
        max_bytes=max_bytes,
    )


def pull_error(feed: TaxiiFeed) -> FeedError:
    with pytest.raises(FeedError) as caught:
        pull(feed, TaxiiCursor())
    return caught.value


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every logger, httpx and httpcore included, at DEBUG."""
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_secret(text: str) -> None:
    basic = base64.b64encode(f"member:{PASSWORD}".encode()).decode()
    for secret in (TOKEN, PASSWORD, basic):
        assert secret not in text


def test_unauthorized_names_url_and_status(
    mock_taxii: StartServer, logs: pytest.LogCaptureFixture
) -> None:
    body = orjson.dumps({"title": "Unauthorized", "description": "unknown key"})
    server = one_reply(mock_taxii, Reply(401, {"Content-Type": TAXII}, body))

    error = pull_error(token_feed(server))

    assert error.status == 401
    assert error.url == server.base_url + OBJECTS
    assert str(error).startswith(server.base_url + OBJECTS + ": HTTP 401 Unauthorized")
    assert "check the token" in str(error)
    assert "'Unauthorized: unknown key'" in str(error)
    assert server.requests[0].authorization == f"Bearer {TOKEN}"
    assert_no_secret(str(error))
    assert_no_secret(logs.text)


def test_server_echo_of_token_is_scrubbed(
    mock_taxii: StartServer, logs: pytest.LogCaptureFixture
) -> None:
    body = orjson.dumps({"title": "Forbidden", "description": f"bad key {TOKEN}"})
    server = one_reply(mock_taxii, Reply(403, {"Content-Type": TAXII}, body))

    error = pull_error(token_feed(server))

    assert error.status == 403
    assert "bad key **********" in str(error)
    assert_no_secret(str(error))
    assert_no_secret(logs.text)


def test_basic_credentials_never_shown(
    mock_taxii: StartServer, logs: pytest.LogCaptureFixture
) -> None:
    server = one_reply(mock_taxii, Reply(500, {"Content-Type": "text/plain"}, b"oops"))
    feed = TaxiiFeed(
        server.base_url + COLLECTION, username="member", password=Secret(PASSWORD)
    )

    error = pull_error(feed)

    pair = base64.b64encode(f"member:{PASSWORD}".encode()).decode()
    assert server.requests[0].authorization == f"Basic {pair}"
    assert error.status == 500
    assert "HTTP 500 Internal Server Error" in str(error)
    assert "try again later" in str(error)
    assert_no_secret(str(error))
    assert_no_secret(repr(feed))
    assert_no_secret(repr(feed.http_client()))
    assert_no_secret(logs.text)


def test_hanging_server_times_out(
    mock_taxii: StartServer, logs: pytest.LogCaptureFixture
) -> None:
    server = one_reply(mock_taxii, Reply(hang=True))
    started = time.monotonic()

    error = pull_error(token_feed(server, timeout=0.5))

    assert time.monotonic() - started < 5
    assert error.status is None
    assert "timed out: no complete response within 0.5 s" in str(error)
    assert_no_secret(logs.text)


def test_trickling_server_times_out(mock_taxii: StartServer) -> None:
    body = envelope([indicator(1)]).body
    server = one_reply(
        mock_taxii, Reply(200, {"Content-Type": TAXII}, body, trickle=0.1)
    )
    started = time.monotonic()

    error = pull_error(token_feed(server, timeout=0.5))

    # Every byte arrives within the read timeout; the whole-response limit
    # is what stops the read.
    assert time.monotonic() - started < 2
    assert "timed out" in str(error)


def test_html_page_is_not_an_envelope(mock_taxii: StartServer) -> None:
    page = b"<!doctype html><html><body>Please log in</body></html>"
    server = one_reply(mock_taxii, Reply(200, {"Content-Type": "text/html"}, page))

    error = pull_error(token_feed(server))

    assert "the server sent an HTML page, not a TAXII envelope" in str(error)
    assert str(error).startswith(server.base_url + OBJECTS)


@pytest.mark.parametrize("declared", [True, False])
def test_oversized_body_stops_reading(mock_taxii: StartServer, declared: bool) -> None:
    body = envelope([indicator(n) for n in range(4000)]).body
    assert len(body) > 1024 * 1024
    reply = Reply(200, {"Content-Type": TAXII}, body, content_length=declared)
    server = one_reply(mock_taxii, reply)

    error = pull_error(token_feed(server, max_bytes=64 * 1024))

    assert "response too large" in str(error)
    assert "over the limit of 65,536 bytes" in str(error) or (
        "passed the limit of 65,536 bytes" in str(error)
    )


def test_compressed_body_counted_expanded(mock_taxii: StartServer) -> None:
    expanded = b'{"more": false, "objects": []' + b" " * (4 * 1024 * 1024) + b"}"
    headers = {"Content-Type": TAXII, "Content-Encoding": "gzip"}
    server = one_reply(mock_taxii, Reply(200, headers, gzip.compress(expanded)))

    error = pull_error(token_feed(server, max_bytes=1024 * 1024))

    assert "the body passed the limit of 1,048,576 bytes" in str(error)


def test_connection_refused(logs: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    feed = TaxiiFeed(f"http://127.0.0.1:{port}{COLLECTION}", token=Secret(TOKEN))

    error = pull_error(feed)

    assert "request failed" in str(error)
    assert_no_secret(str(error))
    assert_no_secret(logs.text)


def test_redirect_is_not_followed(mock_taxii: StartServer) -> None:
    reply = Reply(302, {"Location": "http://127.0.0.1:9/elsewhere/"})
    server = one_reply(mock_taxii, reply)

    error = pull_error(token_feed(server))

    assert error.status == 302
    assert "redirects to http://127.0.0.1:9/elsewhere/" in str(error)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the body is not valid JSON"),
        (b"[1, 2]", "the body is a JSON list, not a TAXII envelope"),
        (b'{"objects": {"a": 1}}', "'objects' is not a list"),
        (b'{"more": "false"}', "'more' is 'false', not true or false"),
        (b'{"more": true, "next": 7}', "'next' is 7, not a string"),
    ],
)
def test_invalid_envelope(mock_taxii: StartServer, body: bytes, message: str) -> None:
    server = one_reply(mock_taxii, Reply(200, {"Content-Type": TAXII}, body))

    error = pull_error(token_feed(server))

    assert message in str(error)


def test_taxii_20_server_named(mock_taxii: StartServer) -> None:
    media = "application/vnd.oasis.taxii+json; version=2.0"
    server = one_reply(mock_taxii, Reply(200, {"Content-Type": media}, b"{}"))

    error = pull_error(token_feed(server))

    assert "speaks another TAXII version" in str(error)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/collections/x/", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http:///collections/x/", "no host name"),
        ("http://127.0.0.1/collections/x/?match[type]=indicator", "query"),
    ],
)
def test_invalid_url(url: str, message: str) -> None:
    with pytest.raises(FeedError, match=message.replace("[", r"\[")):
        TaxiiFeed(url)


def test_url_with_password_is_hidden() -> None:
    with pytest.raises(FeedError) as caught:
        TaxiiFeed(f"https://member:{PASSWORD}@127.0.0.1/collections/x/")

    assert "contains a user name or password" in str(caught.value)
    assert caught.value.url == "https://**********@127.0.0.1/collections/x/"
    assert_no_secret(str(caught.value))


def test_token_and_password_together() -> None:
    with pytest.raises(FeedError, match="either a token or a user name"):
        TaxiiFeed("http://127.0.0.1/c/", token=Secret(TOKEN), password=Secret(PASSWORD))
