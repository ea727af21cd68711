"""``medisac ingest`` recognises vulnerability documents among its inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medisac.errors import IngestError
from medisac.ingest.detect import PARSERS, detect_format
from medisac.ingest.options import ParseOptions
from medisac.ingest.reader import expand
from tests.vulns.support import CVE_RECORD, KEV_CSV, branch_tree, csaf

KEV_JSON = {"catalogVersion": "2099.01.01", "count": 0, "vulnerabilities": []}
STIX = {
    "type": "bundle",
    "id": "bundle--6f1c1d64-96b4-4b5c-8d8a-1c1e5c7e6c41",
    "objects": [],
}


def detected(path: Path) -> str:
    (doc,) = expand([path], 1 << 24)
    return detect_format(doc)


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("a.json", json.dumps(csaf(branch_tree("V", "P", {"P1": "1.0"}), [])), "csaf"),
        ("r.json", json.dumps(CVE_RECORD), "cve"),
        ("k.json", json.dumps(KEV_JSON), "kev"),
        ("k.csv", KEV_CSV, "kev"),
        ("s.json", json.dumps(STIX), "stix"),
        ("l.csv", "type,value\ndomain,example.com\nip,192.0.2.1\n", "csv"),
    ],
)
def test_format_detected(tmp_path: Path, name: str, content: str, fmt: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert detected(path) == fmt


def test_long_csaf_detected_by_its_start(tmp_path: Path) -> None:
    # Past the 64 KiB that detection parses whole, the start decides.
    notes = [{"category": "general", "text": "x" * 1000, "title": "n"}] * 80
    advisory = csaf(branch_tree("V", "P", {"P1": "1.0"}), [])
    advisory["document"]["notes"] = notes
    path = tmp_path / "long.json"
    path.write_text(json.dumps(advisory), encoding="utf-8")
    assert path.stat().st_size > 64 * 1024
    assert detected(path) == "csaf"


def test_parser_table_has_vulnerability_formats(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text(json.dumps(KEV_JSON), encoding="utf-8")
    (doc,) = expand([path], 1 << 20)
    for fmt in ("csaf", "cve", "kev"):
        assert fmt in PARSERS
        with pytest.raises(IngestError, match="holds no indicators"):
            list(PARSERS[fmt](doc, ParseOptions()))
