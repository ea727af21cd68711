"""Undo defanging and strip the wrapping that feeds put around values.

Analysts defang values so that a reader cannot open them by accident: ``hxxps://`` for
``https://``, ``[.]`` for ``.``, ``[@]`` for ``@``. :func:`refang` reverses
every form listed in ``_REPLACEMENTS`` and the ``hxxp`` scheme in any letter
case, keeping the ``s`` of ``hxxps``. It touches nothing else: an unknown
scheme such as ``tcp://`` and an IPv6 literal in URL brackets stay as written.

A defang marker is replaced wherever it occurs, including inside a URL path,
so a path that really contains ``(at)`` or ``[.]`` changes too. Feeds write
such paths far less often than they defang.
"""

from __future__ import annotations

import re

from medisac.errors import NormalizationError

_REPLACEMENTS = {
    "[.]": ".",
    # Some reports close no bracket: "bombay.com[.ar".
    "[.": ".",
    "(.)": ".",
    "{.}": ".",
    "[dot]": ".",
    "(dot)": ".",
    "{dot}": ".",
    "[:]": ":",
    "[://]": "://",
    "[/]": "/",
    "[@]": "@",
    "(@)": "@",
    "{@}": "@",
    "[at]": "@",
    "(at)": "@",
    "{at}": "@",
}

_DEFANGED = re.compile(
    r"\bhxxp(s?)\b|"
    + "|".join(re.escape(marker) for marker in sorted(_REPLACEMENTS, key=len)[::-1]),
    re.IGNORECASE,
)

# Invisible characters that copy and paste leave inside values. UTS 46 maps
# each of them to nothing, so removing them never changes a domain name.
_INVISIBLE = {
    ord("\u00ad"): None,  # soft hyphen
    ord("\u200b"): None,  # zero width space
    ord("\u2060"): None,  # word joiner
    ord("\ufeff"): None,  # byte order mark, zero width no-break space
}
# ZWNJ and ZWJ are valid inside some IDN labels, so they go only at the ends.
_EDGE_JOINERS = "\u200c\u200d"

_PAIRS = {
    '"': '"',
    "'": "'",
    "`": "`",
    "<": ">",
    "[": "]",
    "(": ")",
    "{": "}",
    "\u201c": "\u201d",
    "\u2018": "\u2019",
    "\u00ab": "\u00bb",
}

_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace(match: re.Match[str]) -> str:
    marker = match.group(0)
    if match.group(1) is not None:
        return "http" + match.group(1).lower()
    return _REPLACEMENTS[marker.lower()]


def _may_be_defanged(text: str) -> bool:
    # Every marker contains a bracket and ``hxxp`` contains an x, and no other
    # character matches an x under re.IGNORECASE. Most values have none of
    # these, and this check costs a fraction of a regex search.
    return "[" in text or "(" in text or "{" in text or "x" in text or "X" in text


def refang(text: str) -> str:
    """Return ``text`` with every defang marker replaced by what it stands for.

    Works on a single value or on a whole line of free text; whitespace and
    everything that is not a defang marker are left alone. Markers nested in
    markers (``[[.]]``) are replaced until none is left, so refanging twice
    gives the same text as refanging once.
    """
    if not _may_be_defanged(text):
        return text
    while True:
        refanged = _DEFANGED.sub(_replace, text)
        if refanged == text:
            return text
        text = refanged


def strip_invisible(text: str) -> str:
    """Return ``text`` without surrounding whitespace and invisible characters.

    Raises :class:`NormalizationError` when the text contains an unpaired
    surrogate, which is not valid Unicode and cannot be stored.
    """
    text = text.strip()
    if text.isascii():
        return text
    if _SURROGATE.search(text):
        raise NormalizationError(
            text, "contains an unpaired surrogate, which is not valid Unicode"
        )
    text = text.translate(_INVISIBLE)
    return text.strip().strip(_EDGE_JOINERS).strip()


def _unwrap(text: str) -> str:
    # Feeds quote or bracket a whole value: "x", <x>, [x]. Unwrap only a
    # matching pair around the whole text, so "[2001:db8::1]:443" is kept.
    while len(text) >= 2 and _PAIRS.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    return text


def clean(raw: str) -> str:
    """Return ``raw`` stripped, refanged and unwrapped, ready for detection.

    Removes surrounding whitespace (CR and LF included), a byte order mark,
    zero-width characters, and quotes or brackets around the whole value.
    Raises :class:`NormalizationError` for text that is not valid Unicode.
    """
    text = refang(strip_invisible(raw))
    if text and text[0] in _PAIRS:
        text = _unwrap(text)
    return text
