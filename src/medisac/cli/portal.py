"""``medisac user``: accounts of people who sign in to the portal."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from medisac.cli.options import DbOption, opened_store
from medisac.model.time import format_rfc3339
from medisac.portal.sessions import SessionManager, load_secret
from medisac.portal.users import (
    Role,
    add_user,
    get_user_by_email,
    list_users,
    set_disabled,
    set_password,
)
from medisac.store.engine import begin_write

user_app = typer.Typer(help="Manage portal accounts.", no_args_is_help=True)
console = Console()

# The name of the environment variable with the password, not a password.
PASSWORD_VARIABLE = "MEDISAC_USER_PASSWORD"  # noqa: S105


def _password(confirm: bool = True) -> str:
    """Read the password from the environment, else ask for it without echo."""
    given = os.environ.get(PASSWORD_VARIABLE)
    if given:
        return given
    text: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return text


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Argument(help="The e-mail address to sign in with.")],
    role: Annotated[
        Role,
        typer.Option(
            "--role", help="member-reader, member-admin, analyst or operator."
        ),
    ] = Role.MEMBER_READER,
    org: Annotated[
        str | None,
        typer.Option("--org", help="The member organisation (id or name)."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="The person's name.")] = "",
    db: DbOption = None,
) -> None:
    """Create an account; the password comes from MEDISAC_USER_PASSWORD or a prompt."""
    password = _password()
    with opened_store(db) as engine, begin_write(engine) as conn:
        user = add_user(conn, email, password, name=name, role=role, org_id=org)
    where = f" of {user.org_id}" if user.org_id else ""
    console.print(
        f"added {user.email} ({user.role.value}{where})", markup=False, highlight=False
    )


@user_app.command("list")
def user_list(
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation's id.")
    ] = None,
    db: DbOption = None,
) -> None:
    """List the accounts."""
    with opened_store(db) as engine, engine.connect() as conn:
        users = list_users(conn, org)
    table = Table()
    for column in ("e-mail", "name", "role", "organisation", "last sign-in", "state"):
        table.add_column(column)
    for user in users:
        table.add_row(
            user.email,
            user.name,
            user.role.value,
            user.org_id or "",
            format_rfc3339(user.last_login) if user.last_login else "",
            "disabled" if user.disabled else "active",
        )
    # A console made now reads the terminal width (COLUMNS) of this run.
    Console().print(table)


@user_app.command("passwd")
def user_passwd(
    email: Annotated[str, typer.Argument(help="The account's e-mail address.")],
    db: DbOption = None,
) -> None:
    """Set a new password; the account's sessions end."""
    password = _password()
    with opened_store(db) as engine, begin_write(engine) as conn:
        set_password(conn, email, password)
        user = get_user_by_email(conn, email)
        SessionManager(engine, load_secret(engine)).end_all(conn, user.id)
    console.print(f"changed the password of {email}", markup=False, highlight=False)


@user_app.command("disable")
def user_disable(
    email: Annotated[str, typer.Argument(help="The account's e-mail address.")],
    enable: Annotated[
        bool, typer.Option("--enable", help="Enable the account again.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Disable an account and end its sessions (or enable it with --enable)."""
    with opened_store(db) as engine:
        secret = load_secret(engine)
        with begin_write(engine) as conn:
            user = set_disabled(conn, email, not enable)
            if not enable:
                SessionManager(engine, secret).end_all(conn, user.id)
    state = "enabled" if enable else "disabled"
    console.print(f"{state} {email}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``user`` to ``app``."""
    app.add_typer(user_app, name="user")
