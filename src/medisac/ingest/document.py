"""One input to parse: a file, an archive member or a fetched body.

A :class:`Document` is opened as a stream of decompressed bytes. Every stream
counts the bytes it has produced and raises :class:`InputTooLarge` as soon as
the count passes the document's ``max_bytes``. Compression is detected from the
first bytes (gzip, bzip2, xz), so a ``.gz`` member of a tar archive is read
decompressed too. Nothing is decompressed ahead of the reader, so a small file
that expands to gigabytes costs at most ``max_bytes`` of reading and one
chunk of memory.

Text is read line by line with :meth:`Document.text_lines`. A line longer than
the line limit is never held in memory in full: the reader keeps its first
characters, skips the rest up to the next line end, and yields a
:class:`LongLine` that parsers turn into a rejection of that line.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, cast

from medisac.errors import IngestError, InputTooLarge
from medisac.settings import DEFAULT_MAX_INPUT_BYTES

# Opens the stored bytes of a document, still compressed if they are.
Opener = Callable[[], IO[bytes]]

# Lines longer than this (in bytes, without the line end) become a LongLine.
# No indicator comes near it, and it bounds the memory one line can take.
DEFAULT_MAX_LINE_BYTES = 1024 * 1024

# Bytes read from the decompressed stream per step of text_lines.
_CHUNK = 256 * 1024
# Characters of an over-long line kept to show in its rejection.
_PREVIEW_CHARS = 120

_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"


def compression_of(head: bytes) -> str | None:
    """Return ``gzip``, ``bz2`` or ``xz`` when ``head`` starts with that magic."""
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_BZIP2_MAGIC) and head[3:4].isdigit():
        return "bz2"
    if head.startswith(_XZ_MAGIC):
        return "xz"
    return None


class LongLine(str):
    """A line over the line limit: its first characters, and its full size.

    ``size`` is the length of the whole line in bytes. Parsers reject such a
    line by its number instead of reading it as a value.
    """

    size: int

    def __new__(cls, preview: str, size: int) -> LongLine:
        line = super().__new__(cls, preview)
        line.size = size
        return line


@dataclass(eq=False)
class Document:
    """One input to parse, named by ``origin`` in every message about it.

    ``origin`` is a path, ``archive.tar.gz!member/name`` for an archive
    member, or a URL. ``opener`` returns the stored (possibly compressed)
    bytes and may be called more than once.
    """

    origin: str
    opener: Opener = field(repr=False)
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES

    def open(self) -> BinaryIO:
        """Open the decompressed content as a buffered binary stream.

        Raises :class:`IngestError` when the input cannot be opened, and,
        while reading, :class:`InputTooLarge` past ``max_bytes`` and
        :class:`IngestError` for corrupt compressed data.
        """
        return self.open_reader()

    def open_reader(self) -> io.BufferedReader:
        """Open the content as :meth:`open` does, typed as a buffered reader.

        Its ``read1`` returns what one read of the source produced, so bytes
        read before an error reach the caller before the error does.
        """
        try:
            raw = self.opener()
        except IngestError:
            raise
        except OSError as exc:
            raise IngestError(
                self.origin, f"cannot open: {exc.strerror or exc}"
            ) from exc
        return io.BufferedReader(
            _CappedStream(raw, self.origin, self.max_bytes), _CHUNK
        )

    def read_bytes(self) -> bytes:
        """Return the whole decompressed content; raise as :meth:`open` does."""
        with self.open() as stream:
            return stream.read()

    def read_head(self, size: int) -> bytes:
        """Return up to ``size`` bytes from the start of the decompressed content."""
        with self.open() as stream:
            return stream.read(size)

    def text_lines(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> TextLines:
        """Iterate over ``(line number, text)`` pairs; see :class:`TextLines`."""
        return TextLines(self, max_line_bytes)


class TextLines(Iterator[tuple[int, str]]):
    """The lines of a document as text, numbered from 1.

    Lines are split on ``\\n`` only, and a ``\\r`` before it is removed, so line
    numbers match what an editor shows for LF and CRLF files. A document whose
    first block holds ``\\r`` but no ``\\n`` has classic Mac OS line ends, and
    is split on ``\\r`` instead. A UTF-8 byte order mark at the start is
    removed. Bytes that are not valid UTF-8 are replaced with U+FFFD, and
    ``first_invalid_line`` records the first line where that happened. A line
    over ``max_line_bytes`` is yielded as a :class:`LongLine`.

    Every parser skips blank lines, so a read block of up to 256 KiB that
    contains nothing but whitespace yields no lines, though the lines in it are
    still counted. That keeps a file of a billion empty lines from costing a
    Python step per line.
    """

    def __init__(self, document: Document, max_line_bytes: int) -> None:
        self.document = document
        self.max_line_bytes = max_line_bytes
        self.first_invalid_line: int | None = None
        self._end = b"\n"
        self._lines = self._generate()

    def __next__(self) -> tuple[int, str]:
        return next(self._lines)

    def __iter__(self) -> TextLines:
        return self

    def _generate(self) -> Generator[tuple[int, str], None, None]:
        number = 0
        pending = b""
        first = True
        with self.document.open_reader() as stream:
            while True:
                chunk = stream.read1(_CHUNK)
                if not chunk:
                    break
                if first:
                    chunk = chunk.removeprefix(codecs.BOM_UTF8)
                    if b"\n" not in chunk and b"\r" in chunk:
                        self._end = b"\r"
                    first = False
                data = pending + chunk if pending else chunk
                cut = data.rfind(self._end)
                if cut < 0:
                    if len(data) > self.max_line_bytes:
                        number += 1
                        pending = yield from self._skip_long(stream, number, data)
                    else:
                        pending = data
                    continue
                pending = data[cut + 1 :]
                block = data[:cut]
                if _only_whitespace(block):
                    number += block.count(self._end) + 1
                    continue
                for line in self._decode(block, number).split(self._end.decode()):
                    number += 1
                    yield number, self._checked(line)
        if pending:
            # After an over-long line, the rest of its chunk may hold lines.
            tail = self._decode(pending, number).split(self._end.decode())
            if not tail[-1]:
                tail.pop()
            for line in tail:
                number += 1
                yield number, self._checked(line)

    def _checked(self, line: str) -> str:
        if line.endswith("\r"):
            line = line[:-1]
        # A character is at most 4 bytes, so only long strings need encoding.
        if len(line) * 4 > self.max_line_bytes:
            size = len(line.encode("utf-8", "surrogatepass"))
            if size > self.max_line_bytes:
                return LongLine(line[:_PREVIEW_CHARS], size)
        return line

    def _skip_long(
        self, stream: io.BufferedReader, number: int, data: bytes
    ) -> Generator[tuple[int, str], None, bytes]:
        """Read past the rest of an over-long line, keeping only its size.

        Yields the :class:`LongLine` and returns the bytes after its line end.
        """
        preview = self._decode(data[: _PREVIEW_CHARS * 4], number)[:_PREVIEW_CHARS]
        size = len(data)
        previous = data[-1:]
        rest = b""
        while True:
            chunk = stream.read1(_CHUNK)
            if not chunk:
                break
            cut = chunk.find(self._end)
            if cut >= 0:
                size += cut
                rest = chunk[cut + 1 :]
                before = chunk[cut - 1 : cut] if cut else previous
                if before == b"\r":
                    size -= 1
                break
            size += len(chunk)
            previous = chunk[-1:]
        yield number, LongLine(preview, size)
        return rest

    def _decode(self, data: bytes, lines_before: int) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if self.first_invalid_line is None:
                self.first_invalid_line = (
                    lines_before + data.count(self._end, 0, exc.start) + 1
                )
            return data.decode("utf-8", "replace")


def _only_whitespace(block: bytes) -> bool:
    # The end bytes are checked first, so a normal block is not copied.
    return block[:1].isspace() and block[-1:].isspace() and not block.strip()


class _CappedStream(io.RawIOBase):
    """Decompress (when needed) and count bytes, raising past the limit."""

    def __init__(self, raw: IO[bytes], origin: str, limit: int) -> None:
        super().__init__()
        self._raw = raw
        self._origin = origin
        self._limit = limit
        self._count = 0
        self._inner = self._decompressing(raw)

    def _decompressing(self, raw: IO[bytes]) -> IO[bytes]:
        buffered: Any = (
            raw if hasattr(raw, "peek") else io.BufferedReader(cast(Any, raw))
        )
        try:
            head = buffered.peek(8)[:8]
        except OSError as exc:
            raise IngestError(self._origin, f"cannot read: {exc}") from exc
        kind = compression_of(head)
        if kind == "gzip":
            return cast(IO[bytes], gzip.GzipFile(fileobj=buffered, mode="rb"))
        if kind == "bz2":
            return cast(IO[bytes], bz2.BZ2File(buffered, mode="rb"))
        if kind == "xz":
            return cast(IO[bytes], lzma.LZMAFile(buffered, mode="rb"))
        return cast(IO[bytes], buffered)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        # Bytes up to the limit are served even to read-ahead. Only a request
        # past the limit probes for one more byte, and that byte is the error.
        if self._count >= self._limit:
            if self._read(1):
                raise InputTooLarge(self._origin, self._limit, self._limit + 1)
            return 0
        data = self._read(min(len(buffer), self._limit - self._count))
        size = len(data)
        buffer[:size] = data
        self._count += size
        return size

    def _read(self, size: int) -> bytes:
        try:
            return self._inner.read(size)
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            raise IngestError(
                self._origin,
                f"corrupt or truncated compressed data: {exc}",
                f"after {self._count:,} decompressed bytes",
            ) from exc

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                self._raw.close()
        super().close()
