"""The command line as scripts and cron jobs use it: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Store
from tests.helpers import records


def medisac(
    *args: str, db: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``medisac`` command in a child process."""
    full_env = {**os.environ, "MEDISAC_DB": db, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "medisac", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_init_prints_key_once(db_url: str) -> None:
    first = medisac("init", db=db_url)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip().splitlines()[-1]
    assert len(key) >= 32
    second = medisac("init", db=db_url)
    assert second.returncode == 0, second.stderr
    assert key not in second.stdout
    assert "already current" in second.stdout


def test_init_takes_key_from_env(db_url: str) -> None:
    result = medisac("init", db=db_url, env={"MEDISAC_OPERATOR_KEY": "k" * 40})
    assert result.returncode == 0, result.stderr
    assert "k" * 40 not in result.stdout


def test_ingest_before_init(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("198.51.100.1\n")
    result = medisac("ingest", str(path), db=f"sqlite:///{tmp_path / 'none.db'}")
    assert result.returncode == 1
    assert "medisac init" in result.stderr


def test_exit_zero_when_all_stored(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "ok.txt"
    path.write_text("198.51.100.1\nbad-host.example.org\n")
    result = medisac("ingest", str(path), "--source", "ok", db=store.url)
    assert result.returncode == 0, result.stderr
    assert "new records" in result.stderr


def test_exit_one_on_rejected_record(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_text("198.51.100.2\n.leading-dot.example.org\n")
    result = medisac("ingest", str(path), "--source", "mixed", db=store.url)
    assert result.returncode == 1
    assert "mixed.txt, line 2" in result.stderr
    assert ("ipv4", "198.51.100.2") in records(store.engine)
    ok = medisac("ingest", str(path), "--source", "mixed", "--rejects-ok", db=store.url)
    assert ok.returncode == 0, ok.stderr


def test_exit_two_on_usage_error(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("198.51.100.3\n")
    result = medisac("ingest", str(path), "--format", "nonsense", db=store.url)
    assert result.returncode == 2
    assert "nonsense" in result.stderr
    result = medisac("ingest", str(path), "--tlp", "purple", db=store.url)
    assert result.returncode == 2


def test_missing_file(store: Store, tmp_path: Path) -> None:
    result = medisac("ingest", str(tmp_path / "absent.txt"), db=store.url)
    assert result.returncode == 1
    assert "absent.txt" in result.stderr


def test_search_any_spelling(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "idn.txt"
    path.write_text("klinik-münchen.example.com\n2001:db8::1\n", encoding="utf-8")
    assert medisac("ingest", str(path), "--source", "idn", db=store.url).returncode == 0
    for spelling in (
        "KLINIK-MÜNCHEN.EXAMPLE.COM",
        "xn--klinik-mnchen-3ob.example.com",
        "klinik-münchen[.]example[.]com",
        "2001:0db8::0001",
    ):
        result = medisac("search", spelling, db=store.url)
        assert result.returncode == 0, (spelling, result.stderr)
        assert "idn" in result.stdout
    result = medisac("search", "absent.example.org", db=store.url)
    assert result.returncode == 1


def test_search_shows_why_held_back(store: Store, cases_dir: Path) -> None:
    case = cases_dir / "B31-to-ids-and-benign.json"
    medisac("ingest", str(case), "--format", "misp", "--source", "b31", db=store.url)
    resolver = medisac("search", "8.8.8.8", "--json", db=store.url)
    assert resolver.returncode == 0, resolver.stderr
    found = json.loads(resolver.stdout)[0]
    assert found["benign"] == "misp:List of known IPv4 public DNS resolvers"
    context = medisac("search", "198.51.100.23", "--json", db=store.url)
    assert json.loads(context.stdout)[0]["to_ids"] is False
    shown = medisac("search", "8.8.8.8", db=store.url)
    assert "DNS resolvers" in shown.stdout


def test_stats(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("198.51.100.4\n198.51.100.5\nstats.example.org\n")
    medisac("ingest", str(path), db=store.url)
    result = medisac("stats", db=store.url)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "ipv4" in line]
    assert lines and "2" in lines[0]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "truncated.json",
            b'{"type": "bundle", "id": "bundle--1", "objects": [{"type": "ind',
            "line 1",
        ),
        (
            "trailing.json",
            b'{"Event": {"info": "x", "Attribute": '
            b'[{"type": "domain", "value": "a.example.org"},]}}',
            "line 1",
        ),
        ("binary.bin", bytes(range(256)) * 64, "binary"),
        ("empty.txt", b"", "empty"),
    ],
)
def test_bad_input_keeps_store(
    store: Store, tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    seed = tmp_path / "seed.txt"
    seed.write_text("198.51.100.50\n")
    assert medisac("ingest", str(seed), db=store.url).returncode == 0
    before = records(store.engine)
    path = tmp_path / name
    path.write_bytes(content)
    result = medisac("ingest", str(path), db=store.url)
    assert result.returncode == 1
    assert name in result.stderr
    assert expected in result.stderr.lower()
    assert records(store.engine) == before


def test_fifty_megabyte_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("w") as handle:
        handle.write("198.51.100.60\n")
        handle.write("a" * (50 * 1024 * 1024))
        handle.write("\nafter-huge.example.org\n")
    result = medisac("ingest", str(path), db=store.url)
    assert result.returncode == 1
    assert "huge.txt, line 2" in result.stderr
    stored = records(store.engine)
    assert ("ipv4", "198.51.100.60") in stored
    assert ("domain", "after-huge.example.org") in stored


def test_unknown_stix_types_skipped(store: Store, tmp_path: Path) -> None:
    bundle = {
        "type": "bundle",
        "id": "bundle--0f3c1c57-1d2e-4c1b-9a6e-3f2b1c0d9e8f",
        "objects": [
            {
                "type": "x-vendor-thing",
                "id": "x-vendor-thing--1",
                "spec_version": "2.1",
            },
            {"type": "weird-object", "id": "weird-object--2"},
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--7d0e8f36-5b1e-4c1f-8d52-3c1f7b1d8e11",
                "created": "2024-05-01T00:00:00.000Z",
                "modified": "2024-05-01T00:00:00.000Z",
                "pattern": "[domain-name:value = 'kept.example.org']",
                "pattern_type": "stix",
                "valid_from": "2024-05-01T00:00:00.000Z",
            },
        ],
    }
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(bundle))
    result = medisac("ingest", str(path), db=store.url)
    assert result.returncode == 0, result.stderr
    assert "x-vendor-thing" in result.stderr
    assert "weird-object" in result.stderr
    assert ("domain", "kept.example.org") in records(store.engine)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("plain", "198.51.100.61"),
        ("csv", "198.51.100.61"),
        ("edl", "198.51.100.61"),
        ("rpz", "61.100.51.198.rpz-ip"),
        ("stix", "[ipv4-addr:value = '198.51.100.61']"),
        ("suricata", "198.51.100.61"),
        ("zeek", "Intel::ADDR"),
    ],
)
def test_export_each_format(
    store: Store, tmp_path: Path, fmt: str, expected: str
) -> None:
    path = tmp_path / "list.txt"
    path.write_text("198.51.100.61\nexport.example.org\n")
    assert medisac("ingest", str(path), db=store.url).returncode == 0
    result = medisac("export", "--format", fmt, "--tlp", "red", db=store.url)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


