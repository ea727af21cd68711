"""The catalogue of well-known public feeds, shipped as ``catalogue.json``.

An operator enables an entry by name (``medisac feeds enable NAME``), which
registers it with the entry's location, format, interval, reliability, TLP
and confidence. ``medisac init`` enables the entries marked ``default`` on a
new store. ``MEDISAC_DEFAULT_FEEDS=none`` enables none instead, and a
comma-separated list of names enables those.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy.engine import Connection

from medisac.errors import ConfigError
from medisac.feeds.registry import (
    SOURCE_FORMATS,
    FeedSpec,
    add_feed,
    check_reliability,
    get_feed,
    list_feeds,
    parse_duration,
    set_enabled,
)
from medisac.ingest.detect import PARSERS
from medisac.model import TLP

DEFAULT_FEEDS_ENV = "MEDISAC_DEFAULT_FEEDS"
_FIELDS = (
    "name",
    "title",
    "provider",
    "location",
    "format",
    "every",
    "reliability",
    "tlp",
    "confidence",
    "default",
    "terms",
    "note",
)


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """A public feed that can be enabled by name."""

    name: str
    title: str
    provider: str
    location: str
    format: str
    every_seconds: int
    reliability: str
    tlp: TLP
    confidence: int
    default: bool
    terms: str
    note: str

    @property
    def readable(self) -> bool:
        """True when medisac has a parser or a source kind for the format."""
        return self.format in PARSERS or self.format in SOURCE_FORMATS

    def spec(self) -> FeedSpec:
        """Return the settings that register this entry as a feed."""
        return FeedSpec(
            name=self.name,
            location=self.location,
            format=self.format,
            every_seconds=self.every_seconds,
            reliability=self.reliability,
            tlp=self.tlp,
            confidence=self.confidence,
            options={"catalogue": self.name},
        )


def _entry(number: int, data: Any) -> CatalogueEntry:
    where = f"catalogue.json, feed {number}"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: not a JSON object")
    missing = [name for name in _FIELDS if name not in data]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    try:
        return CatalogueEntry(
            name=str(data["name"]),
            title=str(data["title"]),
            provider=str(data["provider"]),
            location=str(data["location"]),
            format=str(data["format"]),
            every_seconds=parse_duration(str(data["every"])),
            reliability=check_reliability(str(data["reliability"])),
            tlp=TLP.parse(str(data["tlp"])),
            confidence=int(data["confidence"]),
            default=bool(data["default"]),
            terms=str(data["terms"]),
            note=str(data["note"]),
        )
    except (ConfigError, ValueError) as exc:
        raise ConfigError(f"{where} ({data.get('name')!r}): {exc}") from exc


@cache
def load_catalogue() -> tuple[CatalogueEntry, ...]:
    """Return the catalogue's entries in file order.

    Raises :class:`ConfigError` naming the entry and field of an invalid one.
    """
    text = resources.files("medisac.feeds").joinpath("catalogue.json").read_text()
    data = json.loads(text)
    entries = tuple(
        _entry(number, item) for number, item in enumerate(data["feeds"], start=1)
    )
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise ConfigError("catalogue.json lists a feed name twice")
    return entries


def catalogue_entry(name: str) -> CatalogueEntry:
    """Return the entry called ``name``; raise :class:`ConfigError` if none."""
    for entry in load_catalogue():
        if entry.name == name:
            return entry
    raise ConfigError(
        f"no catalogue feed named {name!r}; `medisac feeds catalogue` lists them"
    )


def enable_entry(conn: Connection, name: str) -> bool:
    """Register and enable the catalogue feed ``name``, or enable it again.

    Returns True when the feed was newly registered. Raises
    :class:`ConfigError` for an unknown name or a format medisac cannot
    read yet.
    """
    entry = catalogue_entry(name)
    if not entry.readable:
        raise ConfigError(
            f"catalogue feed {name!r} is in the {entry.format} format, which "
            "medisac cannot read yet"
        )
    if any(feed.name == name for feed in list_feeds(conn)):
        get_feed(conn, name)
        set_enabled(conn, name, True)
        return False
    add_feed(conn, entry.spec())
    return True


def default_feed_names(env: dict[str, str] | None = None) -> list[str]:
    """Return the catalogue feeds that ``medisac init`` enables on a new store.

    ``MEDISAC_DEFAULT_FEEDS=none`` gives none; a comma-separated list of
    names gives those; unset or empty gives the entries marked ``default``.
    Raises :class:`ConfigError` for an unknown name in the list.
    """
    value = (os.environ if env is None else env).get(DEFAULT_FEEDS_ENV, "").strip()
    if value.lower() == "none":
        return []
    if not value:
        return [entry.name for entry in load_catalogue() if entry.default]
    names = [name.strip() for name in value.split(",") if name.strip()]
    for name in names:
        try:
            catalogue_entry(name)
        except ConfigError as exc:
            raise ConfigError(f"{DEFAULT_FEEDS_ENV}: {exc}") from None
    return names
