"""``medisac hunt`` and ``medisac hunt-pack``: look for indicators in local logs."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from sqlalchemy.engine import Engine

from medisac.cli.options import DbOption, open_store
from medisac.hunt.formats import FORMATS
from medisac.hunt.index import Index, load_index
from medisac.hunt.output import OUTPUTS, HitWriter
from medisac.hunt.pack import read_pack, write_pack
from medisac.hunt.report import known_indicator_ids
from medisac.hunt.run import EXIT_HITS, HuntRequest, HuntResult, input_size, run_hunt
from medisac.members.orgs import get_org
from medisac.model.time import parse_rfc3339, to_us
from medisac.settings import Settings
from medisac.store.engine import begin_write

err_console = Console(stderr=True)

HUNT_HELP = f"""Look for the exchange's indicators in log files, locally.

Reads plain or gzip files, or standard input as "-": Zeek TSV and JSON,
Suricata EVE, Squid access logs, syslog and firewall key=value lines, Windows
event JSON, and other CSV or JSON lines, whose every field is searched.

Exit status: 0 when no indicator was found, {EXIT_HITS} when hits were found,
1 when an input could not be read (hits or not), 2 for usage errors.
"""


def _since(value: str | None) -> int | None:
    if value is None:
        return None
    text = value if "T" in value or " " in value else f"{value}T00:00:00Z"
    try:
        return to_us(parse_rfc3339(text, assume_utc=True))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


def _choice(value: str, choices: tuple[str, ...], hint: str) -> str:
    if value not in choices:
        raise typer.BadParameter(
            f"unknown value {value!r}; use one of {', '.join(choices)}", param_hint=hint
        )
    return value


def hunt(
    logs: Annotated[
        list[str],
        typer.Argument(help='Log files to read; "-" reads standard input.'),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Report only lines at or after this date or RFC 3339 time "
            "(UTC unless it has an offset); lines without a time are kept.",
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help=f"Log format: auto, {', '.join(FORMATS)}."),
    ] = "auto",
    output: Annotated[
        str, typer.Option("--output", "-o", help="Hits as table, json (lines) or csv.")
    ] = "table",
    pack: Annotated[
        Path | None,
        typer.Option(
            "--pack", help="Match with this hunt pack instead of the store's values."
        ),
    ] = None,
    report: Annotated[
        bool,
        typer.Option(
            "--report", help="Store the hits as pending sightings (needs --as)."
        ),
    ] = False,
    as_org: Annotated[
        str | None,
        typer.Option("--as", help="Organisation (id or name) that reports the hits."),
    ] = None,
    db: DbOption = None,
) -> None:
    fmt = _choice(fmt, ("auto", *FORMATS), "--format")
    output = _choice(output, OUTPUTS, "--output")
    if report and not as_org:
        raise typer.BadParameter("--report needs --as ORG", param_hint="--report")
    request = HuntRequest(inputs=logs, fmt=fmt, since=_since(since))
    out_console = Console() if output == "table" else err_console
    writer = HitWriter(output, sys.stdout, out_console)
    engine = open_store(Settings.from_env(db=db)) if pack is None or report else None
    with ExitStack() as stack:
        index: Index
        if pack is not None:
            index = read_pack(pack)
        else:
            assert engine is not None
            index = load_index(stack.enter_context(engine.connect()))
        result = _run(request, index, writer)
        writer.finish(result.stats)
    if report and as_org and engine is not None:
        _report(engine, result, as_org)
    raise typer.Exit(result.exit_code)


def _run(request: HuntRequest, index: Index, writer: HitWriter) -> HuntResult:
    if not err_console.is_terminal:
        return run_hunt(request, index, writer)
    sizes = {name: input_size(name) for name in request.inputs}
    total = sum(size or 0 for size in sizes.values()) or None
    columns = (
        TextColumn("[bold]hunt"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    done: dict[str, int] = {}
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("hunt", total=total)

        def advance(name: str, position: int) -> None:
            done[name] = position
            progress.update(task, completed=sum(done.values()))

        return run_hunt(request, index, writer, advance)


def _report(engine: Engine, result: HuntResult, as_org: str) -> None:
    with begin_write(engine) as conn:
        org = get_org(conn, as_org)
        known = known_indicator_ids(conn, result.sightings.ids())
        stored = result.sightings.store(conn, org.id, known)
    skipped = len(result.sightings) - stored
    message = f"reported {stored:,} indicators as pending sightings"
    if skipped:
        message += f"; {skipped:,} indicator ids are not in this store and were skipped"
    err_console.print(message, markup=False, highlight=False)


def hunt_pack(
    org_ref: Annotated[
        str, typer.Option("--for", help="Organisation (id or name) the pack is for.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    include_all: Annotated[
        bool,
        typer.Option(
            "--all", help="Also pack the indicators the organisation may read."
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Write a hunt pack: keyed hashes of indicators an organisation may not read.

    The pack contains the active indicators above the organisation's TLP
    clearance (TLP:RED only where the organisation is named on the record),
    or with --all every active indicator. `medisac hunt --pack FILE LOGS`
    matches logs with it and reports hits by indicator id. The pack lists no
    values, but whoever holds it can test a guessed value.
    """
    engine = open_store(Settings.from_env(db=db))
    with engine.connect() as conn:
        org = get_org(conn, org_ref)
        summary = write_pack(conn, org, output, include_all=include_all)
    counts = ", ".join(f"{kind} {n:,}" for kind, n in sorted(summary.counts.items()))
    err_console.print(
        f"wrote {summary.total:,} indicators for {org.name} ({org.id}) to "
        f"{output} ({summary.size:,} bytes){': ' + counts if counts else ''}",
        markup=False,
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``hunt`` and ``hunt-pack`` to ``app``."""
    app.command("hunt", help=HUNT_HELP)(hunt)
    app.command("hunt-pack")(hunt_pack)
