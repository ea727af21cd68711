"""``medisac ingest``: parse, normalise, merge and store inputs."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import Engine

from medisac.cli.options import DbOption, open_store, parse_tlp
from medisac.ingest.detect import PARSERS
from medisac.ingest.pipeline import IngestRequest, ingest
from medisac.ingest.summary import IngestSummary
from medisac.model import TLP
from medisac.settings import Settings

console = Console(stderr=True)

# Rejections and warnings printed in the summary; the rest are counted.
SHOWN_REJECTIONS = 50


def _tlp(text: str | None) -> TLP | None:
    return None if text is None else parse_tlp(text)


def _format(text: str | None) -> str | None:
    if text is not None and text not in PARSERS:
        choices = ", ".join(sorted(PARSERS))
        raise typer.BadParameter(f"unknown format {text!r}; use one of {choices}")
    return text


def ingest_command(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Files, directories or archives to read.", show_default=False
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            "-s",
            help="Source name for provenance; default: the first input's name.",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Input format; default: detected per file.",
            callback=_format,
        ),
    ] = None,
    tlp: Annotated[
        str | None,
        typer.Option(
            "--tlp",
            help="TLP for values whose input states none: clear, green, amber, "
            "amber+strict or red.",
        ),
    ] = None,
    confidence: Annotated[
        int | None,
        typer.Option(
            "--confidence",
            min=0,
            max=100,
            help="Confidence 0-100 for values whose input states none.",
        ),
    ] = None,
    max_input_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-input-bytes",
            help="Largest decompressed size of one input, in bytes "
            "(MEDISAC_MAX_INPUT_BYTES).",
        ),
    ] = None,
    rejects_ok: Annotated[
        bool,
        typer.Option(
            "--rejects-ok", help="Exit 0 when only single records were rejected."
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Parse, normalise, merge and store indicators from files."""
    settings = Settings.from_env(db=db, max_input_bytes=max_input_bytes)
    engine = open_store(settings)
    request = IngestRequest(
        inputs=tuple(inputs),
        source=source or Path(inputs[0]).name,
        format=fmt,
        tlp=_tlp(tlp),
        confidence=confidence,
        max_input_bytes=settings.max_input_bytes,
    )
    _tune_gc()
    if console.is_terminal:
        summary = _with_progress(engine, request)
    else:
        summary = ingest(engine, request)
    _print_summary(summary)
    if summary.failed or (summary.rejected and not rejects_ok):
        raise typer.Exit(1)


def _tune_gc() -> None:
    # Ingest allocates millions of short-lived objects that form no cycles;
    # at the default thresholds the cyclic collector's passes over them take
    # about a fifth of a large run. Collection still runs, less often.
    gc.freeze()
    gc.set_threshold(200_000, 20, 20)


def _with_progress(engine: Engine, request: IngestRequest) -> IngestSummary:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} inputs"),
        TextColumn("{task.fields[observations]:,} values"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("ingest", total=None, observations=0)

        def advance(origin: str, observations: int) -> None:
            progress.update(task, advance=1, observations=observations)

        return ingest(engine, request, progress=advance)


def _print_summary(summary: IngestSummary) -> None:
    merge = summary.merge
    table = Table(title="Ingest summary", show_header=False)
    table.add_row(
        "inputs read", f"{summary.inputs - len(summary.failed):,} of {summary.inputs:,}"
    )
    if summary.formats:
        table.add_row(
            "formats", ", ".join(f"{k} {v}" for k, v in sorted(summary.formats.items()))
        )
    table.add_row(
        "values read", f"{summary.values:,} from {summary.observations:,} observations"
    )
    table.add_row("new records", f"{merge.new:,}")
    table.add_row("updated records", f"{merge.updated:,}")
    table.add_row("unchanged records", f"{merge.unchanged:,}")
    if merge.withdrawn:
        table.add_row("claims withdrawn", f"{merge.withdrawn:,}")
    if merge.superseded:
        table.add_row("older versions ignored", f"{merge.superseded:,}")
    table.add_row("rejected records", f"{summary.rejected:,}")
    for kind, count in sorted(summary.skipped.items()):
        table.add_row("skipped", f"{count:,} {kind}")
    console.print(table)
    for failure in summary.failed:
        extra = ""
        if failure.values_before_failure:
            kept = failure.values_before_failure
            extra = f" ({kept:,} values read before the failure are stored)"
        typer.echo(f"failed input: {failure.reason}{extra}", err=True)
    for rejection in summary.rejections[:SHOWN_REJECTIONS]:
        typer.echo(
            f"rejected: {rejection.origin}, {rejection.location}: {rejection.reason}",
            err=True,
        )
    if summary.rejected > SHOWN_REJECTIONS:
        more = summary.rejected - SHOWN_REJECTIONS
        typer.echo(f"… and {more:,} more rejected records", err=True)
    warnings = summary.warnings + merge.warnings
    for warning in warnings[:SHOWN_REJECTIONS]:
        typer.echo(f"warning: {warning}", err=True)
    if len(warnings) > SHOWN_REJECTIONS:
        more = len(warnings) - SHOWN_REJECTIONS
        typer.echo(f"… and {more:,} more warnings", err=True)


def register(app: typer.Typer) -> None:
    """Add ``ingest`` to ``app``."""
    app.command("ingest")(ingest_command)
