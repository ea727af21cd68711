"""``medisac contribute`` and ``medisac review contribution``.

``contribute eml FILE...`` and ``contribute report FILE...`` store each file
as a draft for review. A file that cannot be read is reported with the
reason, and the others are still stored. ``review contribution`` lists the
drafts, shows one with its proposals, and applies an analyst's decisions on
all of its items in one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.engine import Engine

from medisac.cli.options import DbOption, opened_store, parse_tlp
from medisac.cli.review import review_app
from medisac.contrib.errors import (
    ContributionError,
    ContributionNotFound,
    DecisionError,
)
from medisac.contrib.service import (
    ContributionView,
    ItemDecision,
    decide,
    get_contribution,
    list_contributions,
    max_contribution_bytes,
    submit_email,
    submit_report,
)
from medisac.members.orgs import OrgNotFound, get_org
from medisac.model.time import format_rfc3339

contribute_app = typer.Typer(
    help="Send phishing e-mails and research reports for review.", no_args_is_help=True
)
contribution_app = typer.Typer(
    help="Review contributed e-mails and reports.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)

FilesArgument = Annotated[
    list[Path],
    typer.Argument(metavar="FILE...", help="Files to contribute.", show_default=False),
]
OrgOption = Annotated[
    str | None,
    typer.Option(
        "--org",
        help="The member organisation (id or name) the files come from; "
        "default: the exchange's own analysts.",
    ),
]


def _org_id(engine: Engine, org: str | None) -> str | None:
    if org is None:
        return None
    with engine.connect() as conn:
        try:
            return get_org(conn, org).id
        except OrgNotFound as exc:
            raise typer.BadParameter(str(exc), param_hint="--org") from None


def _contribute(
    files: list[Path],
    db: str | None,
    org: str | None,
    submit: Callable[[Engine, bytes, str, str | None], int],
) -> None:
    failed = 0
    limit = max_contribution_bytes()
    with opened_store(db) as engine:
        org_id = _org_id(engine, org)
        with Progress(console=err_console, transient=True) as progress:
            task = progress.add_task("contributing", total=len(files))
            for path in files:
                try:
                    size = path.stat().st_size
                    if size > limit:
                        # Checked before reading, so a huge file is never loaded.
                        raise ContributionError(
                            str(path),
                            f"the file is {size:,} bytes, over the limit of {limit:,} "
                            "bytes for one contribution; raise "
                            "MEDISAC_MAX_CONTRIBUTION_BYTES if it is trusted",
                        )
                    data = path.read_bytes()
                    contribution_id = submit(engine, data, str(path), org_id)
                except OSError as exc:
                    failed += 1
                    err_console.print(
                        f"{path}: cannot be read: {exc.strerror or exc}",
                        markup=False,
                        soft_wrap=True,
                    )
                except ContributionError as exc:
                    failed += 1
                    err_console.print(str(exc), markup=False, soft_wrap=True)
                else:
                    view = get_contribution(engine, contribution_id, org_id=None)
                    assert view is not None
                    typer.echo(
                        f"{path}: contribution {contribution_id}, "
                        f"{view.summary.proposed} values proposed, "
                        f"{view.summary.set_aside} set aside as context"
                    )
                progress.advance(task)
    if failed:
        raise typer.Exit(1)


@contribute_app.command("eml")
def contribute_eml(
    files: FilesArgument, org: OrgOption = None, db: DbOption = None
) -> None:
    """Store phishing e-mails (.eml, also forwarded ones) as drafts for review."""

    def submit(engine: Engine, data: bytes, name: str, org_id: str | None) -> int:
        return submit_email(engine, data, filename=name, org_id=org_id)

    _contribute(files, db, org, submit)


@contribute_app.command("report")
def contribute_report(
    files: FilesArgument,
    org: OrgOption = None,
    publisher: Annotated[
        list[str] | None,
        typer.Option(
            "--publisher",
            help="A domain of the report's publisher; its values are set aside "
            "as context. Repeat for several.",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Store research reports (PDF, HTML, Markdown, text) as drafts for review."""

    def submit(engine: Engine, data: bytes, name: str, org_id: str | None) -> int:
        return submit_report(
            engine, data, filename=name, org_id=org_id, publisher=publisher or ()
        )

    _contribute(files, db, org, submit)


