"""CSV indicator files: delimiter sniffing, header roles and typed columns.

The delimiter is one of ``,`` ``;`` TAB ``|``, chosen by which splits the
first lines into the same number of fields (see :func:`sniff_delimiter`).

With a header row, each column gets a role from its name (see
:mod:`medisac.ingest.csvcolumns`):

- a value column (``indicator``, ``value``, ``ioc``, ``data``...) read with
  the type named in the row's type column (``type``, ``indicator_type``...),
  or detected when that cell is empty;
- typed columns (``md5``, ``sha256``, ``domain``, ``url``, ``ip``...) whose
  every cell is a value of that type, so a row of ``md5,sha1,sha256`` gives
  three observations;
- times (``first_seen``, ``date``...), tags, comments, confidence and TLP,
  attached to the row's observations. Times without an offset are UTC.

SophosLabs files name their type column ``Indicator`` and their value
column ``Data``: when two value columns exist and no type column, the one
whose cells are type names is the type column. A row whose type is
``Description`` describes the file and is skipped.

Without a header, a column is a value column when most of its cells in the
first rows have the shape of an indicator. When no column qualifies, every
cell with that shape is a value.

Blank rows and rows starting with ``#`` are skipped silently. Location is
``line N``, the physical line where the row starts, counting the header.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any

from medisac.errors import IngestError
from medisac.export.csvexport import unescape_cell
from medisac.ingest.csvcolumns import Columns, column_key, is_header, plan_columns
from medisac.ingest.document import Document, LongLine
from medisac.ingest.options import ParseOptions
from medisac.ingest.plain import (
    invalid_utf8_warning,
    long_line_rejection,
    looks_like_indicator,
)
from medisac.ingest.times import parse_time
from medisac.ingest.vocab import declared_type, known_type
from medisac.model import (
    TLP,
    Observation,
    ParseItem,
    ParseWarning,
    Rejection,
    Skipped,
)

DELIMITERS = (",", ";", "\t", "|")
# A row's line number and stripped cells, or the rejection of an unreadable row.
_Row = tuple[int, list[str]] | Rejection | ParseWarning
# to_ids cells that mark a value as context only, as MISP's CSV export writes.
_FALSE = frozenset({"0", "false", "no", "n"})
# Rows read before the column roles are decided.
_SAMPLE_ROWS = 50


def sniff_delimiter(lines: list[str]) -> tuple[str, float, int]:
    """Pick the delimiter that splits ``lines`` most consistently.

    Returns the delimiter, the share of lines that have the most common
    field count, and that count. Blank lines and ``#`` comments are ignored.
    The standard ``csv.Sniffer`` is not used, because it also guesses quote
    characters and rejects one-column files with an error.
    """
    sample = [line for line in lines if line.strip() and not line.startswith("#")]
    best = (",", 0.0, 1)
    for delimiter in DELIMITERS:
        counts: dict[int, int] = {}
        try:
            for row in csv.reader(sample, delimiter=delimiter):
                counts[len(row)] = counts.get(len(row), 0) + 1
        except csv.Error:
            continue
        if not counts:
            continue
        width, hits = max(counts.items(), key=lambda item: (item[1], item[0]))
        share = hits / len(sample)
        if width >= 2 and (share, width) > best[1:]:
            best = (delimiter, share, width)
    return best


def parse_csv(document: Document, options: ParseOptions) -> Iterator[ParseItem]:
    """Yield observations from a CSV document; see the module docstring.

    Raises :class:`IngestError` only when the document cannot be read.
    """
    lines = document.text_lines(options.max_line_bytes)
    # Rows read before a read error are parsed and yielded before the error.
    guarded = _Guarded(lines)
    head = list(islice(guarded, _SAMPLE_ROWS))
    delimiter = options.csv_delimiter or sniff_delimiter([text for _, text in head])[0]
    feed = _LineFeed(chain(head, guarded))
    rows: Iterator[_Row] = iter(_Rows(feed, delimiter))
    yield from _parse_rows(rows)
    if lines.first_invalid_line is not None:
        yield invalid_utf8_warning(lines.first_invalid_line)
    if guarded.error is not None:
        raise guarded.error


class _Guarded:
    """Lines that end at the first read error, which is kept to raise later."""

    def __init__(self, lines: Iterator[tuple[int, str]]) -> None:
        self._lines = lines
        self.error: IngestError | None = None

    def __iter__(self) -> _Guarded:
        return self

    def __next__(self) -> tuple[int, str]:
        if self.error is not None:
            raise StopIteration
        try:
            return next(self._lines)
        except IngestError as exc:
            self.error = exc
            raise StopIteration from exc


def _parse_rows(rows: Iterator[_Row]) -> Iterator[ParseItem]:
    # The first rows decide the column roles, then all rows are read in order.
    sample: list[_Row] = []
    header: list[str] | None = None
    for item in rows:
        first = isinstance(item, tuple) and header is None and not sample
        if first and isinstance(item, tuple) and is_header(item[1]):
            header = item[1]
            continue
        sample.append(item)
        if len(sample) >= _SAMPLE_ROWS:
            break
    cells = [item[1] for item in sample if isinstance(item, tuple)]
    reader = _RowReader(plan_columns(header, cells))
    for item in chain(sample, rows):
        if isinstance(item, tuple):
            yield from reader.read(*item)
        else:
            yield item
    yield from reader.warnings()


class _LineFeed:
    """Lines for ``csv.reader``, remembering the number of the last one."""

    def __init__(self, lines: Iterator[tuple[int, str]]) -> None:
        self._lines = lines
        self.last = 0
        # Number of the first line read for the current row. Blank lines may
        # never reach the feed, so it is not always one past the last row.
        self.row_start: int | None = None
        self.long: list[tuple[int, LongLine]] = []

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        number, text = next(self._lines)
        self.last = number
        if self.row_start is None:
            self.row_start = number
        if type(text) is LongLine:
            self.long.append((number, text))
            return "\n"
        return text + "\n"


class _Rows:
    """Non-blank CSV rows as ``(line number, stripped cells)``, or rejections."""

    def __init__(self, feed: _LineFeed, delimiter: str) -> None:
        self._feed = feed
        self._reader = csv.reader(feed, delimiter=delimiter, strict=False)
        self._delimiter = delimiter

    def __iter__(self) -> Iterator[_Row]:
        while True:
            self._feed.row_start = None
            try:
                row = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                first = self._feed.row_start or self._feed.last
                yield Rejection(f"line {first}", f"unreadable CSV row: {exc}")
                continue
            start = self._feed.row_start or self._feed.last
            for number, line in self._feed.long:
                yield long_line_rejection(number, line)
            self._feed.long.clear()
            if self._feed.last > start and self._swallowed_rows(row):
                yield ParseWarning(
                    f"line {start}",
                    f"a quoted cell runs from line {start} to line "
                    f"{self._feed.last} over lines that look like rows; "
                    "check for an unclosed quote, since those rows were not read",
                )
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            yield start, cells

    def _swallowed_rows(self, row: list[str]) -> bool:
        """Tell whether a multi-line cell holds lines with the delimiter."""
        return any(
            self._delimiter in line
            for cell in row
            if "\n" in cell
            for line in cell.split("\n")[1:]
        )


@dataclass
class _RowReader:
    """Turns rows into parse items by the planned column roles."""

    columns: Columns
    bad_times: dict[str, tuple[int, str]] = field(default_factory=dict)
    bad_time_counts: dict[str, int] = field(default_factory=dict)

    def read(self, number: int, cells: list[str]) -> Iterator[ParseItem]:
        location = f"line {number}"
        columns = self.columns
        if columns.headerless_all:
            for cell in cells:
                if looks_like_indicator(cell):
                    yield Observation(cell, location)
            return
        common = self._common(number, cells)
        if columns.value is not None:
            yield from self._typed_value(location, cells, common)
        for index, kind in columns.typed:
            cell = _cell(cells, index)
            if cell:
                declared = declared_type(kind, cell) if known_type(kind) else None
                yield _observation(cell, location, declared, common)

    def _typed_value(
        self, location: str, cells: list[str], common: dict[str, Any]
    ) -> Iterator[ParseItem]:
        assert self.columns.value is not None
        value = _cell(cells, self.columns.value)
        kind = _cell(cells, self.columns.type) if self.columns.type is not None else ""
        if column_key(kind) == "description":
            yield Skipped("csv:description", location, "row describes the file")
            return
        if not value:
            return
        if not kind:
            yield _observation(value, location, None, common)
        elif known_type(kind):
            yield _observation(value, location, declared_type(kind, value), common)
        else:
            name = kind.strip().lower()
            yield Skipped(
                f"csv:{name}", location, f"type {kind!r} is not an indicator type"
            )

    def _common(self, number: int, cells: list[str]) -> dict[str, Any]:
        columns = self.columns
        common: dict[str, Any] = {}
        common["first_seen"] = self._time(columns.first_seen, cells, number)
        common["last_seen"] = self._time(columns.last_seen, cells, number)
        tags: list[str] = []
        for index, prefix in columns.tags:
            tags.extend(_tags(_cell(cells, index), prefix))
        common["tags"] = tuple(dict.fromkeys(tags))
        context = {}
        for index, name in columns.context:
            text = _cell(cells, index)
            if text:
                context[name] = text
        common["context"] = context
        common["confidence"] = _confidence(_cell(cells, columns.confidence))
        common["tlp"] = _tlp(_cell(cells, columns.tlp))
        common["to_ids"] = _cell(cells, columns.to_ids).lower() not in _FALSE
        return common

    def _time(self, index: int | None, cells: list[str], number: int) -> Any:
        text = _cell(cells, index)
        if not text or index is None:
            return None
        moment = parse_time(text)
        if moment is None:
            name = self.columns.names[index]
            self.bad_times.setdefault(name, (number, text))
            self.bad_time_counts[name] = self.bad_time_counts.get(name, 0) + 1
        return moment

    def warnings(self) -> Iterator[ParseWarning]:
        for name, (number, text) in self.bad_times.items():
            count = self.bad_time_counts[name]
            yield ParseWarning(
                f"line {number}",
                f"column {name!r}: {count} value(s) are not dates or times "
                f"(first: {text[:40]!r}), so those rows have no seen time",
            )


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    # Spreadsheet-safe exports, medisac's among them, put ' before a cell
    # that a spreadsheet would run as a formula; the value is without it.
    return unescape_cell(cells[index])


def _observation(
    value: str, location: str, declared: str | None, common: dict[str, Any]
) -> Observation:
    return Observation(
        value,
        location,
        declared,
        first_seen=common["first_seen"],
        last_seen=common["last_seen"],
        confidence=common["confidence"],
        tlp=common["tlp"],
        tags=common["tags"],
        context=dict(common["context"]),
        to_ids=common["to_ids"],
    )


def _tags(text: str, prefix: str) -> list[str]:
    if not text:
        return []
    if prefix:
        return [f"{prefix}:{text}"]
    parts = text.replace(";", ",").replace("|", ",").split(",")
    return [part.strip() for part in parts if part.strip()]


def _confidence(text: str) -> int | None:
    try:
        number = float(text.rstrip("%"))
    except ValueError:
        return None
    if 0 <= number <= 100:
        return round(number)
    return None


def _tlp(text: str) -> TLP | None:
    if not text:
        return None
    try:
        return TLP.parse(text)
    except ValueError:
        return None
