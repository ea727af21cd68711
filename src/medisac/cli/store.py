"""``medisac init``, ``medisac stats`` and ``medisac search``."""

from __future__ import annotations

import os
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from medisac.cli.options import DbOption, open_store, opened_store
from medisac.errors import NormalizationError
from medisac.feeds.catalogue import default_feed_names, enable_entry
from medisac.members.access import Audience
from medisac.members.lookup import find_visible, parse_value
from medisac.members.orgs import get_org
from medisac.model import TLP
from medisac.model.time import format_rfc3339
from medisac.settings import Settings
from medisac.store.engine import begin_write, create_engine
from medisac.store.keys import create_key
from medisac.store.migrate import upgrade
from medisac.store.publish import publish_static
from medisac.store.tables import api_keys, indicators, provenance, sources

console = Console()

OPERATOR_KEY_NAME = "operator"


def init(
    db: DbOption = None,
    no_default_feeds: Annotated[
        bool,
        typer.Option(
            "--no-default-feeds",
            help="Enable no catalogue feed on a new store (as "
            "MEDISAC_DEFAULT_FEEDS=none does).",
        ),
    ] = False,
) -> None:
    """Create the store, or migrate it to this version's schema.

    On a new store this also enables the default catalogue feeds (see
    `medisac feeds catalogue`; MEDISAC_DEFAULT_FEEDS=none or a comma-separated
    list of names changes the set) and creates the operator key:
    MEDISAC_OPERATOR_KEY when it is set, otherwise a random key that is
    printed once, on the last line.
    """
    settings = Settings.from_env(db=db)
    feeds = [] if no_default_feeds else default_feed_names()
    engine = create_engine(settings.db)
    before, head = upgrade(engine)
    with begin_write(engine) as conn:
        publish_static(conn)
        has_operator = conn.execute(
            sa.select(sa.func.count())
            .select_from(api_keys)
            .where(api_keys.c.name == OPERATOR_KEY_NAME, api_keys.c.revoked.is_(False))
        ).scalar_one()
        key = None
        from_env = os.environ.get("MEDISAC_OPERATOR_KEY")
        if not has_operator:
            key = create_key(
                conn, OPERATOR_KEY_NAME, "read,submit,admin", from_env or None
            )
        enabled = []
        if before is None:
            enabled = [name for name in feeds if enable_entry(conn, name)]
    state = "created" if before is None else f"migrated from {before}"
    if before == head:
        state = "already current"
    typer.echo(f"store {engine.url.render_as_string()}: {state} (schema {head})")
    if enabled:
        typer.echo(
            f"feeds enabled: {', '.join(enabled)} (they run with `medisac serve` "
            "or `medisac feeds run`)"
        )
    if key is not None and not from_env:
        typer.echo("operator key (shown once; keep it safe):")
        typer.echo(key)


def stats(db: DbOption = None) -> None:
    """Print counts of indicator records by type and state."""
    engine = open_store(Settings.from_env(db=db))
    ic = indicators.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ic.type, ic.state, sa.func.count())
            .group_by(ic.type, ic.state)
            .order_by(ic.type, ic.state)
        ).all()
        source_count = conn.execute(
            sa.select(sa.func.count()).select_from(sources)
        ).scalar_one()
    states = sorted({row[1] for row in rows})
    table = Table(title="Indicators by type and state")
    table.add_column("type")
    for state in states:
        table.add_column(state, justify="right")
    table.add_column("total", justify="right")
    by_type: dict[str, dict[str, int]] = {}
    for kind, state, count in rows:
        by_type.setdefault(kind, {})[state] = count
    for kind, counts in by_type.items():
        cells = [str(counts.get(state, 0)) for state in states]
        table.add_row(kind, *cells, str(sum(counts.values())))
    totals = [str(sum(c.get(state, 0) for c in by_type.values())) for state in states]
    table.add_row("total", *totals, str(sum(row[2] for row in rows)), style="bold")
    console.print(table)
    console.print(f"{source_count} source(s)")


