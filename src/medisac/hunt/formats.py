"""Log formats: detection, malformed-line checks and reading one line into fields.

A format turns one log line into a :class:`Record`, the line's time and its
(field name, value) pairs, so that a hit names the field it was found in.
The checks in :meth:`LogFormat.malformed` run over a whole block of lines
with regular expressions, so that every line is checked without reading each
one in Python. :func:`detect_format` picks a format from the first lines of
an input.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from medisac.hunt import logtime
from medisac.hunt.wordtable import BlockShape

FORMATS = ("zeek", "zeek-json", "eve", "squid", "csv", "syslog", "jsonl")

# Control characters other than tab, CR and LF: signs of binary data.
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOT_JSON_OBJECT = re.compile(rb"^(?![ \t]*\r?$)(?![ \t]*\{.*\}[ \t]*\r?$).*$", re.M)
_SQUID_LINE = (
    r"[ \t]*\d+(?:\.\d+)?[ \t]+-?\d+[ \t]+\S+[ \t]+\S+/\d+[ \t]+\d+[ \t]+\S+[ \t]+\S+"
)
_NOT_SQUID = re.compile(rf"^(?![ \t]*\r?$)(?!{_SQUID_LINE}).*$".encode(), re.M)
# The look-behind makes a match start only where a key can begin, so a long
# run of word characters without "=" is scanned once, not once per position.
_KEY_VALUE = re.compile(r'(?<![\w.-])([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')

# JSON keys that hold the event time, in order of preference.
# Event times come before "@timestamp", which shippers such as Logstash set
# to the time they read the event.
_TIME_KEYS = (
    "ts",
    "timestamp",
    "UtcTime",
    "EventTime",
    "TimeCreated",
    "@timestamp",
    "time",
    "date",
)
# Squid's native access.log columns.
_SQUID_FIELDS = (
    "time",
    "elapsed",
    "client",
    "result",
    "bytes",
    "method",
    "url",
    "user",
    "hierarchy",
    "type",
)


class MalformedLine(Exception):
    """A line that its format cannot read, with the ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Record:
    """One log line read into fields; ``time`` is in microseconds or None."""

    time: int | None
    fields: list[tuple[str, str]] = field(default_factory=list)


def line_starts(data: bytes, pattern: re.Pattern[bytes]) -> Iterator[int]:
    """Yield the offset of the start of each line where ``pattern`` matches.

    After a match the search goes on from the next line, so a line with many
    matches (a run of binary bytes) is searched once, not once per match.
    """
    line_start = 0
    position = 0
    while (match := pattern.search(data, position)) is not None:
        found = match.start()
        line_start = data.rfind(b"\n", line_start, found) + 1 or line_start
        yield line_start
        end = data.find(b"\n", max(found, match.end() - 1))
        if end < 0:
            return
        position = line_start = end + 1


