"""The ``medisac`` entry point, and the one place errors become exit codes.

Exit codes: 0 when every input was read and stored; 1 when any input or record
was rejected (the rest are stored) or a command failed; 2 for usage errors.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console
from rich.logging import RichHandler
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from medisac import __version__
from medisac.cli import allow as allow_cmd
from medisac.cli import analyst as analyst_cmd
from medisac.cli import contrib as contrib_cmd
from medisac.cli import export as export_cmd
from medisac.cli import feeds as feeds_cmd
from medisac.cli import hunt as hunt_cmd
from medisac.cli import ingest as ingest_cmd
from medisac.cli import members as members_cmd
from medisac.cli import portal as portal_cmd
from medisac.cli import report as report_cmd
from medisac.cli import review as review_cmd
from medisac.cli import serve as serve_cmd
from medisac.cli import store as store_cmd
from medisac.cli import vulns as vulns_cmd
from medisac.cli import worker as worker_cmd
from medisac.errors import ConfigError, MedisacError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

err_console = Console(stderr=True)

app = typer.Typer(
    name="medisac",
    help="An open cyber threat exchange for healthcare.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"medisac {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="Log more: -v for INFO, -vv for DEBUG."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Collect, merge and serve threat intelligence for a healthcare community."""
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, markup=False)],
        force=True,
    )


store_cmd.register(app)
ingest_cmd.register(app)
serve_cmd.register(app)
export_cmd.register(app)
allow_cmd.register(app)
analyst_cmd.register(app)
feeds_cmd.register(app)
members_cmd.register(app)
portal_cmd.register(app)
review_cmd.register(app)
contrib_cmd.register(app)
hunt_cmd.register(app)
vulns_cmd.register(app)
report_cmd.register(app)
worker_cmd.register(app)


def run() -> None:
    """Run the command line and map medisac errors to exit codes."""
    try:
        app(standalone_mode=True)
    except ConfigError as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(EXIT_USAGE)
    except MedisacError as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(EXIT_FAILED)
    except SQLAlchemyError as exc:
        # The store is unreachable, not a database, or read-only; the
        # driver's first line says which.
        detail = str(exc.orig if isinstance(exc, DBAPIError) else exc).splitlines()[0]
        err_console.print(f"error: cannot use the store: {detail}", markup=False)
        sys.exit(EXIT_FAILED)
