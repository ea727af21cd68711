"""``medisac export``: write the indicator set for defenders' tools."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from sqlalchemy.engine import Connection

from medisac.cli.options import DbOption, open_store
from medisac.export.plain import write_plain
from medisac.export.select import ExportFilter
from medisac.export.stix import write_stix_bundle
from medisac.model import TLP, IndicatorType
from medisac.model.time import parse_rfc3339, to_us
from medisac.settings import Settings

Writer = Callable[[Connection, ExportFilter, BinaryIO], int]

WRITERS: dict[str, Writer] = {"plain": write_plain, "stix": write_stix_bundle}


def _parse_types(values: list[str] | None) -> frozenset[IndicatorType]:
    found = set()
    for value in values or []:
        try:
            found.add(IndicatorType(value))
        except ValueError:
            choices = ", ".join(t.value for t in IndicatorType)
            raise typer.BadParameter(
                f"unknown type {value!r}; use one of {choices}", param_hint="--type"
            ) from None
    return frozenset(found)


def _parse_since(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return to_us(parse_rfc3339(value, assume_utc=True))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


def export(
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Output format: plain or stix.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write; default: standard output."),
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Only this indicator type; repeatable."),
    ] = None,
    min_confidence: Annotated[
        int, typer.Option("--min-confidence", min=0, max=100, help="Lowest confidence.")
    ] = 0,
    tlp: Annotated[
        str,
        typer.Option(
            "--tlp", help="Most restrictive TLP to include (default amber+strict)."
        ),
    ] = "amber+strict",
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only records changed after this RFC 3339 time."),
    ] = None,
    healthcare: Annotated[
        bool,
        typer.Option("--healthcare", help="Only indicators relevant to healthcare."),
    ] = False,
    max_count: Annotated[
        int | None,
        typer.Option(
            "--max", min=1, help="Keep at most this many, the highest confidence first."
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Export active indicators in a format a defender's tool reads."""
    if fmt not in WRITERS:
        choices = ", ".join(sorted(WRITERS))
        raise typer.BadParameter(f"unknown format {fmt!r}; use one of {choices}")
    try:
        level = TLP.parse(tlp)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tlp") from None
    writer = WRITERS[fmt]
    selection = ExportFilter(
        types=_parse_types(types),
        min_confidence=min_confidence,
        tlp=level,
        since=_parse_since(since),
        healthcare=healthcare,
        max_count=max_count,
    )
    engine = open_store(Settings.from_env(db=db))
    with engine.connect() as conn:
        if output is None:
            count = writer(conn, selection, sys.stdout.buffer)
        else:
            with output.open("wb") as handle:
                count = writer(conn, selection, handle)
    typer.echo(f"exported {count:,} indicators as {fmt}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""
    app.command()(export)
