"""``medisac vulns`` and ``medisac inventory`` as a user runs them.

The command-line code is the same on both stores, so these run on SQLite.
Most steps run in-process; the exit codes and messages of failures come
from the real ``medisac`` command.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medisac.cli.main import app
from medisac.members.orgs import add_org
from medisac.store.engine import begin_write
from tests.cli.test_cli import medisac
from tests.conftest import Store

B34 = "B34-csaf-branch-shapes.json"

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def run(store: Store, *args: str) -> tuple[int, str]:
    """Run a command in-process; return its exit code and output."""
    result = CliRunner().invoke(
        app, list(args), env={"MEDISAC_DB": store.url, "COLUMNS": "200"}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_inventory_and_matches(store: Store, cases_dir: Path, tmp_path: Path) -> None:
    with begin_write(store.engine) as conn:
        add_org(conn, "pump-clinic")
    inventory = tmp_path / "assets.csv"
    inventory.write_text(
        "vendor,product,version\n"
        "Example Medical,InfusionPump X,2.1.0\n"
        "example_medical,Infusion Pump X,2.5.0\n"
        "Example Medical,InfusionPump X,3.0.0\n"
        ",missing vendor,1\n",
        encoding="utf-8",
    )
    imported = medisac(
        "inventory", "import", "pump-clinic", str(inventory), db=store.url
    )
    assert imported.returncode == 1, imported.stderr
    assert "3 items added" in imported.stdout
    assert "line 5: column vendor is empty" in imported.stderr

    ingested = medisac("ingest", str(cases_dir / B34), "--source", "b34", db=store.url)
    assert ingested.returncode == 0, ingested.stderr

    code, output = run(store, "vulns", "for", "pump-clinic", "--json")
    assert code == 0
    matches = json.loads(output)
    assert [(m["cve"], m["asset"]["version"]) for m in matches] == [
        ("CVE-2099-0001", "2.1.0"),
        ("CVE-2099-0001", "2.5.0"),
    ]
    code, output = run(store, "vulns", "for", "pump-clinic")
    assert "CVE-2099-0001" in output
    assert "certain" in output

    code, output = run(store, "vulns", "show", "cve-2099-0001", "--json")
    assert json.loads(output)["documents"][0]["id"] == "EXMED-2024-0007"
    code, output = run(store, "inventory", "list", "pump-clinic", "--json")
    assert len(json.loads(output)) == 3
    code, output = run(store, "vulns", "export", "--format", "stix")
    bundle = json.loads(output)
    names = [o["name"] for o in bundle["objects"] if o["type"] == "vulnerability"]
    assert names == ["CVE-2099-0001"]


def test_failures_exit_one(store: Store, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not an advisory\n", encoding="utf-8")
    result = medisac("vulns", "ingest", str(notes), db=store.url)
    assert result.returncode == 1
    assert "failed input" in result.stderr
    unknown = medisac("vulns", "for", "no-such-org", db=store.url)
    assert unknown.returncode == 1
    assert "no organisation" in unknown.stderr


def test_mark_healthcare(store: Store, cases_dir: Path) -> None:
    code, _ = run(store, "vulns", "ingest", str(cases_dir / B34))
    assert code == 0
    code, output = run(store, "vulns", "mark", "CVE-2099-0001", "--healthcare", "no")
    assert code == 0, output
    code, output = run(store, "vulns", "list", "--healthcare", "--json")
    assert json.loads(output) == []
    run(store, "vulns", "mark", "CVE-2099-0001", "--healthcare", "auto")
    code, output = run(store, "vulns", "list", "--healthcare", "--json")
    assert [v["cve"] for v in json.loads(output)] == ["CVE-2099-0001"]
