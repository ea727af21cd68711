"""The feed registry: scheduled sources as rows of the ``sources`` table.

A feed is a source with a location, a format and, usually, an interval. Its
kind follows from the two: ``taxii`` and ``misp-feed`` formats name their own
kinds, an http(s) location is an ``http`` feed, and anything else is a
``file`` feed (a file or a directory). Credentials are kept as JSON in
``sources.credentials`` and come back only as :class:`Secret` values;
:meth:`Feed.credential_summary` is all that listings show of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.errors import ConfigError, FeedError
from medisac.feeds.fetch import check_http_url
from medisac.ingest.detect import PARSERS
from medisac.model import TLP
from medisac.model.time import now_us
from medisac.settings import Secret
from medisac.store.tables import ingest_runs, sources

KIND_FILE = "file"
KIND_HTTP = "http"
KIND_TAXII = "taxii"
KIND_MISP_FEED = "misp-feed"
FEED_KINDS = (KIND_FILE, KIND_HTTP, KIND_TAXII, KIND_MISP_FEED)

# Formats that name a kind of source rather than a parser.
SOURCE_FORMATS = (KIND_TAXII, KIND_MISP_FEED)

# Admiralty source reliability: A completely reliable ... F cannot be judged.
RELIABILITY_GRADES = "ABCDEF"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# The shortest interval accepted, which keeps polling gentle on the servers
# of feed providers.
MIN_INTERVAL_SECONDS = 60


def parse_duration(text: str) -> int:
    """Read ``90s``, ``15m``, ``1h``, ``1d`` or ``2w`` as seconds.

    A bare number is seconds. Raises :class:`ConfigError` for anything else
    and for an interval shorter than :data:`MIN_INTERVAL_SECONDS`.
    """
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(
            f"invalid duration {text!r}; write a number and a unit s, m, h, d or w, "
            "for example 15m or 1h"
        )
    seconds = int(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    if seconds < MIN_INTERVAL_SECONDS:
        raise ConfigError(
            f"interval {text!r} is shorter than {MIN_INTERVAL_SECONDS} s; "
            "poll feeds less often"
        )
    return seconds


def format_duration(seconds: int | None) -> str:
    """Write ``seconds`` in the largest unit that divides it, as ``15m`` or ``1d``."""
    if seconds is None:
        return "on demand"
    for unit in "wdhm":
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def check_reliability(grade: str) -> str:
    """Return ``grade`` in upper case; raise :class:`ConfigError` unless A-F."""
    upper = grade.strip().upper()
    if len(upper) != 1 or upper not in RELIABILITY_GRADES:
        raise ConfigError(
            f"invalid reliability {grade!r}; use an Admiralty grade A "
            "(completely reliable) to F (cannot be judged)"
        )
    return upper


def kind_of(location: str, fmt: str | None) -> str:
    """Return the kind of source that reads ``location`` in ``fmt``."""
    if fmt in SOURCE_FORMATS:
        return str(fmt)
    if location.lower().startswith(("http://", "https://")):
        return KIND_HTTP
    return KIND_FILE


@dataclass(frozen=True, slots=True)
class Credentials:
    """A Bearer token, or a user name and password, for HTTP and TAXII feeds."""

    token: Secret | None = None
    username: str | None = None
    password: Secret | None = None

    def __post_init__(self) -> None:
        if self.token is not None and (self.username or self.password):
            raise ConfigError(
                "give either --token or --username and --password, not both"
            )
        if self.username and self.password is None:
            raise ConfigError(f"user name {self.username!r} needs --password")

    @property
    def empty(self) -> bool:
        """True when no credential is set."""
        return self.token is None and self.password is None

    def summary(self) -> str:
        """Describe what is set without showing any secret."""
        if self.token is not None:
            return "token set"
        if self.password is not None:
            return f"user {self.username or '(none)'}, password set"
        return "none"

    def to_json(self) -> str | None:
        """Serialise for ``sources.credentials``; None when empty."""
        if self.empty:
            return None
        data: dict[str, str] = {}
        if self.token is not None:
            data["token"] = self.token.reveal()
        if self.username:
            data["username"] = self.username
        if self.password is not None:
            data["password"] = self.password.reveal()
        return orjson.dumps(data).decode()

    @classmethod
    def from_json(cls, text: str | None) -> Credentials:
        """Read ``sources.credentials``; an empty column gives no credentials."""
        if not text:
            return cls()
        data = orjson.loads(text)
        token = data.get("token")
        password = data.get("password")
        return cls(
            token=Secret(token) if token else None,
            username=data.get("username") or None,
            password=Secret(password) if password is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Feed:
    """One registered source, as the runner and the command line see it."""

    id: int
    name: str
    kind: str
    location: str
    format: str | None
    reliability: str
    default_tlp: TLP
    default_confidence: int
    enabled: bool
    every_seconds: int | None
    credentials: Credentials = field(repr=False)
    options: dict[str, Any]
    fetch_state: dict[str, Any]
    last_success: int | None

    @property
    def parse_format(self) -> str | None:
        """The parser format for ingest, or None to detect it per file."""
        return None if self.format in SOURCE_FORMATS else self.format

    def option(self, name: str, default: Any) -> Any:
        """Return the option ``name``, or ``default`` when it is not set."""
        value = self.options.get(name)
        return default if value is None else value


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """The settings of a feed to add; see :func:`add_feed`."""

    name: str
    location: str
    format: str | None = None
    every_seconds: int | None = None
    reliability: str = "C"
    tlp: TLP = TLP.GREEN
    confidence: int = 50
    credentials: Credentials = field(default_factory=Credentials, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True


def check_spec(spec: FeedSpec) -> FeedSpec:
    """Raise :class:`ConfigError` for an invalid name, format or setting."""
    if not _NAME.match(spec.name):
        raise ConfigError(
            f"invalid feed name {spec.name!r}; use up to 100 letters, digits, "
            "dots, dashes and underscores, starting with a letter or digit"
        )
    if spec.format is not None and spec.format not in (*PARSERS, *SOURCE_FORMATS):
        choices = ", ".join((*sorted(PARSERS), *SOURCE_FORMATS))
        raise ConfigError(f"unknown format {spec.format!r}; use one of {choices}")
    if not 0 <= spec.confidence <= 100:
        raise ConfigError(f"confidence must be 0-100, not {spec.confidence}")
    check_reliability(spec.reliability)
    kind = kind_of(spec.location, spec.format)
    remote = spec.location.lower().startswith(("http://", "https://"))
    if kind == KIND_TAXII and not remote:
        raise ConfigError(
            f"feed {spec.name!r}: a TAXII feed needs the http(s) URL of a collection"
        )
    if remote:
        try:
            check_http_url(spec.location, allow_query=kind == KIND_HTTP)
        except FeedError as exc:
            raise ConfigError(f"feed {spec.name!r}: {exc}") from exc
    if kind == KIND_FILE and not spec.credentials.empty:
        raise ConfigError(
            f"feed {spec.name!r}: credentials apply only to HTTP and TAXII feeds"
        )
    return spec


def add_feed(conn: Connection, spec: FeedSpec) -> int:
    """Register a new feed and return its source id.

    A source of the same name that is not a feed (one that ``medisac
    ingest`` created, or a removed feed) becomes this feed and keeps its
    provenance. Raises :class:`ConfigError` for an invalid setting or the
    name of another feed.
    """
    check_spec(spec)
    values = {
        "kind": kind_of(spec.location, spec.format),
        "location": spec.location,
        "format": spec.format,
        "reliability": check_reliability(spec.reliability),
        "default_tlp": int(spec.tlp),
        "default_confidence": spec.confidence,
        "enabled": spec.enabled,
        "every_seconds": spec.every_seconds,
        "credentials": spec.credentials.to_json(),
        "options": orjson.dumps(dict(spec.options)).decode(),
        "fetch_state": "{}",
    }
    taken = conn.execute(
        sa.select(sources.c.id, sources.c.location).where(sources.c.name == spec.name)
    ).first()
    if taken is not None and taken.location is not None:
        raise ConfigError(
            f"a feed named {spec.name!r} already exists; remove it first or "
            "choose another name"
        )
    if taken is not None:
        conn.execute(sa.update(sources).where(sources.c.id == taken.id).values(values))
        return int(taken.id)
    return int(
        conn.execute(
            sa.insert(sources)
            .values(name=spec.name, created=now_us(), **values)
            .returning(sources.c.id)
        ).scalar_one()
    )


def _feed_from_row(row: sa.Row[Any]) -> Feed:
    return Feed(
        id=row.id,
        name=row.name,
        kind=row.kind,
        location=row.location or "",
        format=row.format,
        reliability=row.reliability,
        default_tlp=TLP(row.default_tlp),
        default_confidence=int(row.default_confidence),
        enabled=bool(row.enabled),
        every_seconds=row.every_seconds,
        credentials=Credentials.from_json(row.credentials),
        options=orjson.loads(row.options or "{}"),
        fetch_state=orjson.loads(row.fetch_state or "{}"),
        last_success=row.last_success,
    )


def _feeds_query() -> sa.Select[Any]:
    # Sources that ingest created for one-off files have no location and
    # are not feeds.
    return (
        sa.select(sources)
        .where(sources.c.location.is_not(None), sources.c.kind.in_(FEED_KINDS))
        .order_by(sources.c.name)
    )


def list_feeds(conn: Connection) -> list[Feed]:
    """Return every registered feed, ordered by name."""
    return [_feed_from_row(row) for row in conn.execute(_feeds_query())]


def get_feed(conn: Connection, name: str) -> Feed:
    """Return the feed called ``name``; raise :class:`ConfigError` if none."""
    row = conn.execute(_feeds_query().where(sources.c.name == name)).first()
    if row is None:
        raise ConfigError(
            f"no feed named {name!r}; `medisac feeds list` shows the feeds"
        )
    return _feed_from_row(row)


def remove_feed(conn: Connection, name: str) -> None:
    """Unregister the feed ``name`` so it is never polled again.

    The source row stays, because provenance rows refer to it. It loses its
    location and becomes an ordinary source that no scheduler polls.
    Raises :class:`ConfigError` if unknown.
    """
    feed = get_feed(conn, name)
    conn.execute(
        sa.update(sources)
        .where(sources.c.id == feed.id)
        .values(
            location=None,
            kind=KIND_FILE,
            enabled=False,
            every_seconds=None,
            credentials=None,
            fetch_state="{}",
        )
    )


def set_enabled(conn: Connection, name: str, enabled: bool) -> None:
    """Enable or disable the feed ``name``; raise :class:`ConfigError` if unknown."""
    feed = get_feed(conn, name)
    conn.execute(
        sa.update(sources).where(sources.c.id == feed.id).values(enabled=enabled)
    )


def save_fetch_state(conn: Connection, feed_id: int, state: dict[str, Any]) -> None:
    """Replace the feed's ``fetch_state`` with ``state``."""
    conn.execute(
        sa.update(sources)
        .where(sources.c.id == feed_id)
        .values(fetch_state=orjson.dumps(state).decode())
    )


