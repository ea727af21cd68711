"""Webhooks: members' HTTPS endpoints that receive their changes, signed.

Each delivery is a POST of JSON ``{"delivery": ID, "events": [...]}`` with

- ``X-Medisac-Delivery``: the delivery id, the same on every retry;
- ``X-Medisac-Timestamp``: Unix seconds when this attempt was signed;
- ``X-Medisac-Signature``: ``v1=`` and the hex HMAC-SHA256, keyed with the
  webhook's secret, of the timestamp, a full stop and the raw body.

A receiver checks it with :class:`SignatureCheck`: the signature must match,
the timestamp must be within five minutes, and a delivery id must not
repeat. A failed attempt is retried after 10 s, then twice as long each time
up to an hour. Targets on loopback, private, link-local, multicast or other
non-global addresses (cloud metadata included) are rejected unless the
operator lists that ``host:port`` in ``MEDISAC_WEBHOOK_ALLOW``. The request
connects to the checked address, so a new DNS answer cannot redirect it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from medisac.errors import MedisacError
from medisac.live.events import (
    Subscription,
    latest_seq,
    load_events,
    load_subscription,
    visible,
)
from medisac.members.orgs import get_org
from medisac.model.time import now_us
from medisac.settings import Settings
from medisac.store.tables import webhooks

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
FIRST_RETRY_SECONDS = 10
MAX_RETRY_SECONDS = 3600
# Events per delivery; more wait for the next one.
MAX_EVENTS = 500
# Seconds one worker keeps the lease of a webhook while it delivers.
LEASE_SECONDS = 60
MAX_WEBHOOKS = 10


class WebhookError(MedisacError):
    """A webhook cannot be registered or its target may not be reached."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked webhook URL and the address to connect to."""

    url: str
    host: str
    address: str
    port: int


def parse_allow(text: str) -> frozenset[str]:
    """Return the ``host:port`` entries of ``MEDISAC_WEBHOOK_ALLOW``."""
    return frozenset(part.strip().lower() for part in text.split(",") if part.strip())


def check_url(url: str, allow: frozenset[str] = frozenset()) -> tuple[str, int]:
    """Check ``url`` without resolving it; return its host and port.

    Raises :class:`WebhookError` for a URL that is not https, carries
    credentials, or names a non-public address or ``localhost`` directly.
    """
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise WebhookError(f"webhook URL {url!r} must use https://")
    host = (parts.hostname or "").lower()
    if not host:
        raise WebhookError(f"webhook URL {url!r} has no host name")
    if parts.username or parts.password:
        raise WebhookError("webhook URL must not contain a user name or password")
    try:
        port = parts.port or 443
    except ValueError:
        raise WebhookError(f"webhook URL {url!r} has an invalid port") from None
    if f"{host}:{port}" in allow:
        return host, port
    if host == "localhost" or host.endswith(".localhost"):
        _reject(host, "127.0.0.1", port)
    literal = _numeric_address(host)
    if literal is not None and not _public(literal):
        _reject(host, str(literal), port)
    return host, port


