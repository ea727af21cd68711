"""Write hunt hits as JSON lines, CSV or a Rich table, and sum them per indicator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson
from rich.console import Console
from rich.table import Table

from medisac.export.csvexport import format_row
from medisac.hunt.scan import Hit, HuntStats
from medisac.model.time import format_rfc3339

OUTPUTS = ("table", "json", "csv")

CSV_COLUMNS = (
    "source",
    "line",
    "time",
    "field",
    "value",
    "match",
    "indicator_id",
    "indicator_type",
    "indicator_value",
    "confidence",
    "tlp",
    "tags",
    "known_at_time",
)

# Hit rows a table shows; the summary per indicator still counts every hit.
TABLE_ROWS = 1_000


def _time(micros: int | None) -> str | None:
    return None if micros is None else format_rfc3339(micros)


def hit_document(hit: Hit) -> dict[str, Any]:
    """Return the JSON object of one hit, as ``--output json`` writes it."""
    info = hit.indicator
    return {
        "source": hit.source,
        "line": hit.line,
        "time": _time(hit.time),
        "field": hit.field,
        "value": hit.value,
        "match": hit.how,
        "indicator": {
            "id": info.id,
            "type": info.type,
            "value": info.value,
            "confidence": info.confidence,
            "tlp": info.tlp.label,
            "tags": list(info.tags),
            "first_seen": _time(info.first_seen) if info.first_seen else None,
        },
        "known_at_time": hit.known,
    }


def _known(known: bool | None) -> str:
    if known is None:
        return ""
    return "yes" if known else "no"


def hit_row(hit: Hit) -> list[str]:
    """Return the cells of one hit in the order of :data:`CSV_COLUMNS`."""
    info = hit.indicator
    return [
        hit.source,
        str(hit.line),
        _time(hit.time) or "",
        hit.field,
        hit.value,
        hit.how,
        str(info.id),
        info.type,
        info.value or "",
        str(info.confidence),
        info.tlp.label,
        ";".join(info.tags),
        _known(hit.known),
    ]


@dataclass
class IndicatorSummary:
    """The hits of one indicator: how many, on how many lines, and when."""

    hit: Hit
    hits: int = 0
    lines: set[tuple[str, int]] = field(default_factory=set)
    first_time: int | None = None
    last_time: int | None = None

    def add(self, hit: Hit) -> None:
        """Count one more hit of this indicator."""
        self.hits += 1
        self.lines.add((hit.source, hit.line))
        if hit.time is not None:
            if self.first_time is None or hit.time < self.first_time:
                self.first_time = hit.time
            if self.last_time is None or hit.time > self.last_time:
                self.last_time = hit.time


class HitWriter:
    """Write hits as they are found, and keep the summary per indicator."""

    def __init__(self, output: str, stream: TextIO, console: Console) -> None:
        if output not in OUTPUTS:
            raise ValueError(
                f"unknown output {output!r}; use one of {', '.join(OUTPUTS)}"
            )
        self.output = output
        self.stream = stream
        self.console = console
        self.summaries: dict[int, IndicatorSummary] = {}
        self._rows: list[Hit] = []
        if output == "csv":
            stream.write(format_row(CSV_COLUMNS))

    def write(self, hit: Hit) -> None:
        """Write or keep one hit, and count it for its indicator."""
        summary = self.summaries.get(hit.indicator.id)
        if summary is None:
            summary = self.summaries[hit.indicator.id] = IndicatorSummary(hit)
        summary.add(hit)
        if self.output == "json":
            self.stream.write(orjson.dumps(hit_document(hit)).decode() + "\n")
        elif self.output == "csv":
            self.stream.write(format_row(hit_row(hit)))
        elif len(self._rows) < TABLE_ROWS:
            self._rows.append(hit)

    def finish(self, stats: HuntStats) -> None:
        """Print the kept table rows, the summary per indicator and the counts."""
        if self.output == "table":
            if self._rows:
                self.console.print(_hits_table(self._rows))
            if stats.hits > len(self._rows):
                more = stats.hits - len(self._rows)
                self.console.print(f"… and {more:,} more hits (use --output json)")
        self.stream.flush()
        if self.summaries:
            self.console.print(_summary_table(self.summaries))
        for line in summary_lines(stats):
            self.console.print(line, markup=False, highlight=False)


def _hits_table(hits: list[Hit]) -> Table:
    table = Table(title="Hits")
    for name in ("source:line", "time", "field", "value", "match", "indicator"):
        table.add_column(name)
    table.add_column("conf.", justify="right")
    table.add_column("TLP")
    table.add_column("known then")
    for hit in hits:
        info = hit.indicator
        table.add_row(
            f"{hit.source}:{hit.line}",
            _time(hit.time) or "",
            hit.field,
            hit.value,
            hit.how,
            _indicator_label(hit),
            str(info.confidence),
            info.tlp.label,
            _known(hit.known),
            end_section=False,
        )
    return table


def _indicator_label(hit: Hit) -> str:
    info = hit.indicator
    if info.value is None:
        return f"#{info.id} ({info.type})"
    return f"{info.value} ({info.type})"


def _summary_table(summaries: dict[int, IndicatorSummary]) -> Table:
    table = Table(title="Hits per indicator")
    for name in ("indicator", "id", "tags"):
        table.add_column(name)
    table.add_column("hits", justify="right")
    table.add_column("lines", justify="right")
    table.add_column("first")
    table.add_column("last")
    ordered = sorted(summaries.values(), key=lambda s: (-s.hits, s.hit.indicator.id))
    for summary in ordered:
        info = summary.hit.indicator
        table.add_row(
            _indicator_label(summary.hit),
            str(info.id),
            ", ".join(info.tags),
            f"{summary.hits:,}",
            f"{len(summary.lines):,}",
            _time(summary.first_time) or "",
            _time(summary.last_time) or "",
        )
    return table


def summary_lines(stats: HuntStats) -> list[str]:
    """Return the closing lines of a hunt: hits, lines, malformed lines, failures."""
    lines = [
        f"{stats.hits:,} hits on {stats.hit_lines:,} lines out of {stats.lines:,} "
        f"in {stats.inputs:,} inputs ({stats.bytes:,} bytes)"
    ]
    if stats.before_since:
        lines.append(
            f"{stats.before_since:,} matching lines before --since were left out"
        )
    if stats.malformed:
        counts = ", ".join(
            f"{reason} {n:,}" for reason, n in stats.malformed.most_common()
        )
        lines.append(f"skipped {stats.malformed_lines:,} malformed lines: {counts}")
        lines.extend(f"malformed: {example}" for example in stats.malformed_examples)
    lines.extend(f"failed input: {failure}" for failure in stats.failed)
    return lines
