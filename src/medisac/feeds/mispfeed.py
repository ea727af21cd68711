"""Read a MISP feed incrementally: the manifest, then only new or changed events.

A MISP feed is a folder (local or on a web server) with ``manifest.json``
beside one ``<uuid>.json`` file per event. MISP's own manifest maps each
event uuid to a summary with a ``timestamp`` that changes whenever the event
does. Some published feeds list entries with a ``filename`` and an ``md5``
instead. Others point from a top-level ``{"feeds": {"events": ...}}``
manifest to such a list. Both layouts are read too.

Each run compares the manifest with the version of every event stored in
``fetch_state`` (its timestamp, else its md5, else a digest of its entry)
and fetches only the events whose uuid is new or whose version changed. An
event that fails to download or to parse keeps its old version in the state,
so the next run tries it again.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson

from medisac.errors import FeedError
from medisac.feeds.fetch import FeedHttpClient
from medisac.feeds.httpfeed import HttpSettings, auth_for

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# Bytes of one manifest; a feed of 100,000 events has one of about 30 MB.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024

_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_EVENT_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.json$")


@dataclass(frozen=True, slots=True)
class ManifestEvent:
    """One event a manifest lists: its uuid, file name and version key."""

    uuid: str
    filename: str
    version: str


@dataclass(slots=True)
class Manifest:
    """The events of a manifest, and the folder (path or URL) that contains them."""

    base: str
    events: list[ManifestEvent] = field(default_factory=list)


def changed_events(manifest: Manifest, known: dict[str, str]) -> list[ManifestEvent]:
    """Return the events whose uuid is not in ``known`` or whose version differs."""
    return [
        event for event in manifest.events if known.get(event.uuid) != event.version
    ]


def parse_manifest(origin: str, base: str, data: Any) -> Manifest:
    """Read the events of a decoded manifest; raise :class:`FeedError` if invalid."""
    manifest = Manifest(base)
    if isinstance(data, dict) and all(_UUID.match(key) for key in data):
        for uuid, entry in sorted(data.items()):
            if not isinstance(entry, dict):
                raise FeedError(origin, f"manifest entry {uuid} is not a JSON object")
            stamp = entry.get("timestamp")
            version = str(stamp) if stamp is not None else _digest(entry)
            manifest.events.append(ManifestEvent(uuid, f"{uuid}.json", version))
        return manifest
    if isinstance(data, list):
        for number, entry in enumerate(data, start=1):
            manifest.events.append(_listed_event(origin, number, entry))
        return manifest
    raise FeedError(
        origin,
        "not a MISP feed manifest: expected an object keyed by event uuid or a "
        "list of events; check the feed URL or folder",
    )


def manifest_pointer(data: Any) -> str | None:
    """Return the events manifest a top-level feed manifest points to, if any."""
    if isinstance(data, dict) and isinstance(data.get("feeds"), dict):
        pointer = data["feeds"].get("events")
        if isinstance(pointer, str) and pointer:
            return pointer
    return None


def _listed_event(origin: str, number: int, entry: Any) -> ManifestEvent:
    if not isinstance(entry, dict):
        raise FeedError(origin, f"manifest entry {number} is not a JSON object")
    uuid = entry.get("uuid")
    if not isinstance(uuid, str) or not _UUID.match(uuid):
        raise FeedError(origin, f"manifest entry {number} has no valid event uuid")
    listed = entry.get("filename")
    name = f"{uuid}.json"
    if isinstance(listed, str) and listed:
        # Only the file name is used, so a manifest cannot point outside
        # the feed's folder.
        name = listed.replace("\\", "/").rsplit("/", 1)[-1]
    if not _EVENT_FILE.match(name):
        raise FeedError(origin, f"manifest entry {number} names file {name!r}")
    stamp = entry.get("timestamp") or entry.get("md5")
    version = str(stamp) if stamp is not None else _digest(entry)
    return ManifestEvent(uuid, name, version)


def _digest(entry: dict[str, Any]) -> str:
    text = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()[:32]


# -- local folders ----------------------------------------------------------


def read_local_manifest(location: Path) -> Manifest:
    """Read the manifest of the feed folder ``location`` (or the manifest file)."""
    path = location if location.is_file() else location / MANIFEST
    data = _load_local(path)
    pointer = manifest_pointer(data)
    if pointer is not None:
        path = _resolve_pointer(path, pointer)
        data = _load_local(path)
    return parse_manifest(str(path), str(path.parent), data)


def _load_local(path: Path) -> Any:
    try:
        with path.open("rb") as stream:
            content = stream.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise FeedError(
            str(path), f"cannot read the MISP feed manifest: {exc.strerror or exc}"
        ) from exc
    return _decode(str(path), content)


def _resolve_pointer(manifest: Path, pointer: str) -> Path:
    # The pointer is relative to the feed's published root, which may sit
    # above this folder: try it whole, then without each leading folder.
    folder = manifest.parent
    parts = Path(pointer).parts
    for start in range(len(parts)):
        candidate = folder.joinpath(*parts[start:])
        inside = candidate.resolve().is_relative_to(folder.resolve())
        if inside and candidate.is_file() and candidate != manifest:
            return candidate
    raise FeedError(
        str(manifest), f"the events manifest {pointer!r} it points to is missing"
    )


def _decode(origin: str, content: bytes) -> Any:
    if len(content) > MAX_MANIFEST_BYTES:
        raise FeedError(
            origin, f"the manifest is larger than {MAX_MANIFEST_BYTES:,} bytes"
        )
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise FeedError(origin, f"the manifest is not valid JSON: {exc}") from exc


# -- web servers ------------------------------------------------------------


def fetch_remote_manifest(url: str, settings: HttpSettings) -> Manifest:
    """Download and read the manifest of the feed at ``url``.

    ``url`` is the feed's folder or its ``manifest.json``. Raises
    :class:`FeedError` when the manifest cannot be fetched or read.
    """
    if url.endswith(".json"):
        manifest_url = url
    else:
        manifest_url = (url if url.endswith("/") else url + "/") + MANIFEST
    with _client(settings) as client:
        data = _decode(manifest_url, client.get(manifest_url, {}).body)
        pointer = manifest_pointer(data)
        if pointer is not None:
            manifest_url, data = _follow_pointer(client, manifest_url, pointer)
    folder = manifest_url.rsplit("/", 1)[0] + "/"
    return parse_manifest(manifest_url, folder, data)


def _follow_pointer(
    client: FeedHttpClient, manifest_url: str, pointer: str
) -> tuple[str, Any]:
    # As for a local folder, the pointer may be relative to a root above
    # the manifest: try it whole, then without each leading folder. Only
    # URLs on the manifest's own server are requested, so credentials never
    # go to another host.
    parts = [part for part in pointer.split("/") if part not in ("", ".")]
    origin = urlsplit(manifest_url)[:2]
    last: FeedError | None = None
    for start in range(len(parts)):
        candidate = urljoin(manifest_url, "/".join(parts[start:]))
        if urlsplit(candidate)[:2] != origin or ".." in parts[start:]:
            continue
        try:
            body = client.get(candidate, {}).body
        except FeedError as exc:
            if exc.status != HTTPStatus.NOT_FOUND:
                raise
            last = exc
            continue
        return candidate, _decode(candidate, body)
    raise FeedError(
        manifest_url,
        f"the events manifest {pointer!r} it points to was not found"
        + (f" ({last.reason})" if last is not None else ""),
    )


def download_events(
    manifest: Manifest,
    events: list[ManifestEvent],
    folder: Path,
    settings: HttpSettings,
) -> tuple[dict[Path, ManifestEvent], dict[str, str]]:
    """Download ``events`` into ``folder``.

    Returns the files written, each with its event, and the reason each
    event that could not be downloaded failed, by uuid.
    """
    written: dict[Path, ManifestEvent] = {}
    failed: dict[str, str] = {}
    with _client(settings) as client:
        for event in events:
            url = manifest.base + event.filename
            try:
                body = client.get(url, {}).body
            except FeedError as exc:
                failed[event.uuid] = str(exc)
                log.error("MISP feed event %s: %s", event.uuid, exc)
                continue
            path = folder / f"{event.uuid}.json"
            path.write_bytes(body)
            written[path] = event
    return written, failed


def _client(settings: HttpSettings) -> FeedHttpClient:
    return FeedHttpClient(
        timeout=settings.timeout,
        max_bytes=settings.max_bytes,
        auth=auth_for(settings.credentials),
        accept="application/json",
    )
