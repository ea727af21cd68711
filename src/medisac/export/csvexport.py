"""CSV export: one row per indicator, safe to open in a spreadsheet.

The file follows RFC 4180: UTF-8, a header row, CRLF line ends, and a cell
in double quotes (with inner quotes doubled) when it contains a comma, a
quote, CR or LF.

A spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` as a
formula. OWASP ASVS 5.0 requirement 1.2.10 requires that such a first character,
and also a tab or NUL, be escaped with a single quote. So such a cell is
written as ``'`` followed by the original text, in double quotes. A leading
CR, and the full-width and small-form variants of the four characters
(``＝`` U+FF1D and others), get the same prefix as a precaution.
A reader recovers the stored value by removing that one ``'``, and
:func:`unescape_cell` removes it only where the writer added it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from operator import itemgetter
from typing import Any, BinaryIO

import orjson
from sqlalchemy.engine import Connection

from medisac.export.select import ExportFilter, selected_rows
from medisac.model import TLP
from medisac.model.time import format_rfc3339
from medisac.store.views import VIEW_PREFIX

logger = logging.getLogger(__name__)

COLUMNS = (
    "type",
    "value",
    "confidence",
    "tlp",
    "first_seen",
    "last_seen",
    "valid_until",
    "tags",
    "sources",
    "healthcare",
    "stix_id",
)

# First characters that get the formula prefix: the OWASP list, CR, and the
# full-width (U+FF0B, U+FF0D, U+FF1D, U+FF20) and small-form (U+FE62, U+FE63,
# U+FE66, U+FE6B) variants.
# NOTE: whether a spreadsheet folds those variants to ASCII is not verified.
FORMULA_STARTS = frozenset(
    "=+-@\t\r\x00\uff0b\uff0d\uff1d\uff20\ufe62\ufe63\ufe66\ufe6b"
)
# The prefix that turns a formula cell into text.
FORMULA_PREFIX = "'"
# Separator between the items of the tags and sources cells.
LIST_SEPARATOR = ";"

_NEEDS_QUOTES = re.compile('[,"\r\n]')
# First characters that rule out a formula whatever follows. The empty string
# is in the set because ``""[:1]`` is empty.
_SAFE_FIRST = frozenset(
    ["", *"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/\\:[("]
)
_TLP_LABELS = {int(level): level.label for level in TLP}


def is_formula(text: str) -> bool:
    """Tell whether a spreadsheet could read ``text`` as a formula.

    Leading spaces and line feeds are skipped first, as a precaution in case
    a spreadsheet trims them before it looks at the first character.
    """
    if text[:1] in FORMULA_STARTS:
        return True
    return text.lstrip(" \n")[:1] in FORMULA_STARTS


def needs_prefix(text: str) -> bool:
    """Tell whether :func:`escape_cell` adds :data:`FORMULA_PREFIX` to ``text``.

    Text that is a formula once its own leading ``'`` are removed gets the
    prefix too, so that :func:`unescape_cell` never removes a ``'`` that
    belongs to the stored value.
    """
    return is_formula(text.lstrip(FORMULA_PREFIX))


def escape_cell(text: str) -> str:
    """Return ``text`` as one RFC 4180 cell that no spreadsheet runs.

    A possible formula gets :data:`FORMULA_PREFIX` and double quotes.
    """
    if text[:1] in _SAFE_FIRST and _NEEDS_QUOTES.search(text) is None:
        return text
    if needs_prefix(text):
        return '"' + FORMULA_PREFIX + text.replace('"', '""') + '"'
    if _NEEDS_QUOTES.search(text) is not None:
        return '"' + text.replace('"', '""') + '"'
    return text


def unescape_cell(cell: str) -> str:
    """Return the stored text of a cell as a CSV reader returns it.

    This undoes :func:`escape_cell` once a CSV parser has removed the quotes.
    """
    if cell.startswith(FORMULA_PREFIX) and needs_prefix(cell[1:]):
        return cell[1:]
    return cell


def format_row(cells: Iterable[str]) -> str:
    """Return one CSV line, CRLF included, of escaped cells."""
    line = ",".join(escape_cell(cell) for cell in cells)
    # A row of one empty cell would be a blank line, which readers skip.
    return (line or '""') + "\r\n"


@lru_cache(maxsize=4096)
def _time(micros: int | None) -> str:
    if micros is None:
        return ""
    return format_rfc3339(micros, digits=0 if micros % 1_000_000 == 0 else 6)


@lru_cache(maxsize=4096)
def _joined_tags(tags_json: str) -> str:
    # Cached because a bulk ingest gives many records the same tags.
    return LIST_SEPARATOR.join(orjson.loads(tags_json))


@lru_cache(maxsize=4096)
def _source_names(sources_json: str) -> str:
    # Each claim is [name, confidence, tlp, first, last, ref].
    return LIST_SEPARATOR.join(claim[0] for claim in orjson.loads(sources_json))


# The view columns each row needs, in the order _row_line unpacks them.
_ROW_FIELDS = tuple(VIEW_PREFIX + name for name in COLUMNS)


def _row_reader(row: Any) -> Callable[[Any], tuple[Any, ...]]:
    """Return a reader of :data:`_ROW_FIELDS` by position for rows like ``row``.

    Reading a SQLAlchemy row by position is faster than by attribute name.
    """
    names = list(row._fields)
    return itemgetter(*(names.index(name) for name in _ROW_FIELDS))


def _row_line(fields: tuple[Any, ...]) -> str:
    """Return the CSV line of one row's :data:`_ROW_FIELDS` values."""
    (
        kind,
        value,
        confidence,
        tlp,
        first_seen,
        last_seen,
        valid_until,
        tags,
        sources,
        healthcare,
        stix_id,
    ) = fields
    # The other cells have fixed forms (a type name, numbers, RFC 3339 times,
    # a TLP label, true or false) that never need quotes or a prefix.
    return (
        ",".join(
            (
                kind,
                escape_cell(value),
                str(confidence),
                _TLP_LABELS[tlp],
                _time(first_seen),
                _time(last_seen),
                _time(valid_until),
                escape_cell(_joined_tags(tags)),
                escape_cell(_source_names(sources)),
                "true" if healthcare else "false",
                escape_cell(stix_id),
            )
        )
        + "\r\n"
    )


def write_csv(
    conn: Connection, selection: ExportFilter, out: BinaryIO, *, bom: bool = False
) -> int:
    """Write the selected indicators as CSV, ordered by record id; return the count.

    ``bom`` starts the file with a UTF-8 byte order mark, for spreadsheets
    that detect UTF-8 only by that mark. A row whose text cannot be encoded as UTF-8
    (a lone surrogate) is left out, and the count left out is logged.
    """
    if bom:
        out.write("\ufeff".encode())
    out.write(format_row(COLUMNS).encode())
    count = 0
    invalid = 0
    read: Callable[[Any], tuple[Any, ...]] | None = None
    for row in selected_rows(conn, selection):
        if read is None:
            read = _row_reader(row)
        try:
            line = _row_line(read(row)).encode("utf-8")
        except UnicodeEncodeError:
            invalid += 1
            continue
        out.write(line)
        count += 1
    if invalid:
        logger.warning(
            "CSV export: left out %d indicators whose text is not valid Unicode "
            "(a lone surrogate); correct those values at their source and ingest again",
            invalid,
        )
    return count
