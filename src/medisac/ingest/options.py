"""Options every parser takes, and the parser signature."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from medisac.ingest.document import DEFAULT_MAX_LINE_BYTES, Document
from medisac.model import ParseItem


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """Settings of one parse.

    ``max_line_bytes`` is the longest text line read as a record; a longer
    line is rejected by its number. ``csv_delimiter`` overrides delimiter
    sniffing for CSV input.
    """

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    csv_delimiter: str | None = None


Parser = Callable[[Document, ParseOptions], Iterator[ParseItem]]
