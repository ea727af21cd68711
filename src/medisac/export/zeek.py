"""Zeek Intel framework files: one tab-separated line per indicator.

Zeek reads the file with its input framework (``Intel::read_files``). The
first line names the fields; each later line gives the indicator, its
``Intel::Type`` and the ``Intel::MetaData`` fields ``meta.source``,
``meta.desc`` and ``meta.url``.

Zeek's ASCII reader splits lines on tabs, skips lines that start with ``#``,
drops a trailing carriage return, reads a field that is exactly ``-`` as
unset, and decodes ``\\xHH`` in string fields. Each field is therefore
escaped so that it reads back to the stored value: tabs, line breaks, other
control characters and backslashes become ``\\xHH``, as do a leading ``#``
of the indicator and a field that is only ``-``. Every value then reads back
unchanged and every line has exactly the header's fields, which the tests
check on arbitrary text.

A URL indicator is written without its scheme and fragment, in the form
that Zeek builds from an HTTP request (host, then path).
``meta.source`` is ``medisac`` on every line, so a new export replaces the
metadata of the last one instead of adding to it; ``meta.desc`` carries the
confidence, TLP, sources and tags.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from dataclasses import replace
from typing import BinaryIO

import orjson
from sqlalchemy.engine import Connection

from medisac.export.select import ExportFilter, selected_rows
from medisac.model import TLP, IndicatorType

logger = logging.getLogger(__name__)

FIELDS = ("indicator", "indicator_type", "meta.source", "meta.desc", "meta.url")
HEADER = "#fields\t" + "\t".join(FIELDS) + "\n"

ZEEK_TYPES: dict[str, str] = {
    IndicatorType.IPV4: "Intel::ADDR",
    IndicatorType.IPV6: "Intel::ADDR",
    IndicatorType.CIDR: "Intel::SUBNET",
    IndicatorType.DOMAIN: "Intel::DOMAIN",
    IndicatorType.URL: "Intel::URL",
    IndicatorType.EMAIL: "Intel::EMAIL",
    IndicatorType.MD5: "Intel::FILE_HASH",
    IndicatorType.SHA1: "Intel::FILE_HASH",
    IndicatorType.SHA256: "Intel::FILE_HASH",
    IndicatorType.SHA512: "Intel::FILE_HASH",
    IndicatorType.FILENAME: "Intel::FILE_NAME",
}

SOURCE = "medisac"
# Zeek's default unset_field: a field written as this alone is unset.
UNSET = "-"
# Limits on meta.desc, which Zeek copies into every intel.log line it matches.
_MAX_DESC = 400
_MAX_TAGS = 10

# Characters that Zeek reads as structure, the other C0 and DEL controls, and
# the backslash, so that a literal ``\x`` in a value survives.
_ESCAPED = re.compile(r"[\x00-\x1f\x7f\\]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_TLPS = {int(member): member for member in TLP}

EMPTY = "empty indicator"
UNKNOWN_TYPE = "type without a Zeek Intel type"


def write_zeek(conn: Connection, selection: ExportFilter, out: BinaryIO) -> int:
    """Write a Zeek Intel file of the blocking indicators; return the line count.

    Values every source marked as context only, benign values and inactive
    records are left out, as in every blocklist.
    """
    out.write(HEADER.encode())
    written = 0
    left_out: Counter[str] = Counter()
    for row in selected_rows(conn, replace(selection, blocking_only=True)):
        line, reason = zeek_line(
            row.i_type,
            row.i_value,
            row.i_confidence,
            row.i_tlp,
            row.i_sources,
            row.i_tags,
        )
        if reason is not None:
            left_out[reason] += 1
            logger.warning("Zeek export: record %s left out: %s", row.id, reason)
            continue
        out.write(line.encode())
        written += 1
    logger.info("Zeek export: %d indicators written", written)
    if left_out:
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(left_out.items()))
        logger.warning("Zeek export: left out: %s", counts)
    return written


def zeek_line(
    kind: str, value: str, confidence: int, tlp: int, sources: str, tags: str
) -> tuple[str, str | None]:
    """Return the Intel line of one indicator, or an empty line and the reason.

    ``sources`` and ``tags`` are the JSON text of the ``indicators`` columns.
    """
    zeek_type = ZEEK_TYPES.get(kind)
    if zeek_type is None:
        return "", UNKNOWN_TYPE
    indicator = _url_for_zeek(value) if kind == IndicatorType.URL else value
    if not indicator:
        return "", EMPTY
    desc = _description(confidence, tlp, sources, tags)
    fields = (
        escape_field(indicator, first=True),
        zeek_type,
        SOURCE,
        desc,
        UNSET,
    )
    return "\t".join(fields) + "\n", None


def escape_field(text: str, *, first: bool = False) -> str:
    """Escape ``text`` so that Zeek's ASCII reader reads it back unchanged.

    ``first`` marks the first field of a line, whose leading ``#`` would
    make Zeek skip the line as a comment.
    """
    escaped = _ESCAPED.sub(_hex_escape, text)
    if escaped == UNSET:
        return "\\x2d"
    if first and escaped.startswith("#"):
        return "\\x23" + escaped[1:]
    return escaped


def _hex_escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group(0)):02x}"


def _url_for_zeek(url: str) -> str:
    without_scheme = _SCHEME.sub("", url, count=1)
    # HTTP requests do not carry the fragment, so Zeek cannot match on it.
    return without_scheme.partition("#")[0]


# Rows of one feed mostly share their confidence, TLP, sources and tags, so
# the escaped field is built once per combination.
@functools.lru_cache(maxsize=4096)
def _description(confidence: int, tlp: int, sources: str, tags: str) -> str:
    level = _TLPS[tlp].label if tlp in _TLPS else str(tlp)
    parts = [f"confidence {confidence}", f"TLP:{level}"]
    names = sorted({str(claim[0]) for claim in orjson.loads(sources)})
    if names:
        parts.append("sources: " + ", ".join(names))
    labels = [str(tag) for tag in orjson.loads(tags)]
    if labels:
        listed = ", ".join(labels[:_MAX_TAGS])
        more = len(labels) - _MAX_TAGS
        parts.append("tags: " + listed + (f" and {more} more" if more > 0 else ""))
    desc = "; ".join(parts)
    if len(desc) > _MAX_DESC:
        desc = desc[: _MAX_DESC - 1] + "…"
    return escape_field(desc)
