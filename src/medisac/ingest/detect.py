"""Format detection from the first bytes of a document, and the parser table.

Detection reads the first 64 KiB (decompressed) and decides in this order:

1. nothing: ``empty input``; a UTF-16 or UTF-32 byte order mark: rejected
   with a request to convert to UTF-8; more than a stray NUL byte, or mostly
   control bytes: ``binary content``.
2. JSON (starts with ``{`` or ``[``). A STIX bundle, TAXII envelope or STIX
   object is ``stix`` (2.0 and 2.1). An ``Event``, a list of events, an API
   ``response`` or a feed manifest is ``misp``. The JSON form python-stix
   writes of a STIX 1 package is ``stix1``. A document that fits in the sniffed bytes is
   judged by its parsed structure, a longer one by the keys it starts with.
3. XML (starts with ``<``): root ``ioc`` or ``OpenIOC`` is ``openioc``,
   root ``STIX_Package`` is ``stix1``.
4. Other text is ``csv`` when one delimiter (``,`` ``;`` TAB ``|``) splits
   the first lines into the same number (two or more) of fields, or the first
   line names known columns; otherwise ``plain``.

Everything else raises :class:`UnknownFormat` saying what was seen; the
caller can then name the format with ``--format``.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

import orjson

from medisac.errors import IngestError, UnknownFormat
from medisac.ingest.csvcolumns import is_header
from medisac.ingest.csvfile import parse_csv, sniff_delimiter
from medisac.ingest.document import Document
from medisac.ingest.jsonload import FIX_JSON
from medisac.ingest.misp import is_feed_manifest, parse_misp
from medisac.ingest.openioc import parse_openioc
from medisac.ingest.options import ParseOptions, Parser
from medisac.ingest.plain import parse_plain
from medisac.ingest.stix import parse_stix
from medisac.ingest.stix1 import parse_stix1
from medisac.ingest.submission import parse_submission
from medisac.vulns import detect as vulns

__all__ = ["FORMATS", "PARSERS", "ParseOptions", "detect_format"]

PARSERS: dict[str, Parser] = {
    "plain": parse_plain,
    "csv": parse_csv,
    "stix": parse_stix,
    "misp": parse_misp,
    "openioc": parse_openioc,
    "stix1": parse_stix1,
    "submission": parse_submission,
    # CSAF 2.0, CVE JSON 5 and KEV: stored as vulnerabilities by the ingest loop.
    **dict.fromkeys(vulns.VULN_FORMATS, vulns.not_indicators),
}
FORMATS = tuple(PARSERS)

SNIFF_BYTES = 64 * 1024
_BINARY_SHARE = 0.3
# Lines of text sampled to decide between CSV and plain.
_SAMPLE_LINES = 50
_CSV_CONSISTENCY = 0.8

# The separator row under a Markdown table header: | --- | :---: |
_MARKDOWN_TABLE = re.compile(r"^\|(?:\s*:?-{3,}:?\s*\|)+\s*$", re.MULTILINE)
_HINT = f"name the format with --format ({', '.join(FORMATS)})"
_UTF16_BOMS = (
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
)
# C0 control bytes other than tab, line feed, form feed and carriage return.
_CONTROL = bytes(byte for byte in range(32) if byte not in b"\t\n\x0c\r")

_STIX_ID = re.compile(r'"id"\s*:\s*"[a-z0-9-]+--[0-9a-fA-F-]{36}"')
_JSON_MARKERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r'"type"\s*:\s*"bundle"'), "stix"),
    (re.compile(r'^\s*\[?\s*\{\s*"(?:Event|response)"\s*:'), "misp"),
    (re.compile(r'"stix_header"\s*:|"STIXPackage-'), "stix1"),
    (re.compile(r'"objects"\s*:\s*\['), "stix"),
    (re.compile(r'"Event"\s*:\s*\{'), "misp"),
    # A bare MISP event, as some exports write it, starts with its parts.
    (
        re.compile(r'^\s*\{\s*"(?:Attribute|Object|Orgc|Galaxy|EventReport)"\s*:'),
        "misp",
    ),
    (re.compile(r'"spec_version"\s*:\s*"2\.[01]"'), "stix"),
)
_XML_NOISE = re.compile(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>", re.S)
_XML_ROOT = re.compile(r"\s*<(?:[\w.-]+:)?([\w.-]+)")


def detect_format(document: Document) -> str:
    """Return the format name of ``document``: one of :data:`FORMATS`.

    Raises :class:`UnknownFormat` naming what was seen, and
    :class:`IngestError` when the document cannot be read or is JSON with a
    syntax error in its first bytes and no recognisable start.
    """
    head = document.read_head(SNIFF_BYTES)
    complete = len(head) < SNIFF_BYTES
    if not head.strip():
        raise UnknownFormat(document.origin, "empty input: there is nothing to read")
    if head.startswith(_UTF16_BOMS):
        raise UnknownFormat(
            document.origin, "text is UTF-16 or UTF-32; convert it to UTF-8 and retry"
        )
    head = head.removeprefix(codecs.BOM_UTF8)
    if _is_binary(head):
        raise UnknownFormat(
            document.origin,
            "binary content (NUL or control bytes), not text, JSON or XML; "
            f"unpack it if it is an archive of an unsupported kind, or {_HINT}",
        )
    text = head.decode("utf-8", "replace")
    start = text.lstrip()[:1]
    if start in ("{", "["):
        return _detect_json(document.origin, head, text, complete)
    if start == "<":
        return _detect_xml(document.origin, text)
    if _MARKDOWN_TABLE.search(text):
        raise UnknownFormat(
            document.origin,
            "a Markdown table (documentation), not an indicator list; "
            "use --format plain to take the values out of it anyway",
        )
    return _detect_text(text, complete)


def _is_binary(head: bytes) -> bool:
    sample = head[:8192]
    # Executables, images and other binary formats hold many NUL bytes in
    # their first kilobytes. One stray NUL in a text feed makes one bad row,
    # which the parser rejects with its line number.
    if sample.count(0) > max(1, len(sample) // 512):
        return True
    control = len(sample) - len(sample.translate(None, _CONTROL))
    return control / len(sample) > _BINARY_SHARE


def _detect_json(origin: str, head: bytes, text: str, complete: bool) -> str:
    if complete:
        try:
            data = orjson.loads(head)
        except orjson.JSONDecodeError as exc:
            found = _json_by_markers(text)
            if found is not None:
                return found
            raise IngestError(
                origin,
                f"invalid JSON: {exc.msg}; {FIX_JSON}",
                f"line {exc.lineno}, column {exc.colno}",
            ) from exc
        return _json_by_structure(origin, data)
    found = _json_by_markers(text)
    if found is None:
        raise UnknownFormat(
            origin,
            "JSON document is not a STIX bundle or MISP event (no 'objects', "
            f"'type': 'bundle', 'Event' or 'response' near its start); {_HINT}",
        )
    return found


def _json_by_markers(text: str) -> str | None:
    found = vulns.vuln_format_by_markers(text)
    if found is not None:
        return found
    for pattern, name in _JSON_MARKERS:
        if pattern.search(text):
            return name
    if _STIX_ID.search(text[:4096]):
        return "stix"
    return None


def _json_by_structure(origin: str, data: Any) -> str:
    found = _structure_format(data)
    if found is not None:
        return found
    if isinstance(data, dict) and "$schema" in data:
        raise UnknownFormat(origin, f"JSON schema, not indicator data; {_HINT}")
    if isinstance(data, dict):
        keys = ", ".join(list(map(str, data))[:6]) or "none"
        seen = f"top-level keys: {keys}"
    elif isinstance(data, list):
        seen = f"a list of {len(data)} item(s)"
    else:
        seen = f"a JSON {type(data).__name__}"
    raise UnknownFormat(
        origin, f"JSON document is not a STIX bundle or MISP event ({seen}); {_HINT}"
    )


def _structure_format(data: Any) -> str | None:
    found = vulns.vuln_format_of(data)
    if found is not None:
        return found
    if isinstance(data, list):
        items = [item for item in data[:20] if isinstance(item, dict)]
        if not items or len(items) < min(len(data), 20):
            return None
        if all("Event" in item for item in items):
            return "misp"
        if all(_is_stix_object(item) for item in items):
            return "stix"
        return "misp" if is_feed_manifest(data) else None
    if not isinstance(data, dict):
        return None
    if data.get("type") == "bundle" or _is_envelope(data) or _is_stix_object(data):
        return "stix"
    if "Event" in data or "response" in data or is_feed_manifest(data):
        return "misp"
    if isinstance(data.get("Attribute"), list) and ("info" in data or "uuid" in data):
        return "misp"
    if "stix_header" in data or str(data.get("version", "")).startswith("1."):
        return "stix1" if _looks_like_stix1(data) else None
    return None


def _is_envelope(data: dict[str, Any]) -> bool:
    objects = data.get("objects")
    return isinstance(objects, list) and all(
        isinstance(item, dict) and "type" in item for item in objects[:20]
    )


def _is_stix_object(item: dict[str, Any]) -> bool:
    kind, ident = item.get("type"), item.get("id")
    return (
        isinstance(kind, str)
        and isinstance(ident, str)
        and ident.startswith(f"{kind}--")
    )


def _looks_like_stix1(data: dict[str, Any]) -> bool:
    keys = {
        "stix_header",
        "indicators",
        "observables",
        "related_packages",
        "incidents",
        "ttps",
    }
    return bool(keys & set(data))


def _detect_xml(origin: str, text: str) -> str:
    match = _XML_ROOT.match(_XML_NOISE.sub("", text))
    root = match.group(1) if match else None
    if root in ("ioc", "OpenIOC") or "schemas.mandiant.com/2010/ioc" in text[:4096]:
        return "openioc"
    if root == "STIX_Package":
        return "stix1"
    seen = f"root element <{root}>" if root else "no root element"
    raise UnknownFormat(
        origin, f"XML document ({seen}) is neither OpenIOC nor STIX 1.x; {_HINT}"
    )


def _detect_text(text: str, complete: bool) -> str:
    lines = text.split("\n")
    if not complete:
        # The last line may be cut off by the sniff window.
        lines = lines[:-1]
    sample = [line.rstrip("\r") for line in lines if line.strip()][:_SAMPLE_LINES]
    rows = [line for line in sample if not line.lstrip().startswith("#")]
    if not rows:
        return "plain"
    if vulns.vuln_format_of_text(rows[0]) is not None:
        return "kev"
    delimiter, share, width = sniff_delimiter(rows)
    if width >= 2 and share >= _CSV_CONSISTENCY and len(rows) >= 2:
        return "csv"
    # A header row names the columns, so even a one-column file with a header
    # ("domain" over a list of domains) is CSV, and its header is not a value.
    first = rows[0].split(delimiter)
    if (len(first) >= 2 or len(rows) >= 2) and is_header(first):
        return "csv"
    return "plain"
