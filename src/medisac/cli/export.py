"""``medisac export``: write the indicator set for defenders' tools."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from sqlalchemy.engine import Connection

from medisac.cli.options import DbOption, open_store
from medisac.export.csvexport import write_csv
from medisac.export.edl import write_edl, write_edl_dir
from medisac.export.plain import write_plain
from medisac.export.rpz import write_rpz
from medisac.export.select import ExportFilter, parse_types
from medisac.export.stix import write_stix_bundle
from medisac.export.suricata import write_suricata, write_suricata_dir
from medisac.export.zeek import write_zeek
from medisac.model import TLP, IndicatorType
from medisac.model.time import parse_rfc3339, to_us
from medisac.settings import Settings

Writer = Callable[[Connection, ExportFilter, BinaryIO], int]

# Formats that write one stream: to standard output or to the -o file.
WRITERS: dict[str, Writer] = {
    "plain": write_plain,
    "csv": write_csv,
    "edl": partial(write_edl, kind="ip", max_entries=None),
    "rpz": write_rpz,
    "stix": write_stix_bundle,
    "suricata": write_suricata,
    "zeek": write_zeek,
}

# Formats whose -o may name a directory, where they write several files: EDL
# writes one list per kind, Suricata adds file-hash lists beside its rules.
DIRECTORY_FORMATS = frozenset({"edl", "suricata"})

_EDL_LISTS = ("ip", "domain", "url")


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
        str,
        typer.Option(
            "--format",
            "-f",
            help="Output format: plain, csv, edl, rpz, stix, suricata or zeek.",
        ),
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
    """
    if fmt not in WRITERS:
        choices = ", ".join(sorted(WRITERS))
        raise typer.BadParameter(f"unknown format {fmt!r}; use one of {choices}")
    if edl_list not in _EDL_LISTS:
        raise typer.BadParameter(
            f"unknown list {edl_list!r}; use ip, domain or url", param_hint="--list"
        )
    try:
        level = TLP.parse(tlp)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tlp") from None
    writer = WRITERS[fmt]
    if fmt == "edl":
        writer = partial(write_edl, kind=edl_list, max_entries=max_entries)
    elif fmt == "rpz":
        writer = partial(write_rpz, origin=rpz_origin)
    elif fmt == "suricata":
        writer = partial(write_suricata, sid_base=sid_base)
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
        elif output.is_dir() and fmt in DIRECTORY_FORMATS:
            count = _write_directory(
                conn, fmt, selection, output, max_entries, sid_base
            )
        else:
            with output.open("wb") as handle:
                count = writer(conn, selection, handle)
    typer.echo(f"exported {count:,} indicators as {fmt}", err=True)


def _write_directory(
    conn: Connection,
    fmt: str,
    selection: ExportFilter,
    directory: Path,
    max_entries: int | None,
    sid_base: int,
) -> int:
    """Write a multi-file format into ``directory``; return the count exported."""
    if fmt == "edl":
        counts = write_edl_dir(conn, selection, directory, max_entries=max_entries)
        return sum(counts.values())
    return write_suricata_dir(conn, selection, directory, sid_base=sid_base)


def register(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""
    app.command()(export)
