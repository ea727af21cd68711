"""The hunt: match every line of a log against an :class:`~medisac.hunt.index.Index`.

A block of lines is scanned in two steps. First the
:class:`~medisac.hunt.sieve.Sieve` splits the whole block into words and
looks up each distinct word once. Most lines contain no word that matches,
and nothing else is done with them. Second, only the lines that contain a
matching word are read by their format into fields, and each field is
matched on its own. That step decides the hit, the field it is in and the
line's time.

Malformed lines (wrong column count, a line that is no JSON object, binary
data) are found over the whole block, counted and skipped.
"""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from medisac.hunt import tokens
from medisac.hunt.formats import (
    LogFormat,
    MalformedLine,
    Record,
    detect_format,
    make_format,
)
from medisac.hunt.index import Index, IndicatorInfo, Match
from medisac.hunt.reader import Block, LogInput, blocks
from medisac.hunt.sieve import Sieve
from medisac.hunt.tokens import Candidate

log = logging.getLogger(__name__)

# Malformed lines listed by file and line in the summary; the rest are counted.
MALFORMED_EXAMPLES = 20

# Field pairs that together give a URL: Zeek http.log and Suricata EVE http.
_URL_PARTS = (("host", "uri"), ("http.hostname", "http.url"))


@dataclass(frozen=True, slots=True)
class Hit:
    """One log line that contains an indicator.

    ``time`` is the line's time in microseconds, or None when the line has
    none. ``value`` is the log value in canonical form. ``known`` is
    True when the indicator was known at that time (``first_seen <= time``),
    False when it was not, and None when the line or the indicator has no time.
    """

    source: str
    line: int
    time: int | None
    field: str
    value: str
    how: str
    indicator: IndicatorInfo
    known: bool | None


@dataclass
class HuntStats:
    """Counts of one hunt over all its inputs."""

    inputs: int = 0
    lines: int = 0
    bytes: int = 0
    hits: int = 0
    hit_lines: int = 0
    before_since: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    malformed_examples: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def malformed_lines(self) -> int:
        """Return the number of lines skipped as malformed."""
        return sum(self.malformed.values())


Progress = Callable[[int], None]


class Hunter:
    """Run a hunt with one index over any number of inputs."""

    def __init__(
        self, index: Index, *, since: int | None = None, fmt: str = "auto"
    ) -> None:
        self.index = index
        self.since = since
        self.fmt = fmt
        self.stats = HuntStats()
        self.sieve = Sieve(index)

    def hunt(
        self, log_input: LogInput, progress: Progress | None = None
    ) -> Iterator[Hit]:
        """Yield the hits of one input in line order; count its lines and problems.

        A read error (a damaged gzip stream) ends this input: it is listed in
        :attr:`HuntStats.failed` with what was read before, and the hunt goes on.
        """
        self.stats.inputs += 1
        reader: LogFormat | None = None
        try:
            for block in blocks(log_input):
                if reader is None:
                    reader = self._reader(block.data)
                yield from self._block(log_input.name, reader, block)
                self.stats.bytes += len(block.data)
                if progress is not None:
                    progress(block.position)
        except (OSError, EOFError, zlib.error) as exc:
            self.stats.failed.append(f"{log_input.name}: {exc}")
            log.warning("reading %s failed: %s", log_input.name, exc)

    def _reader(self, data: bytes) -> LogFormat:
        name = self.fmt
        if name == "auto":
            name = detect_format(data[:65536].decode("utf-8", "replace"))
        self.stats.formats[name] += 1
        return make_format(name)

    def _block(self, source: str, reader: LogFormat, block: Block) -> Iterator[Hit]:
        data = block.data
        if not data.endswith(b"\n"):
            self.stats.lines += 1
        for start, end, first in _segments(reader, data, block.first_line):
            if start == end:
                # The end of a header line, which no segment holds.
                self.stats.lines += 1
                continue
            yield from self._segment(source, reader, data[start:end], first)

    def _segment(
        self, source: str, reader: LogFormat, data: bytes, first_line: int
    ) -> Iterator[Hit]:
        lines, shape = self.sieve.candidate_lines(data)
        self.stats.lines += shape.newlines
        bad = reader.malformed(data, shape)
        # Line numbers are counted on from the previous malformed line, so a
        # block of many malformed lines is read once, not once per line.
        number, counted_to = first_line, 0
        for start, reason in sorted(bad.items()):
            number += data.count(b"\n", counted_to, start)
            counted_to = start
            self._count_malformed(source, number, reason)
        for start in sorted(lines):
            if start in bad:
                continue
            index, needles = lines[start]
            end = data.find(b"\n", start)
            raw = data[start : len(data) if end < 0 else end]
            line = raw.decode("utf-8", "surrogateescape").rstrip("\r")
            yield from self._line(source, reader, line, first_line + index, needles)

    def _line(
        self,
        source: str,
        reader: LogFormat,
        line: str,
        number: int,
        needles: frozenset[str] | None,
    ) -> Iterator[Hit]:
        try:
            record = reader.record(line)
        except MalformedLine as exc:
            self._count_malformed(source, number, exc.reason)
            return
        hits = list(self._record_hits(source, record, number, needles))
        if not hits:
            return
        if (
            self.since is not None
            and record.time is not None
            and record.time < self.since
        ):
            self.stats.before_since += 1
            return
        self.stats.hit_lines += 1
        self.stats.hits += len(hits)
        yield from hits

    def _record_hits(
        self,
        source: str,
        record: Record,
        number: int,
        needles: frozenset[str] | None,
    ) -> Iterator[Hit]:
        seen: set[tuple[int, str]] = set()
        for name, candidate in _field_candidates(record, needles):
            for match in self._lookup(candidate):
                if (match.slot, name) in seen:
                    continue
                seen.add((match.slot, name))
                info = self.index.info(match.slot)
                known = None
                if record.time is not None and info.first_seen:
                    known = info.first_seen <= record.time
                yield Hit(
                    source,
                    number,
                    record.time,
                    name,
                    candidate.text,
                    match.how,
                    info,
                    known,
                )

    def _lookup(self, candidate: Candidate) -> list[Match]:
        index = self.index
        if candidate.kind == "ip":
            return index.match_ip(candidate.number, candidate.version, candidate.text)
        if candidate.kind == "domain":
            return index.match_domain(candidate.text)
        if candidate.kind == "url":
            return index.match_url(candidate.text)
        return index.match_hash(candidate.text)

    def _count_malformed(self, source: str, number: int, reason: str) -> None:
        self.stats.malformed[reason.split(";")[0]] += 1
        if len(self.stats.malformed_examples) < MALFORMED_EXAMPLES:
            self.stats.malformed_examples.append(f"{source}, line {number}: {reason}")


