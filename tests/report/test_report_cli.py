"""``medisac report`` on an empty store, its errors, and month parsing."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medisac.errors import MedisacError
from medisac.report import build_report, list_reports
from medisac.report.period import Month, ReportError, parse_month
from tests.conftest import Store


def medisac(*args: str, store: Store) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEDISAC_DB": store.url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "medisac", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_report_empty_store(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = medisac(
        "report",
        "--month",
        "2025-05",
        "-o",
        str(out),
        "--at",
        "2025-06-01T00:00:00Z",
        store=store,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "No indicators changed this month." in html
    assert "published report--" in result.stdout
    assert [item.month for item in list_reports(store.engine, org_id=None)] == [
        "2025-05"
    ]


@pytest.mark.parametrize(
    ("month", "org", "message"),
    [
        ("2025-13", None, "write it as YYYY-MM"),
        ("0000-01", None, "write it as YYYY-MM"),
        ("2099-01", None, "has not started yet"),
        ("2025-05", "Nobody Clinic", "no organisation has the id or name"),
    ],
)
def test_report_rejects(
    store: Store, tmp_path: Path, month: str, org: str | None, message: str
) -> None:
    with pytest.raises(MedisacError, match=message):
        build_report(store.engine, month, org_id=org, out_dir=tmp_path)
    assert not (tmp_path / "report.html").exists()
    assert list_reports(store.engine, org_id=None, everything=True) == []


@given(st.integers(min_value=1, max_value=9999), st.integers(min_value=1, max_value=12))
def test_month_label_roundtrip(year: int, month: int) -> None:
    parsed = parse_month(f"{year:04d}-{month:02d}")
    assert parsed == Month(year, month)
    assert parsed.label == f"{year:04d}-{month:02d}"


@given(
    st.integers(min_value=1971, max_value=9998), st.integers(min_value=1, max_value=12)
)
def test_month_weeks_cover(year: int, month: int) -> None:
    period = Month(year, month)
    weeks = period.weeks()
    assert weeks[0][1] == period.start
    assert weeks[-1][2] == period.end
    for (_label, _start, end), (_next, start, _end) in itertools.pairwise(weeks):
        assert end == start


@given(st.text(max_size=12))
def test_month_parse_any_text(text: str) -> None:
    try:
        parsed = parse_month(text)
    except ReportError as exc:
        assert "YYYY-MM" in str(exc)
    else:
        assert parsed.label == text.strip()
