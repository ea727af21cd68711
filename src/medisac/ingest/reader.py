"""Turn paths into documents: files, directories, archives and MISP feeds.

- A file is one document, decompressed on reading when it is gzip, bzip2 or
  xz (see :mod:`medisac.ingest.document`).
- A zip or tar archive (plain or compressed) gives one document per regular
  member, in archive order, named ``archive!member``. Members are streamed
  from the archive and never extracted to disk, so member names with ``..``
  or absolute paths cannot write anywhere. Links, devices and encrypted zip
  members are skipped. An archive inside an archive is not opened, and
  format detection rejects it as binary content.
- A directory gives its files recursively, in sorted order, hidden files
  included. Symbolic links to directories are not followed, so a link loop
  cannot recurse forever.
- A directory that contains a MISP feed ``manifest.json`` (or that manifest
  file itself) gives only the event files the manifest lists. A feed's
  ``hashes.csv`` contains hashes of attribute values, not indicators, so it is
  never read as one.

Each document is capped at ``max_bytes`` of decompressed content when read.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import IO, Any, cast

import orjson

from medisac.errors import IngestError
from medisac.ingest.document import Document

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# Bytes of a manifest read before giving up; a feed of 100,000 events has a
# manifest of about 30 MB.
_MAX_MANIFEST_BYTES = 256 * 1024 * 1024
# Tar members up to this size are read once and kept while they are parsed.
_CACHED_MEMBER_BYTES = 16 * 1024 * 1024


def expand(paths: Iterable[str | Path], max_bytes: int) -> Iterator[Document]:
    """Yield one :class:`Document` per input file or archive member.

    Raises :class:`IngestError` for a path that does not exist or cannot be
    read, and for an archive whose index is corrupt.
    """
    for item in paths:
        text = str(item)
        if "://" in text:
            raise IngestError(
                text, "this is a URL; fetch it with the feed reader, not as a file path"
            )
        path = Path(item)
        if path.is_dir():
            yield from _expand_directory(path, max_bytes)
        elif path.is_file():
            yield from _expand_file(path, max_bytes)
        elif path.exists():
            raise IngestError(text, "not a regular file or directory; give a file path")
        else:
            raise IngestError(text, "no such file or directory; check the path")


def _expand_directory(directory: Path, max_bytes: int) -> Iterator[Document]:
    manifest = directory / MANIFEST
    if manifest.is_file():
        events = feed_events(manifest)
        if events is not None:
            yield from _expand_feed(events, max_bytes)
            return
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        error = IngestError(str(directory), f"cannot list directory: {exc}")
        yield failing_document(error, max_bytes)
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.is_symlink():
            # A link may lead out of the folder an operator pointed at (to
            # /etc, say); it is reported, not followed.
            reason = "symbolic link in a directory is not followed; give its target"
            yield failing_document(IngestError(str(path), reason), max_bytes)
        elif entry.is_dir(follow_symlinks=False):
            yield from _expand_directory(path, max_bytes)
        elif entry.is_file():
            yield from _expand_file(path, max_bytes)


def _expand_feed(events: list[Path], max_bytes: int) -> Iterator[Document]:
    for event in events:
        # A listed event that is missing fails on opening, as its own input.
        yield Document(str(event), partial(_open_file, event), max_bytes)


def _expand_file(path: Path, max_bytes: int) -> Iterator[Document]:
    if path.name == MANIFEST:
        events = feed_events(path)
        if events is not None:
            yield from _expand_feed(events, max_bytes)
            return
    document = Document(str(path), partial(_open_file, path), max_bytes)
    try:
        head = document.read_head(512)
        with path.open("rb") as stream:
            stored_head = stream.read(8)
    except IngestError:
        # The document fails again when it is parsed, as an input of its own.
        yield document
        return
    except OSError as exc:
        error = IngestError(str(path), f"cannot read: {exc.strerror or exc}")
        yield failing_document(error, max_bytes)
        return
    if stored_head.startswith(_ZIP_MAGIC):
        yield from _expand_zip(path, max_bytes)
    elif _is_tar(head):
        yield from _expand_tar(path, max_bytes)
    else:
        yield document


def failing_document(error: IngestError, max_bytes: int) -> Document:
    """Return a document that raises ``error`` when opened.

    A directory walk yields one for an entry it cannot read, so that entry
    fails on its own and the walk goes on.
    """

    def fail() -> IO[bytes]:
        raise error

    return Document(error.origin, fail, max_bytes)


def _open_file(path: Path) -> IO[bytes]:
    return path.open("rb")


def _is_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def member_origin(archive: Path, name: str) -> str:
    """Return the origin of an archive member, with control characters masked."""
    return f"{archive}!{_UNPRINTABLE.sub('?', name)}"


# -- zip ------------------------------------------------------------------------


def _expand_zip(path: Path, max_bytes: int) -> Iterator[Document]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        error = IngestError(str(path), f"cannot read zip archive: {exc}")
        yield failing_document(error, max_bytes)
        return
    for info in members:
        if info.is_dir():
            continue
        origin = member_origin(path, info.filename)
        yield Document(origin, partial(_open_zip_member, path, info, origin), max_bytes)


class _MemberStream:
    """An archive member's stream that also closes the archive it came from."""

    def __init__(
        self, archive: zipfile.ZipFile | tarfile.TarFile, stream: IO[bytes]
    ) -> None:
        self._archive = archive
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._archive.close()


