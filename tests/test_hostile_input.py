"""Hostile or unusual inputs that broke earlier versions, one test each."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tracemalloc
import uuid
from functools import partial
from pathlib import Path
from typing import IO, Any

from medisac.errors import NormalizationError
from medisac.export.plain import write_plain
from medisac.export.select import ExportFilter
from medisac.ingest.document import Document
from medisac.ingest.options import ParseOptions
from medisac.ingest.stix import parse_stix
from medisac.normalize import normalize
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text, record, records


def _medisac(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEDISAC_DB": db, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "medisac", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _plain_export(store: Store) -> list[str]:
    out = io.BytesIO()
    with store.engine.connect() as conn:
        write_plain(conn, ExportFilter(), out)
    return out.getvalue().decode().splitlines()


def _indicator(number: int, pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=number, version=4)}",
        "created": "2019-01-01T00:00:00Z",
        "modified": "2019-01-01T00:00:00Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2019-01-01T00:00:00Z",
        **extra,
    }


def _open_binary(path: Path) -> IO[bytes]:
    return path.open("rb")


def _bundle(tmp_path: Path, objects: list[dict[str, Any]]) -> Path:
    path = tmp_path / "bundle.json"
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def test_past_valid_until_not_exported(store: Store, tmp_path: Path) -> None:
    expired = _indicator(
        1,
        "[ipv4-addr:value = '198.51.100.51']",
        valid_until="2020-01-01T00:00:00Z",
    )
    path = _bundle(tmp_path, [expired])
    ingest_paths(store.engine, [path], source="stix", fmt="stix")
    row = record(store.engine, "ipv4", "198.51.100.51")
    assert row is not None
    assert row.state != "active", "valid_until 2020-01-01 passed long ago"
    assert "198.51.100.51" not in _plain_export(store)


def test_csv_unclosed_quote_not_silent(store: Store, tmp_path: Path) -> None:
    text = (
        "ip,comment\n"
        '198.51.100.1,"quote never closed\n'
        "198.51.100.2,ok\n198.51.100.3,ok\n198.51.100.4,ok\n"
    )
    summary = ingest_text(store.engine, tmp_path, text, name="q.csv", fmt="csv")
    stored = {value for kind, value in records(store.engine) if kind == "ipv4"}
    reported = summary.rejected + len(summary.failed) + len(summary.warnings)
    lost = {"198.51.100.2", "198.51.100.3", "198.51.100.4"} - stored
    assert not lost or reported, f"{sorted(lost)} lost without any message"


def test_corrupt_store_no_traceback(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a SQLite database\n" * 200)
    for command in (["stats"], ["search", "198.51.100.1"]):
        result = _medisac(*command, db=f"sqlite:///{junk}")
        assert result.returncode == 1, (command, result.stderr)
        assert "Traceback" not in result.stderr, (command, result.stderr[-400:])
        assert str(junk) in result.stderr, (command, result.stderr[-400:])


def test_stix_bundle_memory_bounded(tmp_path: Path) -> None:
    # The objects are skipped types, so the measure is the bundle reader's
    # own memory and not the pattern parser's.
    objects = [
        {
            "type": "course-of-action",
            "spec_version": "2.1",
            "id": f"course-of-action--{uuid.UUID(int=i + 1, version=4)}",
            "created": "2024-01-01T00:00:00.000Z",
            "modified": "2024-01-01T00:00:00.000Z",
            "name": f"Block host number {i}",
        }
        for i in range(20_000)
    ]
    path = _bundle(tmp_path, objects)
    size = path.stat().st_size
    document = Document(str(path), partial(_open_binary, path), 1 << 28)
    tracemalloc.start()
    try:
        items = parse_stix(document, ParseOptions())
        next(items)
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Measured with tracemalloc, the parsed JSON alone is about three times
    # the file size, and a 32-byte hash per object adds little to that.
    assert retained < 6 * size, f"{retained:,} bytes held for a {size:,}-byte file"


def test_plain_cr_only_line_ends(store: Store, tmp_path: Path) -> None:
    text = "198.51.100.84\r198.51.100.85\r198.51.100.86\r"
    summary = ingest_text(store.engine, tmp_path, text)
    assert summary.rejected == 0, summary.rejections
    assert {("ipv4", f"198.51.100.{n}") for n in (84, 85, 86)} <= records(store.engine)


def test_symlink_out_of_directory_not_read(store: Store, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("198.51.100.150\n")
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "list.txt").write_text("198.51.100.151\n")
    (feed / "link.txt").symlink_to(outside)
    ingest_paths(store.engine, [feed], source="feed")
    assert ("ipv4", "198.51.100.151") in records(store.engine)
    assert ("ipv4", "198.51.100.150") not in records(store.engine)


def test_stix_boolean_confidence_not_one(store: Store, tmp_path: Path) -> None:
    flagged = _indicator(2, "[ipv4-addr:value = '198.51.100.57']", confidence=True)
    path = _bundle(tmp_path, [flagged])
    ingest_paths(store.engine, [path], source="stix", fmt="stix", confidence=70)
    row = record(store.engine, "ipv4", "198.51.100.57")
    assert row is not None
    assert row.confidence != 1, "JSON true read as confidence 1"


def test_stix_labels_become_tags(store: Store, tmp_path: Path) -> None:
    labelled = _indicator(
        3, "[ipv4-addr:value = '198.51.100.54']", labels=["healthcare", "ransomware"]
    )
    path = _bundle(tmp_path, [labelled])
    ingest_paths(store.engine, [path], source="stix", fmt="stix")
    row = record(store.engine, "ipv4", "198.51.100.54")
    assert row is not None
    assert "ransomware" in json.loads(row.tags)
    assert row.healthcare


def test_netmask_notation_not_url() -> None:
    try:
        values = normalize("198.51.100.0/255.255.255.0")
    except NormalizationError:
        return
    assert [(v.type.value, v.value) for v in values] == [("cidr", "198.51.100.0/24")]


def test_search_finds_filename_record(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("filename,comment\nevil-loader.exe,dropper\n")
    ingest_paths(store.engine, [path], source="f", fmt="csv")
    assert ("filename", "evil-loader.exe") in records(store.engine)
    result = _medisac("search", "evil-loader.exe", db=store.url)
    assert result.returncode == 0, result.stderr
    assert "evil-loader.exe" in result.stdout


def test_one_column_csv_header_kept(store: Store, tmp_path: Path) -> None:
    text = "domain\nalpha.example.com\nbeta.example.com\n"
    summary = ingest_text(store.engine, tmp_path, text, name="one.csv", fmt=None)
    assert summary.rejected == 0, summary.rejections


def test_early_nul_rejects_only_row(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"type,value\nipv4,198.51.100.80\ndomain,nul\x00.example.com\n")
    summary = ingest_paths(store.engine, [path], source="nul")
    assert not summary.failed, summary.failed
    assert ("ipv4", "198.51.100.80") in records(store.engine)
