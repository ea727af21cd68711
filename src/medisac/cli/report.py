"""``medisac report``: the monthly healthcare threat report as HTML and PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from medisac.cli.options import DbOption, opened_store
from medisac.model.time import parse_rfc3339
from medisac.report.build import STEPS, build_report

err_console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``."""

    @app.command("report")
    def report(
        month: Annotated[
            str, typer.Option("--month", help="The month to report on, as YYYY-MM.")
        ],
        output: Annotated[
            Path,
            typer.Option(
                "--output",
                "-o",
                help="Folder to write report.html and report.pdf into.",
                file_okay=False,
            ),
        ],
        org: Annotated[
            str | None,
            typer.Option(
                "--org",
                help="Build this member's edition (id or name) instead of the "
                "community edition.",
            ),
        ] = None,
        at: Annotated[
            str | None,
            typer.Option(
                "--at",
                help="Generation time printed in the report (RFC 3339); default "
                "now. A fixed time makes rebuilt reports byte-identical.",
            ),
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Build the monthly report, store it for serving and, for the
        community edition, publish it in the TAXII advisories collection."""
        try:
            now = None if at is None else parse_rfc3339(at)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--at") from None
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        with (
            opened_store(db) as engine,
            Progress(*columns, console=err_console, transient=True) as progress,
        ):
            task = progress.add_task("report", total=len(STEPS))

            def step(name: str) -> None:
                progress.update(
                    task, completed=STEPS.index(name), description=f"report: {name}"
                )

            files = build_report(
                engine, month, org_id=org, out_dir=output, now=now, on_step=step
            )
            progress.update(task, completed=len(STEPS))
        typer.echo(f"wrote {files.html}")
        typer.echo(f"wrote {files.pdf}")
        if files.stix_id is not None:
            typer.echo(f"published {files.stix_id} in the advisories collection")
