"""``medisac allow``: the operator's allow list of values never to publish."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from medisac.cli.options import DbOption, open_store
from medisac.enrich.allowlist import (
    AllowChange,
    add_entry,
    entry_type,
    remove_entry,
)
from medisac.enrich.benign import ALLOW_DOMAIN
from medisac.errors import NormalizationError
from medisac.model import IndicatorType
from medisac.model.time import format_rfc3339
from medisac.normalize import normalize
from medisac.settings import Settings
from medisac.store.engine import begin_write
from medisac.store.tables import allow_list

console = Console()
allow_app = typer.Typer(
    help="Values, networks and domains that must never be published as malicious.",
    no_args_is_help=True,
)

ValueArgument = Annotated[
    str | None,
    typer.Argument(
        help="A value (address, URL, hash, e-mail address, ...) or a CIDR network.",
        show_default=False,
    ),
]
DomainOption = Annotated[
    str | None,
    typer.Option(
        "--domain",
        help="A domain; it covers every name under it, URLs on them and "
        "e-mail addresses at them.",
        show_default=False,
    ),
]


def parse_entry(value: str | None, domain: str | None) -> tuple[str, str]:
    """Return the canonical (allow-list type, value) of the command's input.

    Raises typer.BadParameter for a missing, doubled or invalid input.
    """
    if (value is None) == (domain is None):
        raise typer.BadParameter("give either a VALUE or --domain NAME, not both")
    try:
        if domain is not None:
            found = normalize(domain, IndicatorType.DOMAIN.value)
        else:
            assert value is not None
            found = normalize(value)
    except NormalizationError as exc:
        raise typer.BadParameter(
            f"{exc.value!r} is not a valid value: {exc.reason}"
        ) from None
    if len(found) != 1:
        shown = ", ".join(f"{item.type.value} {item.value}" for item in found)
        raise typer.BadParameter(
            f"the input is several values ({shown}); give one value"
        )
    item = found[0]
    return entry_type(item.type), item.value


def _report(change: AllowChange, verb: str) -> None:
    typer.echo(
        f"{verb} {change.type} {change.value}; {change.remarked} stored value(s) "
        f"re-marked, {change.republished} new version(s) published"
    )


@allow_app.command("add")
def add(
    value: ValueArgument = None,
    domain: DomainOption = None,
    reason: Annotated[
        str,
        typer.Option("--reason", help="Why the value must never be published."),
    ] = "",
    db: DbOption = None,
) -> None:
    """Add an entry; stored values it covers stop being published at once."""
    kind, canonical = parse_entry(value, domain)
    if not reason.strip():
        raise typer.BadParameter("give the reason for the entry", param_hint="--reason")
    engine = open_store(Settings.from_env(db=db))
    # An AllowListError ends the command with exit code 1 (see cli.main).
    with begin_write(engine) as conn:
        change = add_entry(conn, kind, canonical, reason.strip())
    _report(change, "added" if change.created else "updated the reason of")


@allow_app.command("remove")
def remove(
    value: ValueArgument = None,
    domain: DomainOption = None,
    db: DbOption = None,
) -> None:
    """Remove an entry; the values it covered follow their other lists again."""
    kind, canonical = parse_entry(value, domain)
    engine = open_store(Settings.from_env(db=db))
    with begin_write(engine) as conn:
        change = remove_entry(conn, kind, canonical)
    _report(change, "removed")


@allow_app.command("list")
def list_entries(db: DbOption = None) -> None:
    """Print the allow list, oldest entry first."""
    engine = open_store(Settings.from_env(db=db))
    table = allow_list.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(allow_list).order_by(table.id)).all()
    if not rows:
        typer.echo("the allow list is empty")
        return
    view = Table(title="Allow list")
    for column in ("type", "value", "covers", "reason", "added"):
        view.add_column(column)
    for row in rows:
        covers = "name and sub-names" if row.type == ALLOW_DOMAIN else "exact"
        if row.type == "cidr":
            covers = "network"
        view.add_row(
            row.type, row.value, covers, row.reason, format_rfc3339(row.created)
        )
    console.print(view)


def register(app: typer.Typer) -> None:
    """Add the ``allow`` command group to ``app``."""
    app.add_typer(allow_app, name="allow")