@pytest.mark.parametrize(
    ("fmt", "files"),
    [("edl", {"ip.txt", "domain.txt", "url.txt"}), ("suricata", {"medisac.rules"})],
)
def test_export_into_directory(
    store: Store, tmp_path: Path, fmt: str, files: set[str]
) -> None:
    path = tmp_path / "list.txt"
    path.write_text("198.51.100.62\nexport.example.org\n")
    assert medisac("ingest", str(path), db=store.url).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    result = medisac("export", "-f", fmt, "--tlp", "red", "-o", str(out), db=store.url)
    assert result.returncode == 0, result.stderr
    assert files <= {child.name for child in out.iterdir()}


def test_export_kit(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("198.51.100.63\nkit.example.org\n")
    assert (
        medisac("ingest", str(path), "--confidence", "80", db=store.url).returncode == 0
    )
    kit = tmp_path / "kit"
    result = medisac("export", "--kit", str(kit), "--tlp", "red", db=store.url)
    assert result.returncode == 0, result.stderr
    assert "1 addresses, 1 domains, 1 zone entries" in result.stderr
    assert (kit / "block-ip-addresses.txt").read_text() == "198.51.100.63\n"
    assert (kit / "block-domains.txt").read_text() == "kit.example.org\n"
    assert "kit.example.org CNAME ." in (kit / "dns-block.rpz").read_text()


def test_export_kit_skips_low_confidence(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("198.51.100.64\n")
    assert (
        medisac("ingest", str(path), "--confidence", "30", db=store.url).returncode == 0
    )
    kit = tmp_path / "kit"
    result = medisac("export", "--kit", str(kit), "--tlp", "red", db=store.url)
    assert result.returncode == 0, result.stderr
    assert (kit / "block-ip-addresses.txt").read_text() == ""


def test_export_needs_format_or_kit(store: Store) -> None:
    result = medisac("export", db=store.url)
    assert result.returncode == 2
    assert "--kit" in result.stderr
    both = medisac("export", "--kit", "k", "--format", "plain", db=store.url)
    assert both.returncode == 2


def test_misp_export_needs_directory(store: Store) -> None:
    result = medisac("export", "--format", "misp", db=store.url)
    assert result.returncode == 2
    assert "-o DIR" in result.stderr
