"""The JSON API under Schemathesis: generated requests over real HTTP, no 5xx."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medisac.model import TLP
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store.engine import begin_write
from medisac.store.keys import create_key
from tests.conftest import Store
from tests.helpers import ingest_text, serving
from tests.members.conftest import add_member


# One store suffices: the generated requests test the API layer, and the
# PostgreSQL paths run under the other API tests.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_api_has_no_server_errors(store: Store, tmp_path: Path) -> None:
    ingest_text(
        store.engine,
        tmp_path,
        "198.51.100.50\nschema.example.org\nhttp://schema.example.org/a\n",
        tlp=TLP.AMBER,
    )
    member = add_member(store, "Schema Clinic", tier="premium", clearance=TLP.AMBER)
    # One key with every member scope reaches every operation.
    with begin_write(store.engine) as conn:
        key = create_key(conn, "schema", "read,submit,sensor", org_id=member.org.id)
    app = create_app(store.engine, Settings.from_env(db=store.url))
    command = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert command is not None, "schemathesis is not installed beside Python"
    with serving(app) as base:
        result = subprocess.run(
            [
                command,
                "run",
                f"{base}/api/v1/openapi.json",
                "--checks",
                "not_a_server_error",
                "--header",
                f"Authorization: Bearer {key}",
                "--max-examples",
                "20",
                "--seed",
                "20261204",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    tested = re.search(r"Tested: (\d+)", output)
    assert tested is not None, output[-3000:]
    assert int(tested.group(1)) >= 10
    summary = output.split("SUMMARY")[-1]
    assert "failed" not in summary, summary
