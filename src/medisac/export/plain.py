"""Plain lists: one canonical value per line."""

from __future__ import annotations

from dataclasses import replace
from typing import BinaryIO

from sqlalchemy.engine import Connection

from medisac.export.select import ExportFilter, selected_rows
from medisac.store.views import VIEW_PREFIX


def write_plain(conn: Connection, selection: ExportFilter, out: BinaryIO) -> int:
    """Write one value per line, ordered by record id; return the count.

    Values are canonical (IDNs as punycode, lower-case hashes), so a
    blocklist consumer never sees two spellings of one value. A plain list is
    a blocklist, so values every source marked as context only are left out.
    """
    count = 0
    for row in selected_rows(conn, replace(selection, blocking_only=True)):
        out.write(getattr(row, VIEW_PREFIX + "value").encode() + b"\n")
        count += 1
    return count
