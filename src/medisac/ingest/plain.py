"""Plain-text indicator lists: one value per line, and report-style text.

Rules, applied per line:

- Blank lines and comment lines (starting ``#``, ``;`` or ``//``) are skipped.
  A comment after whitespace (``value  # note``) is removed.
- A line without inner whitespace is one value, sent as written so that the
  normaliser detects its type or rejects it with this line's number. When a
  ``;``, ``,`` or ``|`` joins it to a comment (``<md5>;Sakula``) and the whole
  token is no indicator but its first part is, the first part is the value.
- A line with inner whitespace (``1.2.3.4<TAB>7``, ``Sample hash: <sha256>``,
  prose) is split into words, and each word that has the shape of an
  indicator, defanged or not, is a value. Other words are ignored, and a line
  without any such word is skipped as text.

No type is declared: the normaliser detects each value's type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from medisac.errors import NormalizationError
from medisac.ingest.document import Document, LongLine
from medisac.ingest.options import ParseOptions
from medisac.model import Observation, ParseItem, ParseWarning, Rejection, Skipped
from medisac.normalize import clean, detect_type

_INLINE_COMMENT = re.compile(r"\s+#.*$")
_SEPARATORS = re.compile(r"[;,|]")
# Sentence punctuation that follows a value in prose but is no part of it.
_TRAILING = ".,;:!?"


def parse_plain(document: Document, options: ParseOptions) -> Iterator[ParseItem]:
    """Yield an observation per value in a plain-text document.

    Location is ``line N``. Raises :class:`IngestError` only when the document
    cannot be read.
    """
    lines = document.text_lines(options.max_line_bytes)
    for number, text in lines:
        if type(text) is LongLine:
            yield long_line_rejection(number, text)
            continue
        line = text.strip()
        if not line:
            continue
        first = line[0]
        if first == "#" or first == ";" or line.startswith("//"):
            continue
        if "#" in line:
            line = _INLINE_COMMENT.sub("", line)
        if " " not in line and "\t" not in line:
            yield Observation(_single_value(line), f"line {number}")
        else:
            yield from _words(line, number)
    if lines.first_invalid_line is not None:
        yield invalid_utf8_warning(lines.first_invalid_line)


def long_line_rejection(number: int, line: LongLine) -> Rejection:
    """Return the rejection of a line over the line limit."""
    return Rejection(
        f"line {number}",
        f"line is {line.size:,} bytes long, over the limit for one line; "
        "a list has one value per line",
        str(line),
    )


def invalid_utf8_warning(first_line: int) -> ParseWarning:
    """Return the warning that bytes were not valid UTF-8."""
    return ParseWarning(
        f"line {first_line}",
        "input is not valid UTF-8 from this line on; invalid bytes were read "
        "as U+FFFD, so values containing them are rejected. Convert the file "
        "to UTF-8",
    )


def _single_value(token: str) -> str:
    if _SEPARATORS.search(token) and not looks_like_indicator(token):
        head = _SEPARATORS.split(token, maxsplit=1)[0]
        if looks_like_indicator(head):
            return head
    return token


def _words(line: str, number: int) -> Iterator[ParseItem]:
    location = f"line {number}"
    found = False
    for word in line.split():
        for value in _values_in_word(word):
            found = True
            yield Observation(value, location)
    if not found:
        yield Skipped("text", location, "line has no word shaped like an indicator")


def _values_in_word(word: str) -> list[str]:
    word = word.rstrip(_TRAILING)
    if looks_like_indicator(word):
        return [word]
    if _SEPARATORS.search(word):
        return [part for part in _SEPARATORS.split(word) if looks_like_indicator(part)]
    return []


def looks_like_indicator(text: str) -> bool:
    """Tell whether ``text``, refanged and unwrapped, has an indicator's shape."""
    if not text:
        return False
    try:
        return detect_type(clean(text)) is not None
    except NormalizationError:
        return False