@contribution_app.command("list")
def contribution_list(
    status: Annotated[
        str, typer.Option("--status", help="pending, reviewed or all.")
    ] = "pending",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
) -> None:
    """List contributions, the oldest first."""
    if status not in ("pending", "reviewed", "all"):
        raise typer.BadParameter(
            f"unknown status {status!r}; use pending, reviewed or all",
            param_hint="--status",
        )
    with opened_store(db) as engine:
        found = list_contributions(engine, status=None if status == "all" else status)
    if as_json:
        rows = [asdict(item) for item in found]
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("id", "received", "kind", "status", "proposed", "context", "pending")
    table.add_column("file", overflow="fold")
    table.add_column("organisation", no_wrap=True)
    for item in found:
        table.add_row(
            str(item.id),
            format_rfc3339(item.received, digits=0),
            item.kind,
            item.status,
            str(item.proposed),
            str(item.set_aside),
            str(item.pending),
            item.filename,
            item.org_id or "-",
        )
    console.print(table)


def _view_json(view: ContributionView, original: bool) -> dict[str, Any]:
    return {
        "id": view.summary.id,
        "org_id": view.summary.org_id,
        "kind": view.summary.kind,
        "filename": view.summary.filename,
        "status": view.summary.status,
        "warnings": view.warnings,
        "analysis": view.original_analysis if original else view.analysis,
        "items": [
            {
                "id": item.id,
                "type": item.type,
                "value": item.value,
                "proposal": item.proposal,
                "confidence": item.confidence,
                "reason": item.reason,
                "section": item.section,
                "related": item.related,
                "context": item.context_original if original else item.context,
                "decision": item.decision,
                "final_value": item.final_value,
            }
            for item in view.items
        ],
    }