def split_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (start offset, line without its line break) for each line of a block."""
    start = 0
    for line in data.split(b"\n"):
        yield start, line
        start += len(line) + 1


def _not_utf8(data: bytes) -> Iterator[int]:
    if data.isascii():
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return
    for start, line in split_lines(data):
        if not line.isascii():
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                yield start


class LogFormat:
    """A line-oriented log format; subclasses read fields and check lines."""

    name = "syslog"

    def header(self, line: str) -> bool:
        """Read a header line; return True if ``line`` is one (it has no data)."""
        return False

    def malformed(self, data: bytes, shape: BlockShape | None = None) -> dict[int, str]:
        """Return the malformed lines of a block: line-start offset -> reason.

        ``shape`` is the block's :class:`BlockShape` when the caller has it.
        Most blocks have no control bytes and are ASCII, so the per-line
        checks run only where the shape's counts disagree.
        """
        if shape is None:
            shape = BlockShape.measure(data)
        found: dict[int, str] = {}
        if shape.control:
            found = {start: "binary data" for start in line_starts(data, _BINARY)}
        if shape.non_ascii:
            for start in _not_utf8(data):
                found.setdefault(start, "binary data (not UTF-8)")
        return found

    def record(self, line: str) -> Record:
        """Read one line; raise :class:`MalformedLine` if it cannot be read."""
        return _free_text_record(line)


class SyslogFormat(LogFormat):
    """Syslog, firewall and other text lines: ``key=value`` pairs and words."""


def _free_text_record(line: str) -> Record:
    fields: list[tuple[str, str]] = []
    pairs: dict[str, str] = {}
    rest = []
    position = 0
    for match in _KEY_VALUE.finditer(line):
        rest.append(line[position : match.start()])
        position = match.end()
        key, value = match.group(1), match.group(2)
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1]
        if value:
            fields.append((key, value))
            pairs.setdefault(key.lower(), value)
    rest.append(line[position:])
    text = " ".join(part.strip() for part in rest if part.strip())
    if text:
        fields.append(("message", text))
    time = None
    if "date" in pairs and "time" in pairs:
        time = logtime.from_iso(f"{pairs['date']}T{pairs['time']}")
    if time is None:
        time = logtime.from_text(line)
    return Record(time, fields)


class JsonFormat(LogFormat):
    """One JSON object per line: Zeek JSON, Suricata EVE, Windows events, other."""

    def __init__(self, name: str = "jsonl") -> None:
        self.name = name

    def malformed(self, data: bytes, shape: BlockShape | None = None) -> dict[int, str]:
        found = super().malformed(data, shape)
        if _all_objects(data, shape or BlockShape.measure(data)):
            return found
        for start in line_starts(data, _NOT_JSON_OBJECT):
            found.setdefault(start, "not a JSON object (truncated or invalid)")
        return found

    def record(self, line: str) -> Record:
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise MalformedLine(f"invalid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise MalformedLine("not a JSON object")
        fields: list[tuple[str, str]] = []
        _flatten("", document, fields)
        time = None
        for key in _TIME_KEYS:
            if key in document:
                time = logtime.from_value(document[key])
                if time is not None:
                    break
        return Record(time, fields)


def _all_objects(data: bytes, shape: BlockShape) -> bool:
    """Tell cheaply whether every line starts with "{" and ends with "}".

    Counts from the block's shape are far cheaper than the per-line regular
    expression, which runs only when these counts disagree.
    """
    if not data.endswith(b"\n") or shape.carriage_return or shape.blank_line:
        return False
    lines = shape.newlines
    return (
        data.startswith(b"{")
        and shape.brace_starts == lines - 1
        and shape.brace_ends == lines
    )


def _flatten(prefix: str, value: object, fields: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, fields)
    elif isinstance(value, list):
        for item in value:
            _flatten(prefix, item, fields)
    elif isinstance(value, str):
        if value:
            fields.append((prefix, value))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # Numbers can be addresses or epoch times only in text form; keep the
        # field so a number such as a hash prefix is never lost.
        fields.append((prefix, str(value)))


class ZeekFormat(LogFormat):
    """Zeek TSV logs; the ``#fields`` header names the columns and may change."""

    name = "zeek"

    def __init__(self) -> None:
        self.separator = "\t"
        self.set_separator = ","
        self.unset = "-"
        self.empty = "(empty)"
        self.fields: list[str] = []
        self.set_columns: frozenset[int] = frozenset()
        # Derived from the two above whenever a header line is read.
        self._is_set: list[bool] = []
        self._time_column: int | None = None

    def header(self, line: str) -> bool:
        if not line.startswith("#"):
            return False
        if line.startswith("#separator "):
            self.separator = _unescape(line[len("#separator ") :].strip("\r"))
            return True
        name, _, value = line[1:].rstrip("\r").partition(self.separator)
        if name == "set_separator":
            self.set_separator = value
        elif name == "unset_field":
            self.unset = value
        elif name == "empty_field":
            self.empty = value
        elif name == "fields":
            self.fields = value.split(self.separator)
            self.set_columns = frozenset()
        elif name == "types":
            self.set_columns = frozenset(
                i
                for i, kind in enumerate(value.split(self.separator))
                if kind.startswith(("set[", "vector["))
            )
        self._is_set = [i in self.set_columns for i in range(len(self.fields))]
        self._time_column = self.fields.index("ts") if "ts" in self.fields else None
        return True

    def malformed(self, data: bytes, shape: BlockShape | None = None) -> dict[int, str]:
        found = super().malformed(data, shape)
        expected = len(self.fields) - 1
        if expected < 0:
            return found
        separator = self.separator.encode()
        shape = shape or BlockShape.measure(data)
        lines = shape.newlines + (0 if data.endswith(b"\n") else 1)
        separators = shape.tabs if separator == b"\t" else data.count(separator)
        if separators == expected * lines:
            return found
        # The totals disagree, so some line has the wrong number of columns.
        for start, line in split_lines(data):
            columns = line.count(separator)
            if line.strip() and columns != expected:
                found.setdefault(
                    start,
                    f"{columns + 1} columns; the #fields header names {expected + 1}",
                )
        return found

    def record(self, line: str) -> Record:
        if not self.fields:
            raise MalformedLine("no #fields header before this line")
        values = line.rstrip("\r").split(self.separator)
        if len(values) != len(self.fields):
            raise MalformedLine(
                f"{len(values)} columns; the #fields header names {len(self.fields)}"
            )
        absent = (self.unset, self.empty, "")
        fields: list[tuple[str, str]] = []
        for name, value, is_set in zip(self.fields, values, self._is_set, strict=True):
            if value in absent:
                continue
            if is_set:
                fields.extend((name, item) for item in value.split(self.set_separator))
            else:
                fields.append((name, value))
        time = None
        if self._time_column is not None:
            stamp = values[self._time_column]
            if stamp not in absent:
                time = logtime.from_epoch(stamp)
        return Record(time, fields)


def _unescape(text: str) -> str:
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


