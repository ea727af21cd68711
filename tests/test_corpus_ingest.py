"""The real corpus, folder by folder, through the whole ingest on both stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Store
from tests.helpers import ingest_paths, provenance_of, records

# Folder -> (fewest records it must give, values that must be among them).
FOLDERS: dict[str, tuple[int, set[tuple[str, str]]]] = {
    "indicators": (
        60_000,
        {
            ("domain", "msstorageboxes.com"),
            ("ipv4", "77.90.185.20"),
            (
                "url",
                "https://continuedownloader.com/go/d2ce67cc-16c8-4a3a-938e-c3389b412786",
            ),
        },
    ),
    "stix20": (
        3_000,
        {
            ("domain", "studentsportal.live"),
            ("ipv4", "192.3.99.68"),
            ("email", "01Flip@proton.me"),
        },
    ),
    "stix21": (
        500,
        {("ipv4", "47.112.137.199"), ("url", "http://paypa1.banking.com/")},
    ),
    "misp": (
        1_500,
        {("domain", "movieultimate.com"), ("domain", "faststoragefiles.org")},
    ),
    "openioc": (150, {("domain", "freescanonline.com"), ("domain", "thedoccloud.com")}),
    "stix1": (250, {("domain", "hugesoft.org"), ("url", "http://x4z9arb.cn/4712")}),
    "reports": (200, {("domain", "lockbitkodidilol.onion")}),
}


@pytest.mark.corpus
@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_folder_ingests(store: Store, corpus_dir: Path, folder: str) -> None:
    fewest, known = FOLDERS[folder]
    summary = ingest_paths(store.engine, [corpus_dir / folder], source=folder)
    stored = records(store.engine)
    assert summary.inputs > 0
    assert len(stored) >= fewest
    assert known <= stored
    # Unreadable files (documentation, JSON schemas) fail alone.
    assert len(summary.failed) < summary.inputs
    for failure in summary.failed:
        assert failure.origin in failure.reason


@pytest.mark.corpus
def test_defanged_twin_merges(store: Store, corpus_dir: Path) -> None:
    # Sophos writes msstorageboxes[.]com; LOKI's list has it plain.
    sophos = corpus_dir / "indicators" / "csv" / "sophos" / "3CX_IoCs_2023-03.csv"
    loki = corpus_dir / "indicators" / "text" / "signature-base" / "c2-iocs.txt"
    assert "msstorageboxes[.]com" in sophos.read_text(encoding="utf-8-sig")
    ingest_paths(store.engine, [sophos], source="sophos")
    ingest_paths(store.engine, [loki], source="loki")
    domains = [v for k, v in records(store.engine) if "msstorageboxes" in v]
    assert domains == ["msstorageboxes.com"]
    assert set(provenance_of(store.engine, "domain", "msstorageboxes.com")) == {
        "sophos",
        "loki",
    }


@pytest.mark.corpus
def test_corpus_reingest_adds_nothing(store: Store, corpus_dir: Path) -> None:
    folder = corpus_dir / "misp"
    first = ingest_paths(store.engine, [folder], source="misp")
    second = ingest_paths(store.engine, [folder], source="misp")
    assert first.merge.new > 0
    assert second.merge.new == 0
    assert second.merge.updated == 0
