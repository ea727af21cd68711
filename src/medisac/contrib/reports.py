"""Read the text of a research report: PDF, HTML, Markdown or plain text.

PDF text comes from ``pypdf``. An encrypted PDF is opened only when it has an
empty user password, as many "protected" reports have. Otherwise reading
stops with a message that requests a copy without a password. A PDF whose
pages give no text is a scan. Reading it stops with a message that requests
the text or an OCR'd copy, because no OCR runs here.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

from medisac.contrib.errors import ContributionError
from medisac.contrib.links import HtmlText

log = logging.getLogger(__name__)

REPORT_FORMATS = ("pdf", "html", "markdown", "text")
# Pages read from one PDF; a longer document is cut with a warning.
MAX_PDF_PAGES = 500
# Characters other than white space a page needs, on average, to count as
# having a text layer. A scan's pages give none, or a stray page number.
_MIN_TEXT_PER_PAGE = 5
_HTML_TAG = re.compile(r"<(?:table|tr|td|th|p|div|h[1-6]|br|a\s|ul|li|span)\b", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*['\"]?([A-Za-z0-9_.:-]+)", re.I)


@dataclass
class ReportText:
    """The text of a report, its format, links written as markup, and warnings."""

    format: str
    text: str
    links: list[str] = field(default_factory=list)
    title: str = ""
    warnings: list[str] = field(default_factory=list)


def detect_report_format(data: bytes, filename: str) -> str:
    """Return the format of a report from its first bytes and its name."""
    name = filename.lower()
    if data[:5] == b"%PDF-" or name.endswith(".pdf"):
        return "pdf"
    if name.endswith((".md", ".markdown")):
        return "markdown"
    if name.endswith((".htm", ".html", ".xhtml")):
        return "html"
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "html"
    return "text"


def _decode(data: bytes, fallback: str = "utf-8") -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(fallback, errors="replace")


def _open_pdf(data: bytes, filename: str) -> PdfReader:
    """Return a reader of the PDF, decrypted when its user password is empty."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
    except (PdfReadError, ValueError, OSError) as exc:
        raise ContributionError(filename, f"not a readable PDF: {exc}") from exc
    if not reader.is_encrypted:
        return reader
    try:
        opened = reader.decrypt("")
    except (
        DependencyError,
        FileNotDecryptedError,
        NotImplementedError,
        PdfReadError,
    ) as exc:
        raise ContributionError(
            filename,
            "the PDF is encrypted and cannot be opened without its password "
            f"({exc}); send a copy saved without a password",
        ) from exc
    if not opened:
        raise ContributionError(
            filename,
            "the PDF is encrypted with a password; send a copy saved "
            "without a password",
        )
    return reader


def _pdf_pages(reader: PdfReader, filename: str, warnings: list[str]) -> list[str]:
    """Return the text of each page, up to :data:`MAX_PDF_PAGES` pages."""
    pages = []
    try:
        count = len(reader.pages)
        for number, page in enumerate(reader.pages, start=1):
            if number > MAX_PDF_PAGES:
                warnings.append(
                    f"only the first {MAX_PDF_PAGES} of {count} pages were read"
                )
                break
            try:
                pages.append(page.extract_text() or "")
            except (PdfReadError, ValueError, KeyError, TypeError) as exc:
                warnings.append(f"page {number} could not be read: {exc}")
    except (PdfReadError, ValueError) as exc:
        raise ContributionError(
            filename, f"the PDF's page tree cannot be read: {exc}"
        ) from exc
    return pages


def _pdf_links(reader: PdfReader, pages: int) -> list[str]:
    """Return the URIs of the link annotations of the first ``pages`` pages."""
    links = []
    for page in reader.pages[:pages]:
        try:
            annotations = page.get("/Annots") or []
        except (PdfReadError, ValueError, TypeError):
            continue
        for annotation in annotations:
            try:
                action = annotation.get_object().get("/A") or {}
                uri = action.get("/URI")
            except (AttributeError, PdfReadError, ValueError, TypeError):
                continue
            if isinstance(uri, bytes):
                links.append(uri.decode("latin-1"))
            elif isinstance(uri, str):
                links.append(uri)
    return links


def _pdf(data: bytes, filename: str) -> ReportText:
    reader = _open_pdf(data, filename)
    report = ReportText("pdf", "")
    pages = _pdf_pages(reader, filename, report.warnings)
    text = "\n".join(pages)
    if len("".join(text.split())) < _MIN_TEXT_PER_PAGE * max(1, len(pages)):
        raise ContributionError(
            filename,
            f"the PDF's {len(pages)} pages have no text layer (scanned images?); "
            "send the report's text, or a copy run through OCR",
        )
    report.text = text
    try:
        metadata = reader.metadata
        report.title = str(metadata.title) if metadata and metadata.title else ""
    except (PdfReadError, ValueError, TypeError):
        report.title = ""
    report.links = _pdf_links(reader, len(pages))
    return report


def _html(data: bytes) -> ReportText:
    match = _META_CHARSET.search(data[:4096])
    fallback = match.group(1).decode("ascii", "replace") if match else "windows-1252"
    try:
        text = data.decode(fallback) if match else _decode(data, "windows-1252")
    except (LookupError, UnicodeDecodeError):
        text = _decode(data, "windows-1252")
    parsed = HtmlText.read(text)
    return ReportText(
        "html",
        parsed.text,
        [link.url for link in parsed.links if link.source == "href"],
    )


def _markdown(data: bytes) -> ReportText:
    text = _decode(data)
    links: list[str] = []
    if _HTML_TAG.search(text):
        # Markdown pages often embed HTML tables; their cells become text
        # separated by " | " and the Markdown around them stays as written.
        parsed = HtmlText.read(text)
        links = [link.url for link in parsed.links if link.source == "href"]
        text = parsed.text
    return ReportText("markdown", text, links)


def read_report(data: bytes, filename: str) -> ReportText:
    """Return the text of a report; raise :class:`ContributionError` if none."""
    kind = detect_report_format(data, filename)
    if kind == "pdf":
        return _pdf(data, filename)
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ContributionError(
            filename,
            "the file is binary and not a PDF; send the report as PDF, HTML, "
            "Markdown or plain text",
        )
    if kind == "html":
        return _html(data)
    if kind == "markdown":
        return _markdown(data)
    return ReportText("text", _decode(data, "windows-1252"))