def _open_zip_member(path: Path, info: zipfile.ZipInfo, origin: str) -> IO[bytes]:
    if info.flag_bits & 0x1:
        raise IngestError(origin, "zip member is encrypted; decrypt the archive first")
    archive = zipfile.ZipFile(path)
    try:
        stream = archive.open(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
        archive.close()
        raise IngestError(origin, f"cannot read zip member: {exc}") from exc
    return cast(IO[bytes], _MemberStream(archive, stream))


# -- tar ------------------------------------------------------------------------


class _TarArchive:
    """A tar archive read member by member while the caller parses each one.

    The archive stays open while :func:`_expand_tar` runs, so reading members
    in order costs one pass over a compressed archive. A member is read more
    than once (format detection, then parsing), and going back in a gzip
    stream means decompressing it again from the start, so the last member
    up to :data:`_CACHED_MEMBER_BYTES` is kept in memory. A member opened
    after the expansion reopens the archive for itself.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None
        self._cached_offset = -1
        self._cached = b""

    def open_member(self, info: tarfile.TarInfo, origin: str) -> IO[bytes]:
        if self.tar is None:
            own = self.open_archive(origin)
            stream = self._extract(own, info, origin)
            return cast(IO[bytes], _MemberStream(own, stream))
        if info.size > _CACHED_MEMBER_BYTES:
            return self._extract(self.tar, info, origin)
        if self._cached_offset != info.offset_data:
            self._cached = b""
            with self._extract(self.tar, info, origin) as stream:
                try:
                    self._cached = stream.read()
                except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                    raise IngestError(origin, f"cannot read tar member: {exc}") from exc
            self._cached_offset = info.offset_data
        return io.BytesIO(self._cached)

    def open_archive(self, origin: str) -> tarfile.TarFile:
        try:
            return tarfile.open(self.path, mode="r:*")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise IngestError(origin, f"cannot read tar archive: {exc}") from exc

    @staticmethod
    def _extract(tar: tarfile.TarFile, info: tarfile.TarInfo, origin: str) -> IO[bytes]:
        try:
            stream = tar.extractfile(info)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise IngestError(origin, f"cannot read tar member: {exc}") from exc
        if stream is None:
            raise IngestError(origin, "tar member is not a regular file")
        return stream


def _expand_tar(path: Path, max_bytes: int) -> Iterator[Document]:
    archive = _TarArchive(path)
    try:
        archive.tar = archive.open_archive(str(path))
    except IngestError as error:
        yield failing_document(error, max_bytes)
        return
    try:
        while True:
            try:
                info = archive.tar.next()
            except (tarfile.TarError, OSError, EOFError) as exc:
                # Members before the damage were yielded; the rest are lost.
                damage = IngestError(str(path), f"cannot read tar archive: {exc}")
                yield failing_document(damage, max_bytes)
                break
            if info is None:
                break
            if not info.isreg():
                continue
            origin = member_origin(path, info.name)
            opener = partial(archive.open_member, info, origin)
            yield Document(origin, opener, max_bytes)
    finally:
        archive.tar.close()
        archive.tar = None


# -- MISP feeds -----------------------------------------------------------------


def feed_events(manifest: Path) -> list[Path] | None:
    """Return the event files a MISP feed manifest lists, or None.

    Two layouts are read. MISP's own feed manifest maps each event uuid to
    its summary, and the event is ``<uuid>.json`` beside the manifest. Some
    published feeds instead list ``{"filename": ..., "info": ...}`` entries,
    or point from a top-level ``{"feeds": {"events": path}}`` manifest to
    such a list. Only the file name of a listed path is used, and it is
    looked up beside the manifest that lists it, so a manifest cannot name a
    file outside its folder. Returns None when the file is not a feed
    manifest, so the caller reads the folder as ordinary files.
    """
    data = _load_manifest(manifest)
    if data is None:
        return None
    directory = manifest.parent
    if isinstance(data, dict) and isinstance(data.get("feeds"), dict):
        return _events_from_pointer(directory, data["feeds"].get("events"))
    names = _event_names(data)
    if names is None:
        return None
    return [directory / name for name in names]


def _load_manifest(manifest: Path) -> Any:
    try:
        with manifest.open("rb") as stream:
            content = stream.read(_MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        log.warning(
            "cannot read %s, so it is not read as a feed manifest: %s", manifest, exc
        )
        return None
    if len(content) > _MAX_MANIFEST_BYTES:
        log.warning(
            "%s is too large for a feed manifest; reading it as a file", manifest
        )
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        log.warning(
            "%s is not valid JSON, so it is not read as a feed manifest", manifest
        )
        return None


def _events_from_pointer(directory: Path, pointer: object) -> list[Path] | None:
    if not isinstance(pointer, str):
        return None
    parts = Path(pointer).parts
    # The pointer is relative to the feed's published root, which may sit
    # above this folder: try it, then without each leading folder in turn.
    for start in range(len(parts)):
        candidate = directory.joinpath(*parts[start:])
        inside = candidate.resolve().is_relative_to(directory.resolve())
        if inside and candidate.is_file() and candidate != directory / MANIFEST:
            return feed_events(candidate)
    return None


def _event_names(data: Any) -> list[str] | None:
    if isinstance(data, dict):
        keys = [key for key in data if _UUID.match(key)]
        if (
            not keys
            or len(keys) < len(data)
            or not all(isinstance(data[key], dict) for key in keys)
        ):
            return None
        return [f"{key}.json" for key in sorted(keys)]
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        # Event entries carry the event title; galaxy and cluster lists do not.
        if not all("info" in item for item in data):
            return None
        names = [_listed_name(item) for item in data]
        if any(name is None for name in names):
            return None
        return [name for name in names if name]
    return None


def _listed_name(entry: dict[str, Any]) -> str | None:
    filename = entry.get("filename")
    if isinstance(filename, str) and filename.endswith(".json"):
        return Path(filename.replace("\\", "/")).name
    uuid = entry.get("uuid")
    if isinstance(uuid, str) and _UUID.match(uuid):
        return f"{uuid}.json"
    return None
