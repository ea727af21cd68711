"""``medisac feeds``: register, inspect and run scheduled feeds.

Secrets given to ``feeds add`` are stored for the feed's requests and never
printed again: ``list`` and ``show`` say only whether a token or password is
set.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from medisac.cli.options import DbOption, opened_store, parse_tlp
from medisac.errors import ConfigError
from medisac.feeds.catalogue import enable_entry, load_catalogue
from medisac.feeds.registry import (
    SOURCE_FORMATS,
    Credentials,
    Feed,
    FeedSpec,
    add_feed,
    format_duration,
    get_feed,
    last_runs,
    list_feeds,
    parse_duration,
    remove_feed,
    set_enabled,
)
from medisac.feeds.runner import FeedRun, run_feeds
from medisac.ingest.detect import PARSERS
from medisac.model.time import format_rfc3339
from medisac.settings import Secret, Settings
from medisac.store.engine import begin_write


def _console() -> Console:
    # Made per command, so the width follows COLUMNS as it is at that time.
    return Console()


app = typer.Typer(
    name="feeds",
    help="Register, inspect and run scheduled feeds.",
    no_args_is_help=True,
)

_FORMATS = ", ".join((*sorted(PARSERS), *SOURCE_FORMATS))
_RECENT_RUNS = 5


def _when(micros: int | None) -> str:
    return format_rfc3339(micros, digits=0) if micros is not None else "never"


def _collection_url(location: str, collection: str | None) -> str:
    if collection is None:
        return location
    return f"{location.rstrip('/')}/collections/{collection}/"


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A short unique name for the feed.")],
    location: Annotated[
        str | None,
        typer.Argument(
            help="A file, a folder, an http(s) URL, a TAXII collection URL or "
            "a MISP feed URL. Leave out with --from-catalogue.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help=f"One of {_FORMATS}; default: detected per file."
        ),
    ] = None,
    every: Annotated[
        str | None,
        typer.Option(
            "--every",
            help="Interval between runs, such as 15m, 1h or 1d; default: run "
            "only with `medisac feeds run`.",
        ),
    ] = None,
    reliability: Annotated[
        str, typer.Option(help="Admiralty source reliability, A (best) to F.")
    ] = "C",
    tlp: Annotated[
        str, typer.Option(help="TLP of values the feed does not mark itself.")
    ] = "green",
    confidence: Annotated[
        int,
        typer.Option(min=0, max=100, help="Confidence 0-100 of values without one."),
    ] = 50,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="MEDISAC_FEED_TOKEN",
            help="Bearer token for HTTP and TAXII feeds (or MEDISAC_FEED_TOKEN).",
            show_default=False,
        ),
    ] = None,
    username: Annotated[
        str | None, typer.Option(help="User name for HTTP Basic authentication.")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            envvar="MEDISAC_FEED_PASSWORD",
            help="Password for HTTP Basic authentication (or MEDISAC_FEED_PASSWORD).",
            show_default=False,
        ),
    ] = None,
    collection: Annotated[
        str | None,
        typer.Option(
            help="TAXII collection id; LOCATION is then the API root URL.",
        ),
    ] = None,
    page_size: Annotated[
        int | None, typer.Option(min=1, help="TAXII objects per request (limit).")
    ] = None,
    max_pages: Annotated[
        int | None,
        typer.Option(min=1, help="TAXII pages per run; the next run resumes."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Seconds to wait for one HTTP response; default 30."),
    ] = None,
    max_bytes: Annotated[
        int | None,
        typer.Option(
            help="Largest body, after decompression, in bytes; default "
            "MEDISAC_MAX_INPUT_BYTES."
        ),
    ] = None,
    retries: Annotated[
        int | None,
        typer.Option(
            min=0, help="Retries after a network error, HTTP 429 or 5xx; default 3."
        ),
    ] = None,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Register without enabling.")
    ] = False,
    from_catalogue: Annotated[
        bool,
        typer.Option(
            "--from-catalogue",
            help="Enable the catalogue feed NAME with its own settings.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Register a feed."""
    if from_catalogue:
        with opened_store(db) as engine, begin_write(engine) as conn:
            enable_entry(conn, name)
        typer.echo(f"feed {name} enabled from the catalogue")
        return
    if location is None:
        raise typer.BadParameter("give LOCATION, or use --from-catalogue")
    options = {
        "page_size": page_size,
        "max_pages": max_pages,
        "timeout": timeout,
        "max_bytes": max_bytes,
        "retries": retries,
    }
    spec = FeedSpec(
        name=name,
        location=_collection_url(location, collection),
        format=fmt,
        every_seconds=parse_duration(every) if every else None,
        reliability=reliability,
        tlp=parse_tlp(tlp),
        confidence=confidence,
        credentials=Credentials(
            token=Secret(token) if token else None,
            username=username,
            password=Secret(password) if password is not None else None,
        ),
        options={key: value for key, value in options.items() if value is not None},
        enabled=not disabled,
    )
    with opened_store(db) as engine, begin_write(engine) as conn:
        add_feed(conn, spec)
        feed = get_feed(conn, name)
    typer.echo(
        f"feed {feed.name} added: {feed.kind}, {format_duration(feed.every_seconds)}"
    )


