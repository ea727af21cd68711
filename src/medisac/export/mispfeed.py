"""A MISP feed directory: ``manifest.json``, one file per event, ``hashes.csv``.

MISP fetches ``manifest.json`` from a feed's URL, then every event file whose
``timestamp`` in the manifest is newer than its copy. The layout follows
PyMISP 2.5's ``feed_meta_generator``. An event file is ``{"Event": {...}}``
named by the event uuid, and each line of ``hashes.csv`` contains the MD5 of an
attribute value and the event uuid.

Choices a consumer needs to know:

- **One event per day and TLP level.** An indicator goes into the event of
  the UTC day it was first seen and of its TLP level, so old days rarely
  change and each event carries one TLP tag and a matching distribution.
  Event and attribute uuids are derived from those keys and the indicator's
  STIX id, so they stay the same in every export.
- **Withdrawals.** An indicator that was withdrawn (expired, false positive,
  benign or revoked) in the last ``withdrawn_days`` days stays in its event
  with ``"deleted": true`` and ``to_ids`` false, and the event's timestamp
  moves, so a MISP instance that pulls again soft-deletes its copy.
  NOTE: checked with PyMISP and medisac's own MISP reader, not against a
  running MISP server.
- **Context-only values** (every source said ``to_ids`` false) are kept with
  ``to_ids`` false, as MISP does for values that should not raise alerts.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.export.files import replaced_file
from medisac.export.select import ExportFilter, selected_rows
from medisac.gcpause import collector_paused
from medisac.model import TLP, IndicatorType, State
from medisac.model.time import format_rfc3339, now_us
from medisac.stix import IDENTITY
from medisac.store.tables import indicators
from medisac.store.views import VIEW_COLUMNS

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
HASHES_FILE = "hashes.csv"

# Days a withdrawn indicator stays in the feed, marked deleted, so that
# instances pulling less often than this still see the withdrawal.
DEFAULT_WITHDRAWN_DAYS = 30

_ORGC = {
    "name": IDENTITY["name"],
    "uuid": IDENTITY["id"].removeprefix("identity--"),
}
_NAMESPACE = uuid.UUID(IDENTITY["id"].removeprefix("identity--"))

# MISP attribute type and category of each indicator type.
_MISP_TYPES: dict[str, tuple[str, str]] = {
    IndicatorType.IPV4: ("ip-dst", "Network activity"),
    IndicatorType.IPV6: ("ip-dst", "Network activity"),
    IndicatorType.CIDR: ("ip-dst", "Network activity"),
    IndicatorType.DOMAIN: ("domain", "Network activity"),
    IndicatorType.URL: ("url", "Network activity"),
    IndicatorType.EMAIL: ("email-src", "Payload delivery"),
    IndicatorType.MD5: ("md5", "Payload delivery"),
    IndicatorType.SHA1: ("sha1", "Payload delivery"),
    IndicatorType.SHA256: ("sha256", "Payload delivery"),
    IndicatorType.SHA512: ("sha512", "Payload delivery"),
    IndicatorType.FILENAME: ("filename", "Payload delivery"),
}

# MISP distribution levels: 0 this organisation only, 1 this community,
# 2 connected communities, 3 all communities, 5 inherit the event's.
_DISTRIBUTION = {
    TLP.CLEAR: "3",
    TLP.GREEN: "1",
    TLP.AMBER: "0",
    TLP.AMBER_STRICT: "0",
    TLP.RED: "0",
}
_INHERIT_EVENT = "5"
# MISP analysis 2 is "completed"; threat level 4 is "undefined", because a
# day's indicators mix every threat.
_ANALYSIS = "2"
_THREAT_LEVEL = "4"


@dataclass(slots=True)
class _Event:
    day: str
    tlp: TLP
    uuid: str = ""
    attributes: list[bytes] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    timestamp: int = 0

    def __post_init__(self) -> None:
        key = f"misp-event:{self.day}:{self.tlp.label}"
        self.uuid = str(uuid.uuid5(_NAMESPACE, key))

    def header(self) -> dict[str, Any]:
        """Return the event's fields other than its attributes."""
        return {
            "uuid": self.uuid,
            "info": f"medisac indicators first seen {self.day} (TLP:{self.tlp.label})",
            "date": self.day,
            "analysis": _ANALYSIS,
            "threat_level_id": _THREAT_LEVEL,
            "timestamp": str(self.timestamp),
            "publish_timestamp": str(self.timestamp),
            "published": True,
            "distribution": _DISTRIBUTION[self.tlp],
            "Orgc": _ORGC,
            "Tag": [{"name": _tlp_tag(self.tlp)}],
        }


def write_misp_feed(
    conn: Connection,
    selection: ExportFilter,
    directory: Path,
    *,
    withdrawn_days: int = DEFAULT_WITHDRAWN_DAYS,
) -> int:
    """Write the feed into ``directory``; return the number of live attributes.

    Event files are written first and ``manifest.json`` last, each replacing
    its old version whole, so a MISP instance that fetches during an export
    reads the old manifest or the new one with all its events. Event files of
    an earlier export that the new manifest no longer lists are deleted.
    """
    directory.mkdir(parents=True, exist_ok=True)
    # Every attribute's dicts and lists are freed by reference counting, and
    # the collector's full scans of them doubled the time of a 550,000-value
    # feed in bench/export_scale.py.
    with collector_paused():
        live, withdrawn, events = _collect(conn, selection, withdrawn_days)
    _write_files(directory, events)
    log.info(
        "MISP feed: %d events, %d attributes, %d withdrawn marked deleted",
        len(events),
        live,
        withdrawn,
    )
    return live


