"""``medisac hunt`` and ``medisac hunt-pack`` run as commands: output, exit codes.

Each command starts a Python process, so only the hard case runs on both
stores. The other tests use SQLite, and the store code they reach is tested
on both stores in process.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from medisac.members.orgs import add_org
from medisac.model import TLP
from medisac.store.engine import begin_write
from medisac.store.tables import indicators, sightings
from tests.cli.test_cli import medisac
from tests.conftest import Store
from tests.helpers import ingest_paths

B36 = "B36-hunt-label-boundary"
EXIT_HITS = 3
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _ingest(
    store: Store, path: Path, source: str = "test", tlp: TLP | None = None
) -> None:
    # In process: these tests are about the hunt command, not ingest's.
    summary = ingest_paths(store.engine, [path], source=source, fmt="plain", tlp=tlp)
    assert summary.rejected == 0


def _hits(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line]


def test_b36_label_boundary(store: Store, cases_dir: Path) -> None:
    indicators_file = cases_dir / f"{B36}.indicators.txt"
    ingested = medisac(
        "ingest",
        str(indicators_file),
        "--format",
        "plain",
        "--source",
        "b36",
        db=store.url,
    )
    assert ingested.returncode == 0, ingested.stderr
    log = cases_dir / f"{B36}.log"
    as_json = medisac("hunt", str(log), "--output", "json", db=store.url)
    assert as_json.returncode == EXIT_HITS, as_json.stderr
    hits = _hits(as_json)
    found = {(hit["line"], hit["indicator"]["value"]) for hit in hits}  # type: ignore[index]
    assert found == {
        (1, "portal.example.com"),
        (4, "portal.example.com"),
        (7, "198.51.100.7"),
        (8, "http://files.example.org/a.exe"),
        (10, "7261d99e6e5037b1f16002311efa3af6f065c870bfe01127cc9c94a68011872f"),
        (12, "portal.example.com"),
    }
    matches = {hit["line"]: hit["match"] for hit in hits}
    assert matches[4] == "subdomain"
    assert matches[1] == "exact"
    values = {hit["line"]: hit["value"] for hit in hits}
    assert values[4] == "cdn.portal.example.com"
    assert values[12] == "portal.example.com"
    for hit in hits:
        assert not str(hit["value"]).startswith("10.1.2.")
    assert "6 hits on 6 lines out of 12" in as_json.stderr


@sqlite_only
def test_no_hits_exit_zero(store: Store, tmp_path: Path) -> None:
    indicators_file = tmp_path / "ioc.txt"
    indicators_file.write_text("evil.example.net\n")
    _ingest(store, indicators_file)
    log = tmp_path / "quiet.log"
    log.write_text("2024-04-02T08:00:01Z dns client=10.1.2.3 query=good.example.org\n")
    result = medisac("hunt", str(log), "--output", "json", db=store.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "0 hits on 0 lines out of 1" in result.stderr


@sqlite_only
def test_missing_input_exit_one(store: Store, tmp_path: Path) -> None:
    indicators_file = tmp_path / "ioc.txt"
    indicators_file.write_text("x.example.org\n")
    _ingest(store, indicators_file)
    log = tmp_path / "ok.log"
    log.write_text("query=x.example.org\n")
    result = medisac("hunt", str(log), str(tmp_path / "absent.log"), db=store.url)
    # A failed input wins over hits, so scripts never take a partial hunt
    # for a complete one.
    assert result.returncode == 1
    assert "absent.log" in result.stdout
    assert "failed input" in result.stdout
    assert "Hits per indicator" in result.stdout
    assert "x.example.org (domain)" in result.stdout
    assert "1 hits on 1 lines out of 1 in 2 inputs" in result.stdout


@sqlite_only
def test_usage_errors(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("x\n")
    bad_format = medisac("hunt", str(log), "--format", "pcap", db=store.url)
    assert bad_format.returncode == 2
    assert "pcap" in bad_format.stderr
    no_org = medisac("hunt", str(log), "--report", db=store.url)
    assert no_org.returncode == 2
    assert "--as" in no_org.stderr


@sqlite_only
def test_stdin_gzip_and_csv(store: Store, tmp_path: Path) -> None:
    indicators_file = tmp_path / "ioc.txt"
    indicators_file.write_text("203.0.113.9\n")
    _ingest(store, indicators_file)
    line = b"1712044801.5 conn 10.0.0.1 -> 203.0.113.9 =cmd\n"
    zipped = tmp_path / "conn.log.gz"
    zipped.write_bytes(gzip.compress(line * 3))
    from_file = medisac("hunt", str(zipped), "--output", "csv", db=store.url)
    assert from_file.returncode == EXIT_HITS, from_file.stderr
    rows = list(csv.DictReader(io.StringIO(from_file.stdout)))
    assert [row["line"] for row in rows] == ["1", "2", "3"]
    assert rows[0]["indicator_value"] == "203.0.113.9"
    assert rows[0]["field"] == "message"
    piped = subprocess.run(
        [sys.executable, "-m", "medisac", "hunt", "-", "--output", "json"],
        input=line.decode(),
        capture_output=True,
        text=True,
        env={**os.environ, "MEDISAC_DB": store.url},
        timeout=120,
        check=False,
    )
    assert piped.returncode == EXIT_HITS, piped.stderr
    assert _hits(piped)[0]["source"] == "-"


@sqlite_only
def test_since_leaves_out_older(store: Store, tmp_path: Path) -> None:
    indicators_file = tmp_path / "ioc.txt"
    indicators_file.write_text("203.0.113.9\n")
    _ingest(store, indicators_file)
    log = tmp_path / "fw.log"
    log.write_text(
        "2024-01-01T00:00:00Z fw dst=203.0.113.9\n"
        "2024-06-01T00:00:00Z fw dst=203.0.113.9\n"
    )
    result = medisac(
        "hunt", str(log), "--since", "2024-03-01", "--output", "json", db=store.url
    )
    assert result.returncode == EXIT_HITS
    assert [hit["line"] for hit in _hits(result)] == [2]
    assert "1 matching lines before --since" in result.stderr


@sqlite_only
def test_report_stores_pending_sightings(store: Store, tmp_path: Path) -> None:
    indicators_file = tmp_path / "ioc.txt"
    indicators_file.write_text("203.0.113.9\nbad.example.net\n")
    _ingest(store, indicators_file)
    with begin_write(store.engine) as conn:
        org = add_org(conn, "General Hospital", clearance=TLP.AMBER)
    log = tmp_path / "fw.log"
    log.write_text(
        "2024-01-01T00:00:00Z fw dst=203.0.113.9\n"
        "2024-01-03T00:00:00Z fw dst=203.0.113.9\n"
        "2024-01-02T00:00:00Z dns query=www.bad.example.net\n"
    )
    result = medisac(
        "hunt", str(log), "--report", "--as", "general hospital", db=store.url
    )
    assert result.returncode == EXIT_HITS, result.stderr
    assert "reported 2 indicators as pending sightings" in result.stderr
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(indicators.c.value, sightings)
            .join(indicators, indicators.c.id == sightings.c.indicator_id)
            .order_by(indicators.c.value)
        ).all()
    assert [(row.value, row.count) for row in rows] == [
        ("203.0.113.9", 2),
        ("bad.example.net", 1),
    ]
    address = rows[0]
    assert address.org_id == org.id
    assert address.origin == "hunt"
    assert address.status == "pending"
    assert address.kind == "sighting"
    assert address.first_seen == 1_704_067_200_000_000
    assert address.last_seen == 1_704_240_000_000_000


@sqlite_only
def test_pack_round_trip(store: Store, tmp_path: Path) -> None:
    amber = tmp_path / "amber.txt"
    amber.write_text("203.0.113.0/24\nc2.example.net\n")
    _ingest(store, amber, "partner", TLP.AMBER)
    green = tmp_path / "green.txt"
    green.write_text("198.51.100.99\n")
    _ingest(store, green, "open", TLP.GREEN)
    with begin_write(store.engine) as conn:
        add_org(conn, "Clinic", clearance=TLP.GREEN)
    pack = tmp_path / "clinic.pack"
    made = medisac("hunt-pack", "--for", "Clinic", "-o", str(pack), db=store.url)
    assert made.returncode == 0, made.stderr
    assert "wrote 2 indicators" in made.stderr
    content = pack.read_bytes()
    for value in (b"203.0.113", b"c2.example", b"example.net", b"198.51.100"):
        assert value not in content
    log = tmp_path / "proxy.log"
    log.write_text(
        "2024-01-01T00:00:00Z dst=203.0.113.77 host=www.c2.example.net\n"
        "2024-01-01T00:00:01Z dst=198.51.100.99 host=c2.example.network\n"
    )
    # A member hunting with a pack needs no store.
    nowhere = f"sqlite:///{tmp_path / 'absent.db'}"
    result = medisac("hunt", str(log), "--pack", str(pack), "-o", "json", db=nowhere)
    assert result.returncode == EXIT_HITS, result.stderr
    hits = _hits(result)
    assert {(hit["line"], hit["match"]) for hit in hits} == {
        (1, "network"),
        (1, "subdomain"),
    }
    for hit in hits:
        assert hit["indicator"]["value"] is None  # type: ignore[index]
        assert hit["indicator"]["tlp"] == "AMBER"  # type: ignore[index]
    with_all = tmp_path / "all.pack"
    medisac("hunt-pack", "--for", "Clinic", "--all", "-o", str(with_all), db=store.url)
    everything = medisac(
        "hunt", str(log), "--pack", str(with_all), "-o", "json", db=nowhere
    )
    assert {hit["line"] for hit in _hits(everything)} == {1, 2}


@sqlite_only
def test_pack_unknown_org(store: Store, tmp_path: Path) -> None:
    result = medisac(
        "hunt-pack", "--for", "Nobody", "-o", str(tmp_path / "p"), db=store.url
    )
    assert result.returncode == 1
    assert "Nobody" in result.stderr
