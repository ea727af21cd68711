"""Helpers for live-delivery tests: members with keys, an SSE reader, TLS."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import trustme
from sqlalchemy.engine import Engine

from medisac.members.orgs import Org, OrgKind, add_org
from medisac.model import TLP
from medisac.store.engine import begin_write
from medisac.store.keys import create_key


@dataclass(frozen=True)
class Member:
    """An organisation with a read+submit key that may also post sensor batches."""

    org: Org
    key: str


def add_member(engine: Engine, name: str, clearance: TLP = TLP.GREEN) -> Member:
    with begin_write(engine) as conn:
        org = add_org(
            conn,
            name,
            tier="premium",
            clearance=clearance,
            kind=OrgKind.HOSPITAL_SYSTEM,
            trusted=False,
        )
        key = create_key(conn, f"{name} sensor", "read,submit,sensor", org_id=org.id)
    return Member(org, key)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class SseEvent:
    id: str
    event: str
    data: dict[str, Any]


def read_events(
    url: str,
    key: str,
    count: int,
    *,
    timeout: float = 10.0,
    last_event_id: str | None = None,
    ready: threading.Event | None = None,
    params: dict[str, Any] | None = None,
) -> list[SseEvent]:
    """Read ``count`` events from the stream at ``url``, or what came in ``timeout``."""
    headers = bearer(key)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    events: list[SseEvent] = []
    fields: dict[str, str] = {}
    try:
        with httpx.stream(
            "GET", url, headers=headers, params=params, timeout=httpx.Timeout(timeout)
        ) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if ready is not None:
                    ready.set()
                if line == "":
                    if "data" in fields:
                        events.append(
                            SseEvent(
                                fields["id"],
                                fields["event"],
                                orjson.loads(fields["data"]),
                            )
                        )
                        if len(events) >= count:
                            return events
                    fields = {}
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value
    except httpx.ReadTimeout:
        pass
    return events


@dataclass
class Certificates:
    """A test CA and a server certificate for localhost and 127.0.0.1."""

    ca_file: Path
    server: ssl.SSLContext


def certificates(tmp: Path) -> Certificates:
    authority = trustme.CA()
    cert = authority.issue_cert("localhost", "127.0.0.1")
    ca_file = tmp / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return Certificates(ca_file, context)


@dataclass
class Received:
    """Requests an HTTPS receiver got: (headers, body)."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200


@contextmanager
def https_receiver(context: ssl.SSLContext) -> Iterator[tuple[int, Received]]:
    """Serve HTTPS on a free loopback port; record each POST."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            received.requests.append((dict(self.headers.items()), body))
            self.send_response(received.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()
