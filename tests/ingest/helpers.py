"""Helpers shared by the ingest tests: documents from bytes, and parsing."""

from __future__ import annotations

import io
from pathlib import Path

from medisac.ingest.detect import PARSERS, detect_format
from medisac.ingest.document import Document
from medisac.ingest.options import ParseOptions
from medisac.ingest.reader import expand
from medisac.model import Observation, ParseItem, ParseWarning, Rejection, Skipped

MAX_BYTES = 256 * 1024 * 1024


def memory_document(
    content: bytes, origin: str = "memory.txt", max_bytes: int = MAX_BYTES
) -> Document:
    """Return a document that reads ``content`` from memory."""
    return Document(origin, lambda: io.BytesIO(content), max_bytes)


def parse_document(document: Document, fmt: str | None = None) -> list[ParseItem]:
    """Detect the format unless given, and return every parse item."""
    name = fmt or detect_format(document)
    return list(PARSERS[name](document, ParseOptions()))


def parse_path(path: Path, fmt: str | None = None) -> list[ParseItem]:
    """Expand one path and return the parse items of its single document."""
    documents = list(expand([path], MAX_BYTES))
    assert len(documents) == 1, [d.origin for d in documents]
    return parse_document(documents[0], fmt)


def parse_bytes(
    content: bytes, fmt: str | None = None, origin: str = "memory"
) -> list[ParseItem]:
    """Parse ``content`` held in memory."""
    return parse_document(memory_document(content, origin), fmt)


def observations(items: list[ParseItem]) -> list[Observation]:
    """The observations among parse items."""
    return [item for item in items if isinstance(item, Observation)]


def rejections(items: list[ParseItem]) -> list[Rejection]:
    """The rejections among parse items."""
    return [item for item in items if isinstance(item, Rejection)]


def skipped(items: list[ParseItem]) -> list[Skipped]:
    """The skipped objects among parse items."""
    return [item for item in items if isinstance(item, Skipped)]


def warnings(items: list[ParseItem]) -> list[ParseWarning]:
    """The warnings among parse items."""
    return [item for item in items if isinstance(item, ParseWarning)]


def values(items: list[ParseItem]) -> dict[str, str | None]:
    """Map each observed value to its declared type."""
    return {obs.value: obs.type for obs in observations(items)}


def by_value(items: list[ParseItem], value: str) -> Observation:
    """Return the one observation of ``value``."""
    found = [obs for obs in observations(items) if obs.value == value]
    assert len(found) == 1, found
    return found[0]