def _table(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> Table:
    """Build a table whose last column wraps and whose others never do.

    Names, counts and outcomes stay whole on a narrow terminal, so they can
    be read and searched for. The last column takes what room is left.
    """
    table = Table(title=title)
    for index, column in enumerate(columns):
        last = index == len(columns) - 1
        table.add_column(column, no_wrap=not last, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


@app.command("list")
def list_command(db: DbOption = None) -> None:
    """List the feeds with their schedule and last run (`show` gives the rest)."""
    rows = []
    with opened_store(db) as engine, engine.connect() as conn:
        for feed in list_feeds(conn):
            runs = last_runs(conn, feed.id)
            last = runs[0] if runs else None
            rows.append(
                [
                    feed.name,
                    feed.kind,
                    format_duration(feed.every_seconds),
                    "yes" if feed.enabled else "no",
                    last.outcome if last else "-",
                    _when(last.started if last else None),
                    feed.credentials.summary(),
                ]
            )
    columns = ("name", "kind", "every", "on", "outcome", "last run", "credentials")
    _console().print(_table("Feeds", columns, rows))
    if not rows:
        typer.echo("no feeds; add one with `medisac feeds add` or `feeds enable`")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The feed's name.")],
    db: DbOption = None,
) -> None:
    """Show a feed's settings (without secrets) and its health."""
    with opened_store(db) as engine, engine.connect() as conn:
        feed = get_feed(conn, name)
        runs = last_runs(conn, feed.id, _RECENT_RUNS)
    settings = Table(show_header=False, box=None)
    for key, value in _settings_rows(feed):
        settings.add_row(key, value)
    _console().print(settings)
    health = Table(title="Recent runs")
    for column in (
        "started",
        "outcome",
        "new",
        "updated",
        "unchanged",
        "rejected",
        "seconds",
        "error",
    ):
        health.add_column(column)
    for run in runs:
        seconds = run.seconds
        health.add_row(
            _when(run.started),
            run.outcome,
            str(run.new),
            str(run.updated),
            str(run.unchanged),
            str(run.rejected),
            f"{seconds:.1f}" if seconds is not None else "-",
            run.error or "",
        )
    _console().print(health)


def _settings_rows(feed: Feed) -> list[tuple[str, str]]:
    state = feed.fetch_state
    position = []
    if state.get("etag"):
        position.append("ETag stored")
    if state.get("last_modified"):
        position.append(f"Last-Modified {state['last_modified']}")
    if state.get("added_after"):
        position.append(f"added_after {state['added_after']}")
    if "events" in state:
        position.append(f"{len(state['events'])} MISP events read")
    return [
        ("name", feed.name),
        ("kind", feed.kind),
        ("location", feed.location),
        ("format", feed.format or "detected per file"),
        ("every", format_duration(feed.every_seconds)),
        ("enabled", "yes" if feed.enabled else "no"),
        ("reliability", feed.reliability),
        ("default TLP", feed.default_tlp.label),
        ("default confidence", str(feed.default_confidence)),
        ("credentials", feed.credentials.summary()),
        ("options", ", ".join(f"{k}={v}" for k, v in sorted(feed.options.items()))),
        ("position", ", ".join(position) or "start"),
        ("last success", _when(feed.last_success)),
    ]


@app.command("run")
def run(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Feeds to run; default: every enabled feed."),
    ] = None,
    due: Annotated[
        bool,
        typer.Option("--due", help="Without names, run only the feeds that are due."),
    ] = False,
    db: DbOption = None,
) -> None:
    """Run feeds now; exit 1 when any of them failed."""
    settings = Settings.from_env(db=db)
    with opened_store(db) as engine:
        runs = run_feeds(
            engine,
            names or None,
            due_only=due,
            max_input_bytes=settings.max_input_bytes,
        )
    if not runs:
        typer.echo("no feed to run")
        return
    _print_runs(runs)
    if any(item.failed and item.outcome != "busy" for item in runs):
        raise typer.Exit(1)