def search(
    value: str = typer.Argument(
        help="A value in any form: defanged, Unicode, upper case."
    ),
    db: DbOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    as_org: str | None = typer.Option(
        None,
        "--as",
        metavar="ORG",
        help="Show only what this organisation (id or name) may read.",
    ),
) -> None:
    """Print everything known about one value, after normalising it."""
    try:
        # File names are never detected from their shape, so a value that fits
        # no other type is looked up as a file name.
        wanted = parse_value(value)
    except NormalizationError as exc:
        typer.echo(f"{value!r} is not a valid indicator value: {exc.reason}", err=True)
        raise typer.Exit(1) from None
    found = []
    with opened_store(db) as engine, engine.connect() as conn:
        audience = Audience.everything()
        if as_org is not None:
            audience = get_org(conn, as_org).audience
        for row in find_visible(conn, wanted, audience):
            found.append((row, _provenance(conn, row.id)))
    if not found:
        shown = ", ".join(f"{v.type.value} {v.value}" for v in wanted)
        typer.echo(f"not found: {shown}", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(
            orjson.dumps([_as_dict(r, p) for r, p in found], option=orjson.OPT_INDENT_2)
        )
        return
    for row, prov in found:
        _print_record(row, prov)


def _provenance(
    conn: sa.Connection, indicator_id: int
) -> list[sa.Row[tuple[object, ...]]]:
    pc, sc = provenance.c, sources.c
    return list(
        conn.execute(
            sa.select(
                sc.name,
                pc.first_seen,
                pc.last_seen,
                pc.first_reported,
                pc.confidence,
                pc.tlp,
                pc.tags,
                pc.context,
                pc.observations,
                pc.active,
            )
            .join(sources, sc.id == pc.source_id)
            .where(pc.indicator_id == indicator_id)
            .order_by(sc.name)
        )
    )


def _as_dict(
    row: sa.Row[tuple[object, ...]], prov: list[sa.Row[tuple[object, ...]]]
) -> dict[str, Any]:
    m = row._mapping
    return {
        "type": m["type"],
        "value": m["value"],
        "stix_id": m["stix_id"],
        "state": m["state"],
        "confidence": m["confidence"],
        "tlp": TLP(m["tlp"]).label,
        "first_seen": format_rfc3339(m["first_seen"]),
        "last_seen": format_rfc3339(m["last_seen"]),
        "tags": orjson.loads(m["tags"]),
        "context": orjson.loads(m["context"]),
        "healthcare": m["healthcare"],
        # The known-benign list that keeps the value from being published, if any.
        "benign": m["benign"],
        # False when every source marked the value as context only.
        "to_ids": m["to_ids"],
        "sources": [
            {
                "source": p.name,
                "first_seen": format_rfc3339(p.first_seen),
                "last_seen": format_rfc3339(p.last_seen),
                "first_reported": format_rfc3339(p.first_reported),
                "confidence": p.confidence,
                "tlp": TLP(p.tlp).label,
                "tags": orjson.loads(p.tags),
                "context": orjson.loads(p.context),
                "observations": p.observations,
                "active": p.active,
            }
            for p in prov
        ],
    }


def _print_record(
    row: sa.Row[tuple[object, ...]], prov: list[sa.Row[tuple[object, ...]]]
) -> None:
    record = _as_dict(row, prov)
    summary = Table(show_header=False, box=None)
    for name in (
        "type",
        "value",
        "stix_id",
        "state",
        "confidence",
        "tlp",
        "first_seen",
        "last_seen",
        "healthcare",
        "to_ids",
    ):
        summary.add_row(name, str(record[name]))
    summary.add_row("benign list", record["benign"] or "-")
    summary.add_row("tags", ", ".join(record["tags"]) or "-")
    for name, value in sorted(record["context"].items()):
        summary.add_row(name, orjson.dumps(value).decode())
    console.print(summary)
    table = Table(title="Sources")
    for column in (
        "source",
        "first seen",
        "last seen",
        "confidence",
        "TLP",
        "tags",
        "active",
    ):
        table.add_column(column)
    for p in record["sources"]:
        table.add_row(
            p["source"],
            p["first_seen"],
            p["last_seen"],
            str(p["confidence"]),
            p["tlp"],
            ", ".join(p["tags"]) or "-",
            "yes" if p["active"] else "no",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(init)
    app.command()(stats)
    app.command()(search)
