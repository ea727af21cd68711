"""CSV export: RFC 4180 read back by Python's csv module, no formula cells."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from medisac.export.csvexport import (
    COLUMNS,
    FORMULA_PREFIX,
    FORMULA_STARTS,
    format_row,
    needs_prefix,
    unescape_cell,
    write_csv,
)
from medisac.export.select import ExportFilter
from medisac.model import TLP
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text, records

# Text that leans towards the characters the escaping is about.
_HOSTILE = st.text(
    alphabet=st.one_of(
        st.sampled_from([*sorted(FORMULA_STARTS), "'", '"', ",", "\n", " ", ";"]),
        st.characters(codec="utf-8"),
    )
)


def csv_bytes(store: Store, *, bom: bool = False) -> bytes:
    out = io.BytesIO()
    with store.engine.connect() as conn:
        write_csv(conn, ExportFilter(tlp=TLP.RED), out, bom=bom)
    return out.getvalue()


def read_cells(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def assert_no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert cell[:1] not in FORMULA_STARTS, row
            assert cell.lstrip(" \n")[:1] not in FORMULA_STARTS, row


def by_value(rows: list[list[str]]) -> dict[str, dict[str, str]]:
    header, *body = rows
    found = {}
    for row in body:
        cells = dict(zip(header, row, strict=True))
        found[unescape_cell(cells["value"])] = cells
    return found


@given(st.lists(_HOSTILE, min_size=1, max_size=6))
def test_cells_round_trip(cells: list[str]) -> None:
    line = format_row(cells)
    read = list(csv.reader(io.StringIO(line, newline="")))
    assert len(read) == 1
    expected = [FORMULA_PREFIX + c if needs_prefix(c) else c for c in cells]
    assert read[0] == expected
    assert [unescape_cell(cell) for cell in read[0]] == cells
    assert_no_formula(read)


@given(_HOSTILE)
def test_prefixed_cells_are_quoted(text: str) -> None:
    cell = format_row([text])[:-2]
    if needs_prefix(text):
        assert cell.startswith('"' + FORMULA_PREFIX)
        assert cell.endswith('"')


@pytest.mark.parametrize(
    "text",
    ["=1+2", "+1", "-1", "@SUM(A1)", "\t=x", "\r=x", " =x", "\n=x", "\uff1d1+1"],
)
def test_formula_starts_prefixed(text: str) -> None:
    line = format_row([text])
    assert line == '"' + FORMULA_PREFIX + text + '"\r\n'


def test_own_quote_kept_apart() -> None:
    # A stored value that already starts with "'" and then a formula
    # character gets one more "'", so removing one gives it back.
    assert format_row(["'=x"]) == "\"''=x\"\r\n"
    assert unescape_cell("''=x") == "'=x"
    assert format_row(["'plain"]) == "'plain\r\n"
    assert unescape_cell("'plain") == "'plain"


def test_b21_no_formula_cells(store: Store, cases_dir: Path) -> None:
    ingest_paths(
        store.engine,
        [cases_dir / "B21-csv-formula-injection.csv"],
        source="+b21-feed",
        fmt="csv",
    )
    stored = records(store.engine)
    assert ("filename", "=1+2.xlsm") in stored
    assert ("filename", "@SUM(A1-A9).js") in stored
    assert ("filename", "-rf.sh") in stored
    data = csv_bytes(store)
    assert data.endswith(b"\r\n")
    rows = read_cells(data)
    assert rows[0] == list(COLUMNS)
    assert_no_formula(rows)
    found = by_value(rows)
    assert set(found) == {value for _, value in stored}
    assert found["=1+2.xlsm"]["value"] == "'=1+2.xlsm"
    assert found["@SUM(A1-A9).js"]["value"] == "'@SUM(A1-A9).js"
    assert found["-rf.sh"]["value"] == "'-rf.sh"
    assert found["-rf.sh"]["sources"] == "'+b21-feed"
    assert "'-2+3" in found["-rf.sh"]["tags"].split(";")
    # Cells with nothing to neutralise are written as stored.
    domain = found["billing-portal.example.net"]
    assert domain["value"] == "billing-portal.example.net"
    assert domain["type"] == "domain"


def test_hostile_values_round_trip(store: Store, tmp_path: Path) -> None:
    values = [
        "=cmd|' /C calc'!A0.exe",
        "\uff1d1+1.exe",
        "\ufe62plus.exe",
        'report, final "v2".docm',
        "'=already-quoted.js",
        "r\u00e9sum\u00e9;\\payload.scr",
        "@" + "a" * 200 + ".bin",
    ]
    rows = ["value,type,tags"]
    for value in values:
        quoted = value.replace('"', '""')
        rows.append(f'"{quoted}",filename,"=HYPERLINK(""x"")"')
    ingest_text(
        store.engine, tmp_path, "\r\n".join(rows) + "\r\n", name="in.csv", fmt="csv"
    )
    stored = {value for kind, value in records(store.engine) if kind == "filename"}
    # An input cell of ' and a formula is read as a spreadsheet-safe escape.
    assert stored == {value.removeprefix("'") for value in values}
    cells = read_cells(csv_bytes(store))
    assert_no_formula(cells)
    found = by_value(cells)
    assert set(found) == stored
    for value in stored:
        assert found[value]["tags"] == '\'=HYPERLINK("x")'


def test_hostile_values_reingest_unchanged(
    store: Store, tmp_path: Path, second_engine: Engine
) -> None:
    values = [
        "=cmd|' /C calc'!A0.exe",
        "+plus.exe",
        "-minus.exe",
        "@at.exe",
        "\uff1d1+1.exe",
        "'quoted-once.exe",
        "plain.exe",
    ]
    event = {
        "Event": {
            "uuid": "5a1b2c3d-0000-4000-8000-0000000000cd",
            "info": "hostile names",
            "Attribute": [{"type": "filename", "value": value} for value in values],
        }
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    ingest_paths(store.engine, [path], fmt="misp", source="hostile")
    assert records(store.engine) == {("filename", value) for value in values}
    exported = tmp_path / "out.csv"
    exported.write_bytes(csv_bytes(store))
    summary = ingest_paths(second_engine, [exported], source="round-trip")
    assert summary.rejected == 0
    assert records(second_engine) == records(store.engine)


def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    from medisac.store.engine import begin_write, create_engine
    from medisac.store.migrate import upgrade
    from medisac.store.publish import publish_static

    engine = create_engine(f"sqlite:///{tmp_path / 'second.db'}")
    upgrade(engine)
    with begin_write(engine) as conn:
        publish_static(conn)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def second_engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty SQLite store beside the test's own store."""
    yield from empty_engine(tmp_path)