class SquidFormat(LogFormat):
    """Squid's native access.log: ten space-separated columns."""

    name = "squid"

    def malformed(self, data: bytes, shape: BlockShape | None = None) -> dict[int, str]:
        found = super().malformed(data, shape)
        for start in line_starts(data, _NOT_SQUID):
            found.setdefault(start, "not a Squid access.log line")
        return found

    def record(self, line: str) -> Record:
        values = line.split()
        if len(values) < 7:
            raise MalformedLine("not a Squid access.log line")
        fields = [
            (name, value)
            for name, value in zip(_SQUID_FIELDS, values, strict=False)
            if value != "-"
        ]
        fields.extend(("extra", value) for value in values[len(_SQUID_FIELDS) :])
        return Record(logtime.from_epoch(values[0]), fields)


class CsvFormat(LogFormat):
    """CSV with a header row; every column is searched."""

    name = "csv"

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.delimiter = ","
        self.time_column: int | None = None

    def header(self, line: str) -> bool:
        if self.columns:
            return False
        self.delimiter = _sniff_delimiter(line)
        self.columns = next(csv.reader([line], delimiter=self.delimiter))
        lowered = [name.strip().lower() for name in self.columns]
        for key in ("timestamp", "@timestamp", "time", "ts", "date", "datetime"):
            if key in lowered:
                self.time_column = lowered.index(key)
                break
        return True

    def malformed(self, data: bytes, shape: BlockShape | None = None) -> dict[int, str]:
        found = super().malformed(data, shape)
        expected = len(self.columns) - 1
        delimiter = self.delimiter.encode()
        for start, raw in split_lines(data):
            if raw.strip() and raw.count(delimiter) != expected:
                line = raw.decode("utf-8", "replace")
                try:
                    columns = len(next(csv.reader([line], delimiter=self.delimiter)))
                except csv.Error:
                    columns = -1
                if columns != expected + 1:
                    found.setdefault(
                        start, f"{columns} columns; the header names {expected + 1}"
                    )
        return found

    def record(self, line: str) -> Record:
        try:
            values = next(csv.reader([line], delimiter=self.delimiter))
        except csv.Error as exc:
            raise MalformedLine(f"invalid CSV: {exc}") from None
        if len(values) != len(self.columns):
            raise MalformedLine(
                f"{len(values)} columns; the header names {len(self.columns)}"
            )
        time = None
        if self.time_column is not None:
            time = logtime.from_value(values[self.time_column].strip())
        fields = [
            (name, value)
            for name, value in zip(self.columns, values, strict=True)
            if value
        ]
        return Record(time, fields)


def _sniff_delimiter(line: str) -> str:
    counts = {delimiter: line.count(delimiter) for delimiter in (",", ";", "\t", "|")}
    return max(counts, key=lambda delimiter: counts[delimiter])


def make_format(name: str) -> LogFormat:
    """Return a fresh reader of the named format (one of :data:`FORMATS`)."""
    if name == "zeek":
        return ZeekFormat()
    if name in ("zeek-json", "eve", "jsonl"):
        return JsonFormat(name)
    if name == "squid":
        return SquidFormat()
    if name == "csv":
        return CsvFormat()
    if name == "syslog":
        return SyslogFormat()
    raise ValueError(f"unknown log format {name!r}; use one of {', '.join(FORMATS)}")


# Keys that, beside "ts", mark a Zeek JSON log (conn, files, x509 and others).
_ZEEK_KEYS = frozenset({"uid", "fuid", "id", "id.orig_h", "id_orig_h", "@stream"})
_CSV_HEADER = re.compile(r"[A-Za-z_@][\w .@-]*")


def detect_format(head: str) -> str:
    """Return the format name of an input whose first lines are ``head``."""
    lines = [line for line in head.split("\n")[:20] if line.strip()]
    if not lines:
        return "syslog"
    first = lines[0].lstrip("\ufeff")
    if first.startswith("#separator") or first.startswith("#fields"):
        return "zeek"
    if first.lstrip().startswith("{"):
        return _json_kind(first)
    if re.match(_SQUID_LINE, first):
        return "squid"
    if _looks_like_csv_header(first, lines[1:]):
        return "csv"
    return "syslog"


def _json_kind(line: str) -> str:
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "jsonl"
    if not isinstance(document, dict):
        return "jsonl"
    if "_path" in document or ("ts" in document and _ZEEK_KEYS & document.keys()):
        return "zeek-json"
    if "event_type" in document and "timestamp" in document:
        return "eve"
    return "jsonl"


def _looks_like_csv_header(first: str, rest: list[str]) -> bool:
    delimiter = _sniff_delimiter(first)
    names = first.split(delimiter)
    if len(names) < 3 or not all(_CSV_HEADER.fullmatch(n.strip('" ')) for n in names):
        return False
    # Most of the next lines must have as many columns as the header.
    sample = rest[:10]
    fitting = sum(_columns(line, delimiter) == len(names) for line in sample)
    return bool(sample) and fitting * 2 > len(sample)


def _columns(line: str, delimiter: str) -> int:
    try:
        return len(next(csv.reader([line], delimiter=delimiter)))
    except csv.Error:
        return -1