@contribution_app.command("show")
def contribution_show(
    contribution_id: Annotated[int, typer.Argument(metavar="ID")],
    original: Annotated[
        bool,
        typer.Option(
            "--original",
            help="Show the analysis and contexts as received, with personal data; "
            "for analysts only.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Show a contribution's proposals: type, value, confidence and reason."""
    with opened_store(db) as engine:
        view = get_contribution(engine, contribution_id, org_id=None)
    if view is None:
        raise ContributionNotFound(
            f"no contribution {contribution_id}; `medisac review contribution list` "
            "shows them"
        )
    if as_json:
        body = _view_json(view, original)
        typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    summary = view.summary
    typer.echo(
        f"contribution {summary.id}: {summary.kind} {summary.filename} "
        f"({summary.format}, {summary.size:,} bytes) "
        f"from {summary.org_id or 'analysts'}, "
        f"{summary.status}, {summary.redactions} redactions"
    )
    for warning in view.warnings:
        typer.echo(f"warning: {warning}")
    table = Table("item", "proposal", "type", "confidence", "decision")
    table.add_column("value", overflow="fold")
    table.add_column("reason", overflow="fold")
    table.add_column("context", overflow="fold")
    for item in view.items:
        table.add_row(
            str(item.id),
            item.proposal,
            item.type,
            str(item.confidence),
            item.decision,
            item.value,
            item.reason,
            (item.context_original if original else item.context)[:200],
        )
    console.print(table)


def _ids(text: str, option: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a list of item ids separated by commas", param_hint=option
        ) from None


def _pairs(values: list[str], option: str) -> dict[int, str]:
    found = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key.strip().isdigit():
            raise typer.BadParameter(
                f"{text!r} is not ITEM=VALUE, such as 12=evil.example",
                param_hint=option,
            )
        found[int(key)] = value
    return found


def _decisions(
    view: ContributionView,
    accept: list[str],
    reject: list[str],
    edit: list[str],
    types: list[str],
    confidences: list[str],
) -> dict[int, ItemDecision]:
    pending = [item for item in view.items if item.decision == "pending"]
    accepted: set[int] = set()
    rejected: set[int] = set()
    for text in accept:
        if text == "proposed":
            accepted.update(item.id for item in pending if item.proposal == "indicator")
        else:
            accepted.update(_ids(text, "--accept"))
    edits = _pairs(edit, "--edit")
    new_types = _pairs(types, "--type")
    levels: dict[int, int] = {}
    for key, value in _pairs(confidences, "--confidence").items():
        if not value.isdigit():
            raise typer.BadParameter(
                f"confidence {value!r} of item {key} is not a whole number",
                param_hint="--confidence",
            )
        levels[key] = int(value)
    for text in reject:
        if text == "rest":
            decided = accepted | set(edits) | set(new_types)
            rejected.update(item.id for item in pending if item.id not in decided)
        else:
            rejected.update(_ids(text, "--reject"))
    both = accepted & rejected
    if both:
        raise typer.BadParameter(
            f"items {sorted(both)} are both accepted and rejected",
            param_hint="--reject",
        )
    decisions: dict[int, ItemDecision] = {}
    for item_id in accepted - set(edits) - set(new_types):
        decisions[item_id] = ItemDecision("accept", confidence=levels.get(item_id))
    for item_id in set(edits) | set(new_types):
        decisions[item_id] = ItemDecision(
            "edit",
            value=edits.get(item_id),
            type=new_types.get(item_id),
            confidence=levels.get(item_id),
        )
    for item_id in rejected:
        decisions[item_id] = ItemDecision("reject")
    return decisions


@contribution_app.command("decide")
def contribution_decide(
    contribution_id: Annotated[int, typer.Argument(metavar="ID")],
    accept: Annotated[
        list[str] | None,
        typer.Option(
            "--accept",
            help="Item ids to publish, separated by commas, or 'proposed' for "
            "every pending item proposed as an indicator.",
        ),
    ] = None,
    reject: Annotated[
        list[str] | None,
        typer.Option(
            "--reject",
            help="Item ids to reject, or 'rest' for every pending item not "
            "accepted or edited in this pass.",
        ),
    ] = None,
    edit: Annotated[
        list[str] | None,
        typer.Option("--edit", help="ITEM=VALUE: publish the item with this value."),
    ] = None,
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", help="ITEM=TYPE: publish the item as this type."),
    ] = None,
    confidence: Annotated[
        list[str] | None,
        typer.Option("--confidence", help="ITEM=N: publish with confidence N (0-100)."),
    ] = None,
    analyst: Annotated[
        str, typer.Option("--analyst", help="Who decided, for the audit log.")
    ] = "operator",
    tlp: Annotated[
        str, typer.Option("--tlp", help="TLP of the published values.")
    ] = "green",
    db: DbOption = None,
) -> None:
    """Accept, edit or reject a contribution's items in one pass."""
    level = parse_tlp(tlp)
    with opened_store(db) as engine:
        view = get_contribution(engine, contribution_id, org_id=None)
        if view is None:
            raise ContributionNotFound(
                f"no contribution {contribution_id}; `medisac review contribution "
                "list` shows them"
            )
        decisions = _decisions(
            view, accept or [], reject or [], edit or [], type_ or [], confidence or []
        )
        if not decisions:
            raise typer.BadParameter(
                "no decisions given; use --accept, --reject or --edit",
                param_hint="--accept",
            )
        try:
            result = decide(
                engine, contribution_id, decisions, analyst=analyst, tlp=level
            )
        except DecisionError as exc:
            err_console.print(
                f"error: {exc}; nothing was changed", markup=False, soft_wrap=True
            )
            raise typer.Exit(1) from None
    typer.echo(
        f"contribution {result.contribution_id}: {result.accepted} accepted, "
        f"{result.edited} edited, {result.rejected} rejected, "
        f"{result.pending} pending; "
        f"{result.stored} values stored, {result.ingest_rejected} rejected by ingest; "
        f"{result.status}"
    )
    for message in result.messages:
        err_console.print(message, markup=False, soft_wrap=True)
    if result.ingest_rejected:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``contribute`` to ``app`` and ``contribution`` to ``review``."""
    app.add_typer(contribute_app, name="contribute")
    review_app.add_typer(contribution_app, name="contribution")
