"""A STIX 2.1 bundle of the selected indicators, with their markings.

A value that every source marked as context only (MISP ``to_ids`` false)
is exported as the cyber-observable it names rather than as an indicator,
so a consumer that turns indicators into detections never alerts on it.
"""

from __future__ import annotations

import uuid
from typing import BinaryIO

import orjson
from sqlalchemy.engine import Connection

from medisac.export.select import ExportFilter, selected_rows
from medisac.stix import STATIC_OBJECTS
from medisac.stix.observables import render_observable
from medisac.store.views import render_body, view_from_columns


def write_stix_bundle(conn: Connection, selection: ExportFilter, out: BinaryIO) -> int:
    """Write a bundle to ``out``, streaming; return the number of values.

    The bundle contains the identity and the TLP marking definitions the
    objects refer to, then each indicator's latest published version, byte
    for byte as TAXII serves it, or the observable of a context-only value.
    """
    out.write(b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode())
    out.write(b'","objects":[')
    for index, obj in enumerate(STATIC_OBJECTS):
        if index:
            out.write(b",")
        out.write(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS))
    count = 0
    for row in selected_rows(conn, selection):
        out.write(b",")
        # The view columns follow the id and the body (see selected_rows).
        view = view_from_columns(row[2:])
        if not view.to_ids:
            observable = render_observable(view)
            out.write(orjson.dumps(observable, option=orjson.OPT_SORT_KEYS))
            count += 1
            continue
        body = row.body or render_body(view)
        out.write(body.encode())
        count += 1
    out.write(b"]}\n")
    return count
