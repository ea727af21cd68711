"""Storing vulnerability documents: parse, merge, notify affected members.

Both ``medisac ingest`` (through :mod:`medisac.ingest.pipeline`) and
``medisac vulns ingest`` call :func:`ingest_vuln_document` once per input
document. A document that cannot be read as a whole raises
:class:`medisac.errors.IngestError` and changes nothing in the store; a bad
record inside it is listed in ``rejections`` and costs only itself.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from medisac.errors import IngestError, UnknownFormat
from medisac.ingest.document import Document
from medisac.ingest.jsonload import load_json
from medisac.ingest.summary import IngestSummary
from medisac.model.time import now_us
from medisac.store.engine import begin_write
from medisac.vulns.csaf import parse_csaf
from medisac.vulns.cve5 import parse_cve_record
from medisac.vulns.detect import VULN_FORMATS, vuln_format_of, vuln_format_of_text
from medisac.vulns.kev import parse_kev_csv, parse_kev_json
from medisac.vulns.match import notify_matches
from medisac.vulns.model import DocumentRejection, VulnDocument
from medisac.vulns.stix import publish_vulnerabilities
from medisac.vulns.store import StoreCounts, store_document

__all__ = [
    "VULN_FORMATS",
    "DocumentOutcome",
    "ingest_into_summary",
    "ingest_vuln_document",
    "parse_vuln_document",
]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DocumentOutcome:
    """The outcome of storing one document."""

    document_id: str
    format: str
    counts: StoreCounts = field(default_factory=StoreCounts)
    notifications: int = 0
    rejections: list[DocumentRejection] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


def parse_vuln_document(doc: Document, fmt: str | None = None) -> VulnDocument:
    """Parse ``doc`` as ``fmt`` (``csaf``, ``cve`` or ``kev``), or detect which.

    Raises :class:`IngestError` naming the field when the document is
    invalid, and :class:`UnknownFormat` when it is none of the three.
    """
    head = doc.read_head(4096).removeprefix(codecs.BOM_UTF8).lstrip()
    if not head.startswith((b"{", b"[")):
        first_line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        if fmt == "kev" or (fmt is None and vuln_format_of_text(first_line.strip())):
            text = doc.read_bytes().decode("utf-8", errors="replace")
            return parse_kev_csv(doc.origin, text)
    data = load_json(doc)
    found = vuln_format_of(data)
    fmt = fmt or found
    if fmt is None:
        raise UnknownFormat(
            doc.origin,
            "not a CSAF 2.0 advisory, CVE JSON 5 record or KEV catalogue; "
            "name the format with --format (csaf, cve, kev)",
        )
    parsers: dict[str, Callable[[str, object], VulnDocument]] = {
        "csaf": parse_csaf,
        "cve": parse_cve_record,
        "kev": parse_kev_json,
    }
    if fmt not in parsers:
        raise IngestError(doc.origin, f"unknown vulnerability format {fmt!r}")
    return parsers[fmt](doc.origin, data)


def ingest_vuln_document(
    engine: Engine,
    doc: Document,
    fmt: str | None = None,
    *,
    clock: Callable[[], int] = now_us,
) -> DocumentOutcome:
    """Parse ``doc``, merge its vulnerabilities and notify affected members.

    Everything the document changes is written in one transaction. Raises
    :class:`IngestError` when the document cannot be read; the store is then
    unchanged.
    """
    parsed = parse_vuln_document(doc, fmt)
    outcome = DocumentOutcome(
        parsed.document_id,
        parsed.format,
        rejections=list(parsed.rejections),
        skipped=dict(parsed.skipped),
    )
    now = clock()
    with begin_write(engine) as conn:
        counts, touched = store_document(conn, parsed, now)
        publish_vulnerabilities(conn, touched)
        outcome.counts = counts
        outcome.notifications = notify_matches(conn, touched, now)
    log.info(
        "%s %s from %s: %d new, %d changed, %d unchanged CVEs, %d rejected, "
        "%d notifications",
        parsed.format,
        parsed.document_id,
        doc.origin,
        counts.new,
        counts.changed,
        counts.unchanged,
        len(parsed.rejections),
        outcome.notifications,
    )
    return outcome


def ingest_into_summary(
    engine: Engine, doc: Document, fmt: str, summary: IngestSummary
) -> None:
    """Store a vulnerability document for ``medisac ingest`` and count it.

    CVEs count as records in ``summary.merge`` (new, updated, unchanged),
    rejected records as rejections. Raises :class:`IngestError` like
    :func:`ingest_vuln_document`.
    """
    outcome = ingest_vuln_document(engine, doc, fmt)
    for rejection in outcome.rejections:
        summary.reject(doc.origin, rejection.location, rejection.reason)
    for kind, count in outcome.skipped.items():
        summary.skipped[kind] += count
    summary.merge.new += outcome.counts.new
    summary.merge.updated += outcome.counts.changed
    summary.merge.unchanged += outcome.counts.unchanged
