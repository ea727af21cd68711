"""``medisac export``: write the indicator set for defenders' tools."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from medisac.cli.options import DbOption, open_store, parse_tlp
from medisac.export.formats import (
    DIRECTORY_FORMATS,
    DIRECTORY_ONLY_FORMATS,
    FORMATS,
    FormatOptions,
    stream_writer,
    write_directory,
)
from medisac.export.kit import DEFAULT_MIN_CONFIDENCE, DEFAULT_TOP, write_kit
from medisac.export.select import ExportFilter, parse_types
from medisac.model import IndicatorType
from medisac.model.time import parse_rfc3339, to_us
from medisac.settings import Settings


def _parse_types(values: list[str] | None) -> frozenset[IndicatorType]:
    try:
        return parse_types(values)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--type") from None


def _parse_since(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return to_us(parse_rfc3339(value, assume_utc=True))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


def export(
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format: plain, csv, edl, rpz, stix, suricata, zeek or misp.",
        ),
    ] = None,
    kit: Annotated[
        Path | None,
        typer.Option(
            "--kit",
            help="Write a starter kit (firewall lists, DNS zone, README) into DIR.",
            metavar="DIR",
        ),
    ] = None,
    kit_url: Annotated[
        str | None,
        typer.Option(
            "--kit-url",
            help="Kit: the exchange's /feeds URL, for the README's refresh steps.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write; default: standard output."),
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Only this indicator type; repeatable."),
    ] = None,
    min_confidence: Annotated[
        int | None,
        typer.Option(
            "--min-confidence",
            min=0,
            max=100,
            help="Lowest confidence "
            f"(default 0, or {DEFAULT_MIN_CONFIDENCE} for --kit).",
        ),
    ] = None,
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
            "--max",
            min=1,
            help="Keep at most this many, the highest confidence first "
            f"(for --kit: per list, default {DEFAULT_TOP:,}).",
        ),
    ] = None,
    edl_list: Annotated[
        str,
        typer.Option(
            "--list",
            help="EDL list to write to a file or standard output: ip, domain or url.",
        ),
    ] = "ip",
    max_entries: Annotated[
        int | None,
        typer.Option(
            "--max-entries",
            min=1,
            help="EDL: maximum entries per list, for a firewall's limit.",
        ),
    ] = None,
    rpz_origin: Annotated[
        str,
        typer.Option("--rpz-origin", help="RPZ: the zone's origin name."),
    ] = "rpz.medisac.local",
    sid_base: Annotated[
        int,
        typer.Option("--sid-base", min=1, help="Suricata: first sid of the rules."),
    ] = 9_000_000,
    db: DbOption = None,
) -> None:
    """Export active indicators in a format a defender's tool reads.

    For edl and suricata, ``-o`` may name a directory: EDL then writes
    ip.txt, domain.txt and url.txt, and Suricata its rules and hash lists.
    misp writes a MISP feed (manifest.json, event files, hashes.csv) into
    the directory ``-o`` names.
    """
    if kit is not None:
        if fmt is not None:
            raise typer.BadParameter("give --kit or --format, not both")
        _export_kit(kit, kit_url, types, min_confidence, tlp, healthcare, max_count, db)
        return
    if fmt is None:
        raise typer.BadParameter("give --format F, or --kit DIR", param_hint="--format")
    if fmt not in FORMATS:
        choices = ", ".join(sorted(FORMATS))
        raise typer.BadParameter(f"unknown format {fmt!r}; use one of {choices}")
    if fmt in DIRECTORY_ONLY_FORMATS and output is None:
        raise typer.BadParameter(
            f"{fmt} writes a directory of files; name it with -o DIR",
            param_hint="--output",
        )
    try:
        options = FormatOptions(
            edl_list=edl_list,
            max_entries=max_entries,
            rpz_origin=rpz_origin,
            sid_base=sid_base,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--list") from None
    level = parse_tlp(tlp)
    selection = ExportFilter(
        types=_parse_types(types),
        min_confidence=min_confidence or 0,
        tlp=level,
        since=_parse_since(since),
        healthcare=healthcare,
        max_count=max_count,
    )
    engine = open_store(Settings.from_env(db=db))
    with engine.connect() as conn:
        if output is not None and (
            fmt in DIRECTORY_ONLY_FORMATS
            or (fmt in DIRECTORY_FORMATS and output.is_dir())
        ):
            count = write_directory(conn, fmt, selection, output, options)
        else:
            writer = stream_writer(fmt, options)
            if output is None:
                count = writer(conn, selection, sys.stdout.buffer)
            else:
                with output.open("wb") as handle:
                    count = writer(conn, selection, handle)
    typer.echo(f"exported {count:,} indicators as {fmt}", err=True)


def _export_kit(
    directory: Path,
    feed_url: str | None,
    types: list[str] | None,
    min_confidence: int | None,
    tlp: str,
    healthcare: bool,
    top: int | None,
    db: str | None,
) -> None:
    """Write the starter kit into ``directory`` and report what it holds."""
    selection = ExportFilter(
        types=_parse_types(types),
        min_confidence=DEFAULT_MIN_CONFIDENCE
        if min_confidence is None
        else min_confidence,
        tlp=parse_tlp(tlp),
        healthcare=healthcare,
    )
    engine = open_store(Settings.from_env(db=db))
    with engine.connect() as conn:
        counts = write_kit(
            conn, selection, directory, top=top or DEFAULT_TOP, feed_url=feed_url
        )
    typer.echo(
        f"wrote a starter kit to {directory}: {counts.ips:,} addresses, "
        f"{counts.domains:,} domains, {counts.zone:,} zone entries",
        err=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""
    app.command()(export)
