"""``medisac review``: the analyst's queue of member submissions."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from medisac.cli.options import DbOption, opened_store
from medisac.members.submissions import (
    SubmissionStatus,
    get_submission,
    list_submissions,
    publish,
    reject,
)
from medisac.model.time import format_rfc3339

review_app = typer.Typer(help="Review member submissions.", no_args_is_help=True)
console = Console()


@review_app.command("list")
def review_list(
    status: Annotated[
        str,
        typer.Option("--status", help="pending, accepted, rejected, failed or all."),
    ] = "pending",
    db: DbOption = None,
) -> None:
    """List submissions, the oldest first."""
    chosen = None
    if status != "all":
        try:
            chosen = SubmissionStatus(status)
        except ValueError:
            raise typer.BadParameter(
                f"unknown status {status!r}; use pending, accepted, rejected, "
                "failed or all",
                param_hint="--status",
            ) from None
    with opened_store(db) as engine:
        with engine.connect() as conn:
            found = list_submissions(conn, chosen)
        table = Table("received", "status", "values", "redactions")
        # Ids are copied into other commands, so they are never wrapped.
        table.add_column("id", no_wrap=True)
        table.add_column("organisation", no_wrap=True)
        for item in found:
            table.add_row(
                format_rfc3339(item.received, digits=0),
                item.status.value,
                str(_value_count(item.scrubbed)),
                str(item.redactions),
                item.id,
                item.org_id,
            )
        console.print(table)


def _value_count(body: Any) -> int:
    """Return the number of indicators or STIX objects a body carries."""
    if not isinstance(body, dict):
        return 0
    items = body.get("indicators", body.get("objects"))
    return len(items) if isinstance(items, list) else 0


@review_app.command("show")
def review_show(
    submission_id: Annotated[str, typer.Argument(metavar="ID")],
    original: Annotated[
        bool,
        typer.Option(
            "--original",
            help="Show the body as received, with personal data; for analysts only.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Print a submission's scrubbed body, or with --original the body received."""
    with opened_store(db) as engine:
        with engine.connect() as conn:
            item = get_submission(conn, submission_id)
        typer.echo(
            f"{item.id} from {item.org_id}: {item.status.value}, "
            f"{item.redactions} redactions" + (f"; {item.note}" if item.note else ""),
            err=True,
        )
        body = item.original if original else item.scrubbed
        typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())


@review_app.command("accept")
def review_accept(
    submission_id: Annotated[str, typer.Argument(metavar="ID")],
    db: DbOption = None,
) -> None:
    """Publish a pending submission's scrubbed values."""
    with opened_store(db) as engine:
        with engine.connect() as conn:
            item = get_submission(conn, submission_id)
        if item.status is not SubmissionStatus.PENDING:
            raise typer.BadParameter(
                f"submission {submission_id} is {item.status.value}, not pending"
            )
        done = publish(engine, submission_id, reviewer="operator")
        typer.echo(
            f"{done.id}: {done.status.value}, {done.published} values stored, "
            f"{done.rejected} rejected"
        )
        if done.status is SubmissionStatus.FAILED:
            raise typer.Exit(1)


@review_app.command("reject")
def review_reject(
    submission_id: Annotated[str, typer.Argument(metavar="ID")],
    note: Annotated[
        str, typer.Option("--note", help="Why, for the record and the member.")
    ],
    db: DbOption = None,
) -> None:
    """Reject a pending submission; nothing of it is published."""
    with opened_store(db) as engine:
        done = reject(engine, submission_id, note, reviewer="operator")
        typer.echo(f"{done.id}: {done.status.value}")


def register(app: typer.Typer) -> None:
    """Add ``review`` to ``app``."""
    app.add_typer(review_app, name="review")