@pytest.mark.parametrize("bom", [False, True])
def test_b22_export_ingests_back(
    store: Store,
    cases_dir: Path,
    tmp_path: Path,
    second_engine: Engine,
    bom: bool,
) -> None:
    ingest_paths(store.engine, [cases_dir / "B22-csv-bom-crlf.csv"], source="b22")
    expected = {
        ("domain", "update-check.example.net"),
        ("ipv4", "198.51.100.31"),
        ("url", "http://files.example.org/kit.zip"),
        ("ipv6", "2001:db8::31"),
    }
    assert records(store.engine) == expected
    data = csv_bytes(store, bom=bom)
    assert data.startswith(b"\xef\xbb\xbf") is bom
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    assert len(lines) == 6
    found = by_value(read_cells(data))
    assert found["198.51.100.31"]["first_seen"] == "2024-04-01T10:05:00Z"
    path = tmp_path / "out.csv"
    path.write_bytes(data)
    summary = ingest_paths(second_engine, [path], source="round-trip")
    assert summary.rejected == 0
    assert records(second_engine) == expected


def test_csv_columns_and_filter(store: Store, tmp_path: Path) -> None:
    ingest_text(
        store.engine,
        tmp_path,
        "198.51.100.40\ncolumns.example.org\n",
        tlp=TLP.AMBER,
        confidence=70,
    )
    out = io.BytesIO()
    with store.engine.connect() as conn:
        count = write_csv(conn, ExportFilter(tlp=TLP.GREEN), out)
    assert count == 0
    assert read_cells(out.getvalue()) == [list(COLUMNS)]
    found = by_value(read_cells(csv_bytes(store)))
    assert set(found) == {"198.51.100.40", "columns.example.org"}
    row = found["198.51.100.40"]
    assert row["type"] == "ipv4"
    assert row["tlp"] == "AMBER"
    assert row["sources"] == "test"
    assert row["healthcare"] in {"true", "false"}
    assert row["stix_id"].startswith("indicator--")
    assert 0 <= int(row["confidence"]) <= 100
    assert row["first_seen"].endswith("Z")
