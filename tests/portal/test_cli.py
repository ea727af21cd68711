"""``medisac user`` as an operator runs it.

The command code is the same on both stores, so these run on SQLite.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from medisac.cli.main import app
from medisac.members.orgs import add_org
from medisac.portal.users import verify_login
from medisac.store.engine import begin_write
from tests.conftest import Store
from tests.portal.conftest import PASSWORD

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _run(store: Store, *args: str, password: str = PASSWORD) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        list(args),
        env={
            "MEDISAC_DB": store.url,
            "MEDISAC_USER_PASSWORD": password,
            "COLUMNS": "200",
        },
    )
    return result.exit_code, result.output


def test_user_add_and_sign_in(store: Store) -> None:
    with begin_write(store.engine) as conn:
        add_org(conn, "Valley Clinic")
    code, output = _run(
        store,
        "user",
        "add",
        "Sam@Valley.example",
        "--role",
        "member-admin",
        "--org",
        "Valley Clinic",
        "--name",
        "Sam Rivera",
    )
    assert code == 0, output
    assert "added sam@valley.example (member-admin of org-" in output
    with begin_write(store.engine) as conn:
        user = verify_login(conn, "sam@valley.example", PASSWORD)
    assert user is not None
    code, output = _run(store, "user", "list")
    assert "sam@valley.example" in output


def test_user_add_short_password(store: Store) -> None:
    result = CliRunner().invoke(
        app,
        ["user", "add", "ana@exchange.example", "--role", "analyst"],
        env={"MEDISAC_DB": store.url, "MEDISAC_USER_PASSWORD": "short"},
    )
    assert result.exit_code == 1
    assert "at least 12 characters" in str(result.exception)


def test_user_disable(store: Store) -> None:
    _run(store, "user", "add", "ana@exchange.example", "--role", "analyst")
    code, output = _run(store, "user", "disable", "ana@exchange.example")
    assert code == 0, output
    with begin_write(store.engine) as conn:
        assert verify_login(conn, "ana@exchange.example", PASSWORD) is None
