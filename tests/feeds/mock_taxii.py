"""A scripted TAXII 2.1 server on 127.0.0.1 for client tests.

The server replays a list of exchanges in order: each names the request the
client must send (method, path and query parameters, compared as a set of
decoded pairs) and the reply to send. A request that does not match the next
exchange, that belongs to another run, or that matches a forbidden pattern is
recorded in ``failures`` and gets a 400 TAXII error in reply, so the client
fails too. The hard-case scripts of the shared cases folder load with
:func:`script_from_case`.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

TAXII = "application/taxii+json;version=2.1"


@dataclass
class Reply:
    """What the server sends back.

    ``hang`` waits without replying until the server stops. Without
    ``content_length`` the body is sent without a Content-Length header and
    the connection is closed after it. ``trickle`` is a pause in seconds
    after each byte of the body.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": TAXII})
    body: bytes = b""
    hang: bool = False
    content_length: bool = True
    trickle: float = 0.0


def envelope(
    objects: list[dict[str, Any]] | None = None,
    *,
    more: bool = False,
    next_token: str | None = None,
    headers: dict[str, str] | None = None,
    status: int = 200,
) -> Reply:
    """Return a reply with a TAXII envelope body."""
    body: dict[str, Any] = {"more": more}
    if objects is not None:
        body["objects"] = objects
    if next_token is not None:
        body["next"] = next_token
    return Reply(status, {"Content-Type": TAXII, **(headers or {})}, orjson.dumps(body))


@dataclass
class Exchange:
    """One expected request and its reply."""

    path: str
    query: dict[str, str]
    reply: Reply
    run: int = 1
    method: str = "GET"


@dataclass
class Forbidden:
    """A request pattern that fails the test when the client sends it."""

    why: str
    query_contains: dict[str, str] = field(default_factory=dict)
    next_without_added_after: bool = False
    after_run: int = 0

    def matches(self, run: int, pairs: set[tuple[str, str]]) -> bool:
        """Tell whether a request of ``run`` with these query pairs is forbidden."""
        if run <= self.after_run:
            return False
        keys = {key for key, _ in pairs}
        if self.next_without_added_after:
            return "next" in keys and "added_after" not in keys
        return bool(self.query_contains) and set(self.query_contains.items()) <= pairs


@dataclass
class Recorded:
    """One request the server received."""

    run: int
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None


class MockTaxiiServer:
    """The scripted server; see the module docstring."""

    def __init__(
        self, exchanges: list[Exchange], forbidden: list[Forbidden] | None = None
    ) -> None:
        self.exchanges = exchanges
        self.forbidden = forbidden or []
        self.run = 1
        self.position = 0
        self.requests: list[Recorded] = []
        self.failures: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        # A short poll interval keeps shutdown, and so each test, fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def requests_of(self, run: int) -> list[Recorded]:
        """Return the requests received during ``run``."""
        return [item for item in self.requests if item.run == run]

    def unanswered(self, run: int) -> list[Exchange]:
        """Return the exchanges of ``run`` that no request has consumed yet."""
        return [item for item in self.exchanges[self.position :] if item.run == run]

    def answer(
        self, method: str, target: str, authorization: str | None
    ) -> Reply | None:
        """Record a request and return its reply, or None for an unexpected one."""
        parts = urlsplit(target)
        pairs_list = parse_qsl(parts.query, keep_blank_values=True)
        pairs = set(pairs_list)
        with self._lock:
            run = self.run
            self.requests.append(
                Recorded(run, method, parts.path, dict(pairs_list), authorization)
            )
            for rule in self.forbidden:
                if rule.matches(run, pairs):
                    self.failures.append(f"run {run}: forbidden ({rule.why}): {target}")
                    return None
            if self.position >= len(self.exchanges):
                self.failures.append(f"run {run}: unexpected request {target}")
                return None
            expected = self.exchanges[self.position]
            same = (
                expected.run == run
                and expected.method == method
                and expected.path == parts.path
                and set(expected.query.items()) == pairs
                and len(pairs_list) == len(pairs)
            )
            if not same:
                self.failures.append(
                    f"run {run}: expected {expected.method} {expected.path} "
                    f"{expected.query} (run {expected.run}), got {method} {target}"
                )
                return None
            self.position += 1
            return expected.reply

    def stop(self) -> None:
        """Release hanging replies and stop serving."""
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


def _handler_for(server: MockTaxiiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply = server.answer("GET", self.path, self.headers.get("Authorization"))
            if reply is None:
                reply = Reply(
                    400, body=b'{"title": "unexpected request in the script"}'
                )
            if reply.hang:
                server.release.wait(timeout=30)
                return
            # The client may stop reading part of the way, as a size limit does.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._send(reply)

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.content_length:
                self.send_header("Content-Length", str(len(reply.body)))
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            if not reply.trickle:
                self.wfile.write(reply.body)
                return
            for index in range(len(reply.body)):
                if server.release.wait(timeout=reply.trickle):
                    return
                self.wfile.write(reply.body[index : index + 1])
                self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test output shows failures, not every request

    return Handler


def script_from_case(case: dict[str, Any]) -> tuple[list[Exchange], list[Forbidden]]:
    """Read the exchanges and forbidden requests of a TAXII client case."""
    exchanges = []
    for item in case["exchanges"]:
        request, response = item["expect_request"], item["response"]
        reply = Reply(
            response["status"],
            dict(response["headers"]),
            orjson.dumps(response["body"]),
        )
        exchanges.append(
            Exchange(
                path=request["path"],
                query=dict(request["query"]),
                reply=reply,
                run=item.get("run", 1),
                method=request["method"],
            )
        )
    forbidden = [
        Forbidden(
            why=rule["why"],
            query_contains=dict(rule.get("query_contains", {})),
            next_without_added_after=rule.get(
                "query_has_next_without_added_after", False
            ),
            after_run=rule.get("after_run", 0),
        )
        for rule in case["forbidden_requests"]
    ]
    return exchanges, forbidden
