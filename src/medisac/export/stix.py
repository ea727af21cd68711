"""A STIX 2.1 bundle of the selected indicators, with their markings."""

from __future__ import annotations

import uuid
from typing import BinaryIO

import orjson
from sqlalchemy.engine import Connection

from medisac.export.select import ExportFilter, selected_rows
from medisac.stix import STATIC_OBJECTS
from medisac.store.views import VIEW_PREFIX, indicator_view, render_body


def write_stix_bundle(conn: Connection, selection: ExportFilter, out: BinaryIO) -> int:
    """Write a bundle to ``out``, streaming; return the number of indicators.

    The bundle holds the identity and the TLP marking definitions the
    indicators refer to, then each indicator's latest published version,
    byte for byte as TAXII serves it.
    """
    out.write(b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode())
    out.write(b'","objects":[')
    for index, obj in enumerate(STATIC_OBJECTS):
        if index:
            out.write(b",")
        out.write(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS))
    count = 0
    for row in selected_rows(conn, selection):
        body = row.body or render_body(indicator_view(row, VIEW_PREFIX))
        out.write(b",")
        out.write(body.encode())
        count += 1
    out.write(b"]}\n")
    return count