def _collect(
    conn: Connection, selection: ExportFilter, withdrawn_days: int
) -> tuple[int, int, dict[tuple[str, int], _Event]]:
    """Group the live and withdrawn attributes into their events."""
    events: dict[tuple[str, int], _Event] = {}
    live = 0
    for row in selected_rows(conn, selection):
        # The view columns follow the id and the body (see selected_rows).
        _add(events, row[2:], deleted=False)
        live += 1
    withdrawn = 0
    if withdrawn_days > 0:
        since = now_us() - withdrawn_days * 86_400_000_000
        for columns in _withdrawn_rows(conn, selection, since):
            _add(events, columns, deleted=True)
            withdrawn += 1
    return live, withdrawn, events


def _write_files(directory: Path, events: dict[tuple[str, int], _Event]) -> None:
    """Write the event files, then ``hashes.csv``, then ``manifest.json``."""
    manifest: dict[str, Any] = {}
    for event in sorted(events.values(), key=lambda item: (item.day, item.tlp)):
        header = event.header()
        with replaced_file(directory / f"{event.uuid}.json") as handle:
            handle.write(b'{"Event":')
            handle.write(orjson.dumps(header)[:-1])
            handle.write(b',"Attribute":[')
            handle.write(b",".join(event.attributes))
            handle.write(b"]}}\n")
        manifest[event.uuid] = {
            key: header[key]
            for key in ("Orgc", "Tag", "info", "date", "analysis", "threat_level_id")
        } | {"timestamp": event.timestamp}
    with replaced_file(directory / HASHES_FILE) as handle:
        for event in events.values():
            suffix = f",{event.uuid}\n"
            handle.write("".join(digest + suffix for digest in event.hashes).encode())
    with replaced_file(directory / MANIFEST_FILE) as handle:
        handle.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    _delete_unlisted(directory, manifest)


def _add(
    events: dict[tuple[str, int], _Event], columns: Sequence[Any], *, deleted: bool
) -> None:
    """Add one indicator, given as the values of ``VIEW_COLUMNS``, to its event.

    The columns are read by position rather than through an indicator view,
    which halves the time of a large feed.
    """
    (
        stix_id,
        kind,
        value,
        _state,
        confidence,
        tlp,
        first_seen,
        last_seen,
        _valid_until,
        _created,
        modified,
        tags,
        _context,
        healthcare,
        to_ids,
        sources,
    ) = columns
    day = _day(first_seen // 86_400_000_000)
    key = (day, tlp)
    event = events.get(key)
    if event is None:
        event = events[key] = _Event(day=day, tlp=TLP(tlp))
    seconds = modified // 1_000_000
    if seconds > event.timestamp:
        event.timestamp = seconds
    misp_type, category = _MISP_TYPES[kind]
    attribute_tags = [_TLP_TAGS[tlp], *_tag_objects(tags)]
    if healthcare:
        attribute_tags.append(_HEALTHCARE_TAG)
    names = _source_names(sources)
    attribute = {
        # The indicator's STIX id ends in a uuid that never changes.
        "uuid": stix_id[stix_id.index("--") + 2 :],
        "type": misp_type,
        "category": category,
        "value": value,
        "to_ids": bool(to_ids) and not deleted,
        "deleted": deleted,
        "distribution": _INHERIT_EVENT,
        "timestamp": str(seconds),
        "first_seen": format_rfc3339(first_seen),
        "last_seen": format_rfc3339(max(last_seen, first_seen)),
        "comment": f"confidence {confidence}; sources: {names}",
        "Tag": attribute_tags,
    }
    event.attributes.append(orjson.dumps(attribute))
    if not deleted:
        event.hashes.append(hashlib.md5(value.encode()).hexdigest())  # noqa: S324


# Large feeds repeat a few tag and source lists many times, so each distinct
# JSON text is parsed once.
@lru_cache(maxsize=4096)
def _tag_objects(tags: str) -> tuple[dict[str, str], ...]:
    return tuple({"name": tag} for tag in orjson.loads(tags) if tag)


@lru_cache(maxsize=4096)
def _source_names(sources: str) -> str:
    return ", ".join(claim[0] for claim in orjson.loads(sources))


@lru_cache(maxsize=4096)
def _day(days_since_epoch: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=days_since_epoch)).isoformat()


def _withdrawn_rows(
    conn: Connection, selection: ExportFilter, since: int
) -> Iterator[Sequence[Any]]:
    """Yield the view columns of indicators withdrawn after ``since``."""
    ic = indicators.c
    conditions = [
        ic.modified > since,
        selection.visibility(),
        ic.confidence >= selection.min_confidence,
        sa.or_(
            ic.state != State.ACTIVE.value,
            sa.and_(ic.valid_until.is_not(None), ic.valid_until <= now_us()),
        ),
    ]
    if selection.types:
        conditions.append(ic.type.in_(sorted(t.value for t in selection.types)))
    if selection.healthcare:
        conditions.append(ic.healthcare.is_(True))
    statement = sa.select(*VIEW_COLUMNS).where(*conditions).order_by(ic.id)
    yield from conn.execute(statement)


def _delete_unlisted(directory: Path, manifest: dict[str, Any]) -> None:
    """Delete event files that an earlier export wrote and the manifest dropped."""
    for path in directory.glob("*.json"):
        if path.name == MANIFEST_FILE or path.stem in manifest:
            continue
        try:
            uuid.UUID(path.stem)
        except ValueError:
            continue
        path.unlink()


def _tlp_tag(level: TLP) -> str:
    return f"tlp:{level.label.lower()}"


_TLP_TAGS = {int(level): {"name": _tlp_tag(level)} for level in TLP}
_HEALTHCARE_TAG = {"name": "medisac:healthcare"}
