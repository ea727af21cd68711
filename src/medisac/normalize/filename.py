"""File names, kept exactly as written apart from surrounding whitespace.

Case is kept (``Setup.EXE``), and so are backslashes, ``|`` and format
characters such as U+202E RIGHT-TO-LEFT OVERRIDE, which malware uses to
disguise an extension: the exact name is what a defender searches for.
Only control characters (including NUL), lone surrogates, an empty name and a
name over 255 characters are rejected.
"""

from __future__ import annotations

import re

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize.value import Value

MAX_FILENAME = 255

_EDGE_INVISIBLE = "\ufeff\u200b\u2060"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def normalize_filename(raw: str) -> Value:
    """Return the filename Value of ``raw`` with surrounding whitespace removed.

    A byte order mark or zero-width character at either end goes too. Raises
    NormalizationError for an empty name, a control character, a lone
    surrogate or a name longer than 255 characters.
    """
    name = raw.strip().strip(_EDGE_INVISIBLE).strip()
    if not name:
        raise NormalizationError(raw, "empty file name")
    control = _CONTROL.search(name)
    if control is not None:
        code = ord(control.group(0))
        raise NormalizationError(
            raw,
            f"control character U+{code:04X} at position {control.start() + 1} "
            "in the file name",
        )
    if _SURROGATE.search(name):
        raise NormalizationError(
            raw, "file name contains an unpaired surrogate, which is not valid Unicode"
        )
    if len(name) > MAX_FILENAME:
        raise NormalizationError(
            raw, f"file name longer than {MAX_FILENAME} characters ({len(name)})"
        )
    return Value(IndicatorType.FILENAME, name)
