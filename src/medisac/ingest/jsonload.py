"""Reading a whole document as JSON, with the error position in the message."""

from __future__ import annotations

import codecs
import json
from typing import Any

import orjson

from medisac.errors import IngestError
from medisac.ingest.document import Document

FIX_JSON = "fix the file or ask its publisher for a valid copy"


def load_json(document: Document) -> Any:
    """Return the parsed JSON content of ``document``.

    Raises :class:`IngestError` naming the line and column of the first
    syntax error (a truncated file, a trailing comma), and the errors of
    :meth:`Document.read_bytes`.
    """
    content = document.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    # The standard library reads what orjson rejects for strictness alone
    # (integers past 64 bits), and its errors carry the line and column.
    try:
        return json.loads(content)
    except json.JSONDecodeError as exc:
        raise IngestError(
            document.origin,
            f"invalid JSON: {exc.msg}; {FIX_JSON}",
            f"line {exc.lineno}, column {exc.colno}",
        ) from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        raise IngestError(document.origin, f"invalid JSON: {exc}") from exc
