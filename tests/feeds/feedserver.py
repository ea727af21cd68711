"""A small HTTP server on 127.0.0.1 that serves feed bodies and misbehaves on cue.

Each path has a :class:`Route`: a body with an ``ETag`` and a
``Last-Modified`` that replies 304 to a matching conditional request, or a failure
(a status, a hang, a body sent with a ``Content-Encoding``). Every request is
recorded with its headers, so tests can check what the client sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    """What one path serves.

    ``status`` other than 200 is sent with ``body`` as an error page.
    ``hang`` keeps the request waiting, without a reply, until the server stops.
    ``encoding`` sends ``body`` as it is with that ``Content-Encoding``.
    ``validators`` adds ``ETag`` and ``Last-Modified`` and answers matching
    conditional requests with 304.
    """

    body: bytes = b""
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    hang: bool = False
    encoding: str | None = None
    validators: bool = True
    modified: float = 1_700_000_000.0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        """A strong validator derived from the body."""
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    status: int


class FeedServer:
    """The server; see the module docstring. Stop it with :meth:`stop`."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        """Return the full URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def requests_to(self, path: str) -> list[Seen]:
        """Return the requests received for ``path``, oldest first."""
        with self._lock:
            return [item for item in self.requests if item.path == path]

    def record(self, seen: Seen) -> None:
        """Keep one request."""
        with self._lock:
            self.requests.append(seen)

    def stop(self) -> None:
        """Release hanging requests and stop serving."""
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


def _handler_for(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            route = server.routes.get(self.path.split("?", 1)[0])
            if route is None:
                route = Route(b"not found", status=404)
            status = self._status(route)
            server.record(Seen("GET", self.path, dict(self.headers.items()), status))
            if route.hang:
                server.release.wait(timeout=30)
                self.close_connection = True
                return
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._reply(route, status)

        def _status(self, route: Route) -> int:
            if route.status != 200 or not route.validators:
                return route.status
            if self.headers.get("If-None-Match") == route.etag:
                return 304
            return 200

        def _reply(self, route: Route, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Type", route.content_type)
            if route.validators:
                self.send_header("ETag", route.etag)
                self.send_header(
                    "Last-Modified", formatdate(route.modified, usegmt=True)
                )
            if route.encoding:
                self.send_header("Content-Encoding", route.encoding)
            for name, value in route.headers.items():
                self.send_header(name, value)
            body = b"" if status == 304 else route.body
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests read server.requests instead

    return Handler
