"""Recognising vulnerability documents among ingest inputs.

:mod:`medisac.ingest.detect` calls these functions first, so ``medisac
ingest`` sends CSAF advisories, CVE JSON 5 records and the KEV catalogue
(JSON or CSV) to the vulnerability store instead of the indicator parsers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from medisac.errors import IngestError
from medisac.ingest.document import Document
from medisac.ingest.options import ParseOptions
from medisac.model import ParseItem
from medisac.vulns.csaf import is_csaf
from medisac.vulns.cve5 import is_cve_record
from medisac.vulns.kev import is_kev, is_kev_header

__all__ = [
    "VULN_FORMATS",
    "not_indicators",
    "vuln_format_by_markers",
    "vuln_format_of",
    "vuln_format_of_text",
]

VULN_FORMATS = ("csaf", "cve", "kev")

# Keys near the start of documents too long to parse while sniffing.
_MARKERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r'"csaf_version"\s*:\s*"2\.'), "csaf"),
    (re.compile(r'"dataType"\s*:\s*"CVE_RECORD"'), "cve"),
    (re.compile(r'"catalogVersion"\s*:'), "kev"),
)


def vuln_format_of(data: Any) -> str | None:
    """Return ``csaf``, ``cve`` or ``kev`` for parsed JSON of that kind, else None."""
    if is_csaf(data):
        return "csaf"
    if is_cve_record(data):
        return "cve"
    if is_kev(data):
        return "kev"
    return None


def vuln_format_by_markers(text: str) -> str | None:
    """Return the vulnerability format whose keys the start of a JSON text shows."""
    for pattern, name in _MARKERS:
        if pattern.search(text):
            return name
    return None


def vuln_format_of_text(first_line: str) -> str | None:
    """Return ``kev`` when a CSV header row is the KEV catalogue's."""
    return "kev" if is_kev_header(first_line.split(",")) else None


def not_indicators(document: Document, _options: ParseOptions) -> Iterator[ParseItem]:
    """Stand in the parser table for the vulnerability formats.

    The ingest loop stores these documents through
    :func:`medisac.vulns.ingest.ingest_vuln_document` and never calls this.
    Raises :class:`IngestError` for a caller that wants indicators from one.
    """
    raise IngestError(
        document.origin,
        "a vulnerability document holds no indicators; store it with "
        "`medisac ingest` or `medisac vulns ingest`",
    )
