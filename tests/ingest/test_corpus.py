"""Every corpus file expands, is detected and parses without a crash.

A file either parses into well-formed items or fails with IngestError (or
UnknownFormat); any other exception fails the test. Where the folder tells
what a file is, the detected format must match.
"""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest

from medisac.errors import IngestError, UnknownFormat
from medisac.ingest.detect import PARSERS, detect_format
from medisac.ingest.options import ParseOptions
from medisac.ingest.reader import expand
from medisac.model import Observation, ParseWarning, Rejection, Skipped
from tests.conftest import SHARED

FOLDERS = ("indicators", "stix20", "stix21", "misp", "openioc", "stix1", "reports")
CORPUS = SHARED / "corpus"

# First matching pattern wins; a file that matches none only must not crash.
EXPECTED: list[tuple[str, str]] = [
    ("*/SOURCES.md", "any"),
    ("stix20/unit42/reports.json", "unknown"),
    ("stix20/*.json", "stix"),
    ("stix21/schemas/*", "unknown"),
    ("stix21/taxii/*", "unknown"),
    ("stix21/*.json", "stix"),
    ("stix21/*.stix2", "stix"),
    ("misp/malformed/*", "error"),
    ("misp/schema/*.json", "unknown"),
    ("misp/events/*.json", "misp"),
    ("misp/feed_malvuln/manifest.json", "misp"),
    ("misp/feed_malvuln/events/manifest.json", "misp"),
    ("misp/feed_malvuln/*/manifest.json", "unknown"),
    ("misp/feed_malvuln/events/misp_event_*.json", "misp"),
    ("openioc/*.ioc", "openioc"),
    ("stix1/*.xml", "stix1"),
    ("stix1/talos_json/*.json", "stix1"),
    ("reports/samsam/*.json", "misp"),
    ("reports/*.json", "stix"),
    ("reports/*.csv", "csv"),
    ("indicators/csv/*.csv", "csv"),
    ("indicators/text/signature-base/hash-iocs.txt", "csv"),
    # A one-column list under a "SHA256" header.
    ("indicators/text/unit42/Darkside_IOCs.txt", "csv"),
    ("indicators/text/*", "plain"),
]


def _corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        path.relative_to(CORPUS).as_posix()
        for folder in FOLDERS
        for path in (CORPUS / folder).rglob("*")
        if path.is_file()
    )


def _expected(relative: str) -> str:
    for pattern, outcome in EXPECTED:
        if fnmatch(relative, pattern):
            return outcome
    return "any"


def _outcome(document_origin: str, fmt: str, items: list[object]) -> str:
    for item in items:
        assert isinstance(item, Observation | Rejection | Skipped | ParseWarning), item
        assert item.location, (document_origin, item)
        if isinstance(item, Observation):
            assert isinstance(item.value, str), item
            assert item.value.strip(), item
    return fmt


@pytest.mark.corpus
@pytest.mark.parametrize("relative", _corpus_files())
def test_corpus_file(corpus_dir: Path, relative: str) -> None:
    expected = _expected(relative)
    outcomes = []
    for document in expand([corpus_dir / relative], 256 * 1024 * 1024):
        try:
            fmt = detect_format(document)
            items = list(PARSERS[fmt](document, ParseOptions()))
        except UnknownFormat:
            outcomes.append("unknown")
        except IngestError as exc:
            assert document.origin in str(exc)
            outcomes.append("error")
        else:
            outcomes.append(_outcome(document.origin, fmt, items))
    assert outcomes
    if expected != "any":
        assert set(outcomes) == {expected}, relative
