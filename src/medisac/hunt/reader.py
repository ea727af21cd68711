"""Open log inputs (plain, gzip or standard input) and read them in blocks of lines."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Bytes read per block. Large enough that the per-block work (a few regular
# expression scans and set lookups) is small next to the scan itself.
BLOCK_BYTES = 4 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
# Maximum length of a line kept whole; a longer run without a line break is
# split there. Log lines are kilobytes long; a block of this size full of
# host names takes about 0.5 GB to sieve, which bounds a hunt's memory.
MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Block:
    """Whole lines of one input as bytes; ``first_line`` is the first's number."""

    data: bytes
    first_line: int
    # Compressed bytes of the input consumed so far, for progress.
    position: int


@dataclass
class LogInput:
    """An opened input: its name as the user gave it and its size on disk."""

    name: str
    stream: BinaryIO
    size: int | None
    position: Callable[[], int]


@contextmanager
def open_input(name: str) -> Iterator[LogInput]:
    """Open ``name`` ("-" for standard input), reading gzip when it is gzip.

    Raises ``OSError`` when the file cannot be opened.
    """
    if name == "-":
        raw: BinaryIO = sys.stdin.buffer
        size = None
    else:
        raw = Path(name).open("rb")  # noqa: SIM115 - closed below
        size = Path(name).stat().st_size
    try:
        magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        stream: BinaryIO = raw
        if magic == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        position = raw.tell if raw.seekable() else (lambda: 0)
        yield LogInput(name, stream, size, position)
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def blocks(log: LogInput, block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """Yield the input as blocks of whole lines.

    A line longer than :data:`MAX_LINE_BYTES` is cut there, so binary data
    without line breaks cannot fill memory. A gzip stream that ends early
    raises ``EOFError`` or ``OSError`` after the blocks read before the damage.
    """
    carry = b""
    # Reads of a long line without a break, joined once the line ends.
    pending: list[bytes] = []
    pending_bytes = 0
    line = 1
    while True:
        chunk = log.stream.read(block_bytes)
        if not chunk:
            break
        if (
            b"\n" not in chunk
            and pending_bytes + len(carry) + len(chunk) < MAX_LINE_BYTES
        ):
            pending.append(chunk)
            pending_bytes += len(chunk)
            continue
        data = b"".join([carry, *pending, chunk])
        pending, pending_bytes = [], 0
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            data += b"\n"
            cut = len(data)
        carry = data[cut:]
        yield Block(data[:cut], line, log.position())
        line += data.count(b"\n", 0, cut)
    rest = b"".join([carry, *pending])
    if rest:
        yield Block(rest, line, log.position())