def _print_runs(runs: list[FeedRun]) -> None:
    columns = ("feed", "outcome", "new", "updated", "unchanged", "rejected", "s")
    rows = [
        [
            item.name,
            item.outcome,
            str(item.new),
            str(item.updated),
            str(item.unchanged),
            str(item.rejected),
            f"{item.seconds:.1f}",
        ]
        for item in runs
    ]
    _console().print(_table("Feed runs", columns, rows))
    for item in runs:
        if item.error:
            typer.echo(f"feed {item.name}: {item.outcome}: {item.error}", err=True)


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The feed's name.")],
    db: DbOption = None,
) -> None:
    """Stop and unregister a feed; the values it brought stay."""
    with opened_store(db) as engine, begin_write(engine) as conn:
        remove_feed(conn, name)
    typer.echo(f"feed {name} removed")


@app.command("enable")
def enable(
    name: Annotated[str, typer.Argument(help="A feed, or a catalogue feed's name.")],
    db: DbOption = None,
) -> None:
    """Enable a registered feed, or register and enable a catalogue feed."""
    with opened_store(db) as engine, begin_write(engine) as conn:
        known = {feed.name for feed in list_feeds(conn)}
        if name in known:
            set_enabled(conn, name, True)
        else:
            enable_entry(conn, name)
    typer.echo(f"feed {name} enabled")


@app.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="The feed's name.")],
    db: DbOption = None,
) -> None:
    """Keep a feed registered but stop running it."""
    with opened_store(db) as engine, begin_write(engine) as conn:
        set_enabled(conn, name, False)
    typer.echo(f"feed {name} disabled")


@app.command("catalogue")
def catalogue() -> None:
    """List the well-known public feeds that `feeds enable NAME` registers."""
    rows = []
    for entry in load_catalogue():
        fmt = entry.format if entry.readable else f"{entry.format} (no parser)"
        rows.append(
            [
                entry.name,
                "yes" if entry.default else "no",
                fmt,
                format_duration(entry.every_seconds),
                entry.reliability,
                entry.provider,
            ]
        )
    columns = ("name", "default", "format", "every", "grade", "provider")
    _console().print(_table("Feed catalogue", columns, rows))


@app.command("stats")
def stats(db: DbOption = None) -> None:
    """Show each source's contribution, uniqueness, false positives and lead time.

    The lead time is the median of how much earlier (negative) or later
    this source reported the values that other sources reported too.
    """
    # Imported here so the other feed commands work in a build without it.
    try:
        quality = importlib.import_module("medisac.store.quality")
    except ImportError:
        raise ConfigError(
            "source statistics are not available in this version of medisac"
        ) from None
    with opened_store(db) as engine, engine.connect() as conn:
        rows = [
            [
                item.source,
                f"{item.contributed:,}",
                f"{item.unique_share:.0%}",
                f"{item.false_positive_share:.0%}",
                "-"
                if item.median_lead_seconds is None
                else _span(item.median_lead_seconds),
            ]
            for item in quality.source_quality(conn)
        ]
    columns = ("source", "values", "unique", "false positive", "median lead")
    _console().print(_table("Source quality", columns, rows))
    if not rows:
        typer.echo("no sources yet")


def _span(seconds: float) -> str:
    """Write a lead time as hours or days, keeping its sign."""
    sign = "-" if seconds < 0 else ""
    size = abs(seconds)
    if size >= 86400:
        return f"{sign}{size / 86400:.1f} d"
    if size >= 3600:
        return f"{sign}{size / 3600:.1f} h"
    return f"{sign}{size:.0f} s"


def register(main: typer.Typer) -> None:
    """Add the ``feeds`` command group to ``main``."""
    main.add_typer(app)
