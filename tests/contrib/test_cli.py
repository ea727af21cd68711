"""``medisac contribute`` and ``medisac review contribution``."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from medisac.cli.main import app
from medisac.contrib.service import list_contributions
from tests.conftest import Store
from tests.contrib.test_reports import ioc_report
from tests.contrib.test_service import RECIPIENT, forwarded_phish

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def run(store: Store, *args: str, **env: str) -> tuple[int, str]:
    """Run a command in-process; return its exit code and output."""
    result = CliRunner().invoke(
        app, list(args), env={"MEDISAC_DB": store.url, "COLUMNS": "200", **env}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_contribute_eml(store: Store, tmp_path: Path, eml_dir: Path) -> None:
    missing = tmp_path / "missing.eml"
    code, output = run(
        store,
        "contribute",
        "eml",
        str(eml_dir / "phishing_pot_sample-478.eml"),
        str(missing),
    )
    assert code == 1
    assert "contribution 1" in output
    assert "missing.eml: cannot be read" in output
    assert len(list_contributions(store.engine)) == 1


def test_contribute_report_errors(store: Store, tmp_path: Path) -> None:
    from fpdf import FPDF

    scan = FPDF()
    scan.add_page()
    scan.rect(20, 20, 100, 100, style="F")
    (tmp_path / "scan.pdf").write_bytes(bytes(scan.output()))
    (tmp_path / "iocs.pdf").write_bytes(ioc_report())
    code, output = run(
        store,
        "contribute",
        "report",
        str(tmp_path / "scan.pdf"),
        str(tmp_path / "iocs.pdf"),
    )
    assert code == 1
    assert "scan.pdf: the PDF's 1 pages have no text layer" in output
    assert "iocs.pdf: contribution 1" in output


def test_size_limit(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "big.eml"
    path.write_bytes(b"From: a@b.net\r\n\r\n" + b"x" * 4000)
    code, output = run(
        store, "contribute", "eml", str(path), MEDISAC_MAX_CONTRIBUTION_BYTES="1000"
    )
    assert code == 1
    assert "over the limit of 1,000 bytes" in output


def test_review_one_pass(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "fwd.eml"
    path.write_bytes(forwarded_phish())
    assert run(store, "contribute", "eml", str(path))[0] == 0
    code, output = run(store, "review", "contribution", "show", "1", "--json")
    assert code == 0
    shown = orjson.loads(output)
    assert RECIPIENT not in output
    assert shown["items"]
    code, output = run(
        store,
        "review",
        "contribution",
        "decide",
        "1",
        "--accept",
        "proposed",
        "--reject",
        "rest",
    )
    assert code == 0, output
    assert "reviewed" in output
    code, output = run(
        store, "review", "contribution", "list", "--status", "reviewed", "--json"
    )
    assert [item["filename"] for item in orjson.loads(output)] == ["fwd.eml"]


def test_edit_and_confidence(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "fwd.eml"
    path.write_bytes(forwarded_phish())
    run(store, "contribute", "eml", str(path))
    items = orjson.loads(
        run(store, "review", "contribution", "show", "1", "--json")[1]
    )["items"]
    first = items[0]["id"]
    code, output = run(
        store, "review", "contribution", "decide", "1",
        "--edit", f"{first}=hxxp://mailbox-quota[.]net/x", "--type", f"{first}=url",
        "--confidence", f"{first}=90", "--reject", "rest",
    )  # fmt: skip
    assert code == 0, output
    shown = orjson.loads(run(store, "review", "contribution", "show", "1", "--json")[1])
    edited = {item["id"]: item for item in shown["items"]}[first]
    assert edited["final_value"] == "http://mailbox-quota.net/x"


def test_bad_edit_message(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "fwd.eml"
    path.write_bytes(forwarded_phish())
    run(store, "contribute", "eml", str(path))
    items = orjson.loads(
        run(store, "review", "contribution", "show", "1", "--json")[1]
    )["items"]
    first = items[0]["id"]
    code, output = run(
        store, "review", "contribution", "decide", "1", "--edit", f"{first}=300.1.1.1",
        "--type", f"{first}=ipv4",
    )  # fmt: skip
    assert code == 1
    assert f"item {first}: '300.1.1.1' is not a valid ipv4" in output


def test_submission_review_still_works(store: Store) -> None:
    code, output = run(store, "review", "list")
    assert code == 0
    assert "received" in output