def mark_success(conn: Connection, feed_id: int, when: int) -> None:
    """Record ``when`` (microseconds) as the end of the last successful run."""
    conn.execute(
        sa.update(sources).where(sources.c.id == feed_id).values(last_success=when)
    )


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of ``ingest_runs``: a feed run and its counts."""

    started: int
    finished: int | None
    outcome: str
    new: int
    updated: int
    unchanged: int
    rejected: int
    error: str | None

    @property
    def seconds(self) -> float | None:
        """How long the run took, or None while it has not finished."""
        if self.finished is None:
            return None
        return (self.finished - self.started) / 1_000_000


def last_runs(conn: Connection, feed_id: int, limit: int = 1) -> list[RunRecord]:
    """Return the newest ``limit`` runs of the feed, newest first."""
    rc = ingest_runs.c
    rows = conn.execute(
        sa.select(
            rc.started,
            rc.finished,
            rc.outcome,
            rc.new,
            rc.updated,
            rc.unchanged,
            rc.rejected,
            rc.error,
        )
        .where(rc.source_id == feed_id)
        .order_by(rc.id.desc())
        .limit(limit)
    )
    return [RunRecord(*row) for row in rows]


def last_started(conn: Connection) -> dict[int, int]:
    """Return when each source's newest run started, by source id."""
    rc = ingest_runs.c
    rows = conn.execute(
        sa.select(rc.source_id, sa.func.max(rc.started)).group_by(rc.source_id)
    )
    return {int(source_id): int(started) for source_id, started in rows}