def _segments(
    reader: LogFormat, data: bytes, first_line: int
) -> Iterator[tuple[int, int, int]]:
    """Split a block at header lines, read them, and yield its data segments.

    Each segment is (start offset, end offset, number of its first line). A
    header is read only after the segment before it has been consumed, so
    each segment is matched under the header that precedes it. After each
    header line that ends in a line break, an empty segment at that break
    lets the caller count the line. Zeek files may carry a new header
    anywhere; a CSV file has one, on its first line.
    """
    if reader.name == "zeek":
        headers = _comment_lines(data)
    elif reader.name == "csv" and first_line == 1:
        end = data.find(b"\n")
        headers = [(0, len(data) if end < 0 else end)]
    else:
        headers = []
    start, line = 0, first_line
    for header_start, header_end in headers:
        if header_start > start:
            yield start, header_start, line
        line += data.count(b"\n", start, header_start)
        header = data[header_start:header_end].decode("utf-8", "replace")
        reader.header(header.rstrip("\r"))
        if header_end < len(data):
            yield header_end, header_end, line
        start, line = header_end + 1, line + 1
    if start < len(data):
        yield start, len(data), line


def _comment_lines(data: bytes) -> list[tuple[int, int]]:
    """Return (start, end) of each line that starts with "#", without its break."""
    found: list[tuple[int, int]] = []
    if data.startswith(b"#"):
        start = 0
    else:
        start = data.find(b"\n#") + 1
        if start == 0:
            return found
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            found.append((start, len(data)))
            return found
        found.append((start, end))
        start = data.find(b"\n#", end) + 1
        if start == 0:
            return found


def _field_candidates(
    record: Record, needles: frozenset[str] | None
) -> Iterator[tuple[str, Candidate]]:
    """Yield the candidates of the fields that hold a needle (all if None)."""
    fields = record.fields
    if needles is not None:
        fields = _fields_holding(fields, needles)
    values = dict(record.fields)
    for host_field, uri_field in _URL_PARTS:
        host, uri = values.get(host_field), values.get(uri_field)
        if host and uri and uri.startswith("/") and (host_field, host) in fields:
            url = tokens.url_candidate(f"http://{host}{uri}")
            if url is not None:
                yield f"{host_field}+{uri_field}", url
    for name, value in fields:
        for candidate in tokens.candidates(value):
            yield name, candidate


def _fields_holding(
    fields: list[tuple[str, str]], needles: frozenset[str]
) -> list[tuple[str, str]]:
    """Return the fields whose value contains one of the lower-case needles."""
    # A field needs lowering only for a needle with letters; addresses, the
    # most common needles, have none. One needle, the usual case, skips the
    # inner loop.
    lower = any(needle.islower() for needle in needles)
    if len(needles) == 1:
        (needle,) = needles
        if lower:
            return [(n, v) for n, v in fields if needle in v.lower()]
        return [(n, v) for n, v in fields if needle in v]
    if lower:
        return [(n, v) for n, v in fields if _holds_any(v.lower(), needles)]
    return [(n, v) for n, v in fields if _holds_any(v, needles)]


def _holds_any(value: str, needles: frozenset[str]) -> bool:
    return any(needle in value for needle in needles)
