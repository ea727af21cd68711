"""Real CISA KEV catalogues, ICSMA advisories and CVE records from the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from medisac.errors import UnknownFormat
from medisac.ingest.detect import detect_format
from medisac.ingest.reader import expand
from medisac.vulns.ingest import parse_vuln_document
from medisac.vulns.store import get_vulnerability
from tests.conftest import Store
from tests.vulns.support import ingest_files, matches, member

pytestmark = pytest.mark.corpus


def _documents(folder: Path, pattern: str) -> list[Path]:
    found = sorted(folder.glob(pattern))
    assert found, f"no {pattern} under {folder}"
    return found


def test_every_vulnerability_file_parses(corpus_dir: Path) -> None:
    vulns = corpus_dir / "vulns"
    expected = {
        **{path: "csaf" for path in _documents(vulns / "csaf", "icsma-*.json")},
        **{path: "cve" for path in _documents(vulns / "cve", "CVE-*.json")},
        **{
            path: "kev"
            for path in _documents(vulns / "kev", "known_exploited_vulnerabilities*.*")
        },
    }
    schema = vulns / "kev" / "known_exploited_vulnerabilities_schema.json"
    del expected[schema]
    assert len(expected) >= 115 + 4 + 3
    cves = 0
    for path, fmt in expected.items():
        (doc,) = expand([path], 1 << 28)
        assert detect_format(doc) == fmt, path.name
        parsed = parse_vuln_document(doc)
        assert parsed.rejections == [], path.name
        assert parsed.vulnerabilities, path.name
        cves += len(parsed.vulnerabilities)
        if fmt == "csaf":
            assert parsed.document_id.upper().startswith("ICSMA-"), path.name
            assert all(v.healthcare_reason for v in parsed.vulnerabilities), path.name
    assert cves > 3000
    (doc,) = expand([schema], 1 << 20)
    with pytest.raises(UnknownFormat, match="JSON schema"):
        detect_format(doc)


def test_kev_json_and_csv_agree(corpus_dir: Path) -> None:
    kev = corpus_dir / "vulns" / "kev"
    parsed = {
        name: parse_vuln_document(next(iter(expand([kev / name], 1 << 28))))
        for name in (
            "known_exploited_vulnerabilities.json",
            "known_exploited_vulnerabilities.csv",
        )
    }
    as_json, as_csv = parsed.values()
    assert len(as_json.vulnerabilities) == 1404
    assert [v.cve for v in as_json.vulnerabilities] == [
        v.cve for v in as_csv.vulnerabilities
    ]
    for left, right in zip(
        as_json.vulnerabilities, as_csv.vulnerabilities, strict=True
    ):
        assert left.kev == right.kev
        assert left.description == right.description
        assert left.products == right.products
    ransomware = sum(1 for v in as_json.vulnerabilities if v.kev and v.kev.ransomware)
    assert ransomware == 293


def test_hand_inventory_matches_exactly(store: Store, corpus_dir: Path) -> None:
    vulns = corpus_dir / "vulns"
    engine = store.engine
    # Three real advisories:
    # - ICSMA-24-151-02 (and the CVE record): Baxter Welch Allyn Connex Spot
    #   Monitor (CSM) <= 1.52; 1.52 is inside, on the inclusive end.
    # - ICSMA-24-058-01: Santesoft Sante DICOM Viewer Pro <= 14.0.3, and
    #   ICSMA-23-285-01: <= 12.2.4; 14.0.4 is just outside both.
    # - ICSMA-22-277-01: "Becton, Dickinson and Company (BD)" BD Totalys
    #   MultiProcessor <= 1.70, listed here as "Becton Dickinson".
    org = member(
        engine,
        "general-hospital",
        [
            ("Baxter", "Welch Allyn Connex Spot Monitor", "1.52"),
            ("Santesoft", "Sante DICOM Viewer Pro", "14.0.4"),
            ("Becton Dickinson", "Totalys MultiProcessor", "1.70"),
            ("Becton Dickinson", "Totalys MultiProcessor", "1.71"),
        ],
    )
    summary = ingest_files(
        engine,
        vulns / "csaf" / "icsma-24-151-02.json",
        vulns / "csaf" / "icsma-24-058-01.json",
        vulns / "csaf" / "icsma-23-285-01.json",
        vulns / "csaf" / "icsma-22-277-01.json",
        vulns / "cve" / "CVE-2024-1275.json",
        vulns / "kev" / "known_exploited_vulnerabilities.json",
    )
    assert summary.failed == []
    assert summary.rejected == 0

    found = matches(engine, org)
    assert [(m.cve, m.item.product, m.item.version, m.certain) for m in found] == [
        ("CVE-2024-1275", "Welch Allyn Connex Spot Monitor", "1.52", True),
        ("CVE-2022-40263", "Totalys MultiProcessor", "1.70", True),
    ]
    connex = found[0]
    # CVSS v4 9.1 from the CVE record, on a medical device, not in KEV.
    assert connex.record.cvss == 9.1
    assert connex.record.kev is False
    assert connex.priority == round(9.1 * 3) + 10

    with engine.connect() as conn:
        record = get_vulnerability(conn, "CVE-2024-1275")
    assert record is not None
    assert {d.document for d in record.documents} == {
        "ICSMA-24-151-02",
        "CVE-2024-1275",
    }
    assert record.healthcare_reason == "medical device advisory ICSMA-24-151-02"


# Storing the whole catalogue takes seconds; the queries it runs are the ones
# the other tests run on both stores.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_kev_ranks_first(store: Store, corpus_dir: Path) -> None:
    engine = store.engine
    kev = corpus_dir / "vulns" / "kev" / "known_exploited_vulnerabilities.json"
    # Git is in the catalogue (CVE-2025-48384) without versions: a possible
    # match, listed after the certain one from the advisory.
    org = member(
        engine,
        "clinic",
        [("Git", "Git", "2.49.0"), ("Medtronic", "Paceart Optima", "1.11")],
    )
    ingest_files(engine, kev, corpus_dir / "vulns" / "cve" / "CVE-2023-31222.json")
    found = matches(engine, org)
    assert found[0].cve == "CVE-2023-31222"
    assert found[0].certain is True
    git = [m for m in found if m.item.product == "Git"]
    assert git
    assert all(not m.certain for m in git)
    assert all(m.record.kev for m in git)
    assert "CVE-2025-48384" in {m.cve for m in git}
    assert all("KEV catalogue gives no versions" in m.reason for m in git)