def _numeric_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return the address a numeric host names, in any spelling resolvers accept.

    Besides dotted quads, the C library reads ``127.1``, ``2130706433`` and
    ``0x7f.1`` as IPv4 addresses, so those are checked as the address too.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_target(url: str, allow: frozenset[str] = frozenset()) -> Target:
    """Resolve ``url`` and check every address; raise :class:`WebhookError`."""
    host, port = check_url(url, allow)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookError(f"cannot resolve webhook host {host!r}: {exc}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if f"{host}:{port}" in allow:
        return Target(url, host, addresses[0], port)
    for address in addresses:
        if f"{address}:{port}" in allow or f"[{address}]:{port}" in allow:
            continue
        if not _public(ipaddress.ip_address(address.split("%")[0])):
            _reject(host, address, port)
    return Target(url, host, addresses[0], port)


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address.is_global and not address.is_multicast


def _reject(host: str, address: str, port: int) -> None:
    raise WebhookError(
        f"webhook host {host!r} resolves to {address}, which is not a public "
        "address; an operator may allow it with MEDISAC_WEBHOOK_ALLOW="
        f"{host}:{port}"
    )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the ``X-Medisac-Signature`` value of ``body`` sent at ``timestamp``."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"v1={digest}"


class SignatureCheck:
    """The receiver's check of deliveries: signature, freshness, no repeats.

    It remembers delivery ids for the tolerance window, in memory; a receiver
    with several processes keeps them in a shared store instead.
    """

    def __init__(self, secret: str, tolerance: int = TOLERANCE_SECONDS) -> None:
        self.secret = secret
        self.tolerance = tolerance
        self._seen: dict[str, float] = {}

    def verify(
        self, body: bytes, headers: Any, *, now: float | None = None
    ) -> str | None:
        """Return None for a valid new delivery, else the reason it is not."""
        moment = time.time() if now is None else now
        try:
            timestamp = int(headers["X-Medisac-Timestamp"])
        except (KeyError, ValueError):
            return "missing or invalid X-Medisac-Timestamp"
        signature = str(headers.get("X-Medisac-Signature", ""))
        expected = sign(self.secret, timestamp, body)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return "signature does not match"
        if abs(moment - timestamp) > self.tolerance:
            return "timestamp outside the tolerance; a replayed delivery"
        delivery = str(headers.get("X-Medisac-Delivery", ""))
        self._seen = {
            k: t for k, t in self._seen.items() if moment - t < self.tolerance
        }
        if delivery in self._seen:
            return "delivery id seen before; a replayed delivery"
        self._seen[delivery] = moment
        return None


def create_webhook(
    conn: Connection, org_id: str, url: str, allow: frozenset[str] = frozenset()
) -> tuple[int, str]:
    """Register ``url`` for ``org_id``; return its id and its signing secret.

    The host is resolved and checked again before every delivery.
    """
    check_url(url, allow)
    count = conn.execute(
        sa.select(sa.func.count())
        .select_from(webhooks)
        .where(webhooks.c.org_id == org_id, webhooks.c.active.is_(True))
    ).scalar_one()
    if count >= MAX_WEBHOOKS:
        raise WebhookError(
            f"an organisation may register {MAX_WEBHOOKS} webhooks; remove one first"
        )
    secret = secrets.token_hex(32)
    webhook_id = conn.execute(
        sa.insert(webhooks)
        .values(
            org_id=org_id,
            url=url,
            secret=secret,
            active=True,
            created=now_us(),
            cursor=latest_seq(conn),
            failures=0,
            next_attempt=0,
            leased_until=0,
        )
        .returning(webhooks.c.id)
    ).scalar_one()
    return int(webhook_id), secret


def list_webhooks(conn: Connection, org_id: str | None) -> list[Any]:
    """Return the active webhooks of ``org_id`` (every one for None)."""
    query = sa.select(webhooks).where(webhooks.c.active.is_(True))
    if org_id is not None:
        query = query.where(webhooks.c.org_id == org_id)
    return list(conn.execute(query.order_by(webhooks.c.id)))


def remove_webhook(conn: Connection, webhook_id: int, org_id: str | None) -> bool:
    """Deactivate a webhook of ``org_id`` (any for None); tell whether it existed."""
    query = sa.update(webhooks).where(
        webhooks.c.id == webhook_id, webhooks.c.active.is_(True)
    )
    if org_id is not None:
        query = query.where(webhooks.c.org_id == org_id)
    return bool(conn.execute(query.values(active=False)).rowcount)


def retry_delay(failures: int) -> int:
    """Return the seconds to wait after ``failures`` failed attempts in a row."""
    return int(min(FIRST_RETRY_SECONDS * 2 ** max(failures - 1, 0), MAX_RETRY_SECONDS))


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Return the TLS context for webhook and SMTP servers."""
    context = ssl.create_default_context()
    if settings.ca_file:
        context.load_verify_locations(settings.ca_file)
    return context


class WebhookSender:
    """Deliver due webhooks; any number of workers may run one each."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.allow = parse_allow(settings.webhook_allow)
        self.client = httpx.Client(
            verify=ssl_context(settings),
            timeout=httpx.Timeout(10.0),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    def run_due(self) -> int:
        """Deliver every due webhook once; return how many deliveries succeeded."""
        now = now_us()
        with self.engine.connect() as conn:
            due = (
                conn.execute(
                    sa.select(webhooks.c.id).where(
                        webhooks.c.active.is_(True),
                        webhooks.c.next_attempt <= now,
                        webhooks.c.leased_until < now,
                    )
                )
                .scalars()
                .all()
            )
        delivered = 0
        for webhook_id in due:
            if self._lease(webhook_id, now):
                delivered += self._deliver(webhook_id)
        return delivered

    def _lease(self, webhook_id: int, now: int) -> bool:
        with self.engine.begin() as conn:
            leased = conn.execute(
                sa.update(webhooks)
                .where(webhooks.c.id == webhook_id, webhooks.c.leased_until < now)
                .values(leased_until=now + LEASE_SECONDS * 1_000_000)
            ).rowcount
        return bool(leased)

    def _deliver(self, webhook_id: int) -> int:
        with self.engine.connect() as conn:
            hook = conn.execute(
                sa.select(webhooks).where(webhooks.c.id == webhook_id)
            ).one()
            audience = get_org(conn, hook.org_id).audience
            subscription: Subscription = load_subscription(conn, hook.org_id)
            events = load_events(conn, hook.cursor, MAX_EVENTS)
        if not events:
            self._finish(webhook_id, {})
            return 0
        last = events[-1].seq
        chosen = [e for e in events if visible(e, audience) and subscription.accepts(e)]
        if not chosen:
            self._finish(webhook_id, {"cursor": last})
            return 0
        delivery = f"{webhook_id}-{chosen[0].seq}-{chosen[-1].seq}"
        body = orjson.dumps(
            {"delivery": delivery, "events": [e.body() for e in chosen]}
        )
        error = self._post(hook.url, hook.secret, delivery, body)
        if error is None:
            self._finish(
                webhook_id,
                {
                    "cursor": last,
                    "failures": 0,
                    "last_delivered": now_us(),
                    "last_error": None,
                },
            )
            log.info("webhook %d: delivered %d event(s)", webhook_id, len(chosen))
            return 1
        failures = hook.failures + 1
        delay = retry_delay(failures)
        log.warning(
            "webhook %d: delivery %s failed (%s); retry in %d s",
            webhook_id,
            delivery,
            error,
            delay,
        )
        self._finish(
            webhook_id,
            {
                "failures": failures,
                "next_attempt": now_us() + delay * 1_000_000,
                "last_error": error[:500],
            },
        )
        return 0

    def _post(self, url: str, secret: str, delivery: str, body: bytes) -> str | None:
        try:
            target = check_target(url, self.allow)
        except WebhookError as exc:
            return str(exc)
        timestamp = int(time.time())
        parts = urlsplit(url)
        address = f"[{target.address}]" if ":" in target.address else target.address
        pinned = urlunsplit(
            (
                parts.scheme,
                f"{address}:{target.port}",
                parts.path or "/",
                parts.query,
                "",
            )
        )
        headers = {
            "Host": parts.netloc.rsplit("@", 1)[-1],
            "Content-Type": "application/json",
            "User-Agent": "medisac-webhook",
            "X-Medisac-Delivery": delivery,
            "X-Medisac-Timestamp": str(timestamp),
            "X-Medisac-Signature": sign(secret, timestamp, body),
        }
        try:
            response = self.client.post(
                pinned,
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host},
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def _finish(self, webhook_id: int, values: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(webhooks)
                .where(webhooks.c.id == webhook_id)
                .values(leased_until=0, **values)
            )
