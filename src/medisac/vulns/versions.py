"""Product versions as advisories write them, and a partial order over them.

Advisories for medical devices rarely use semantic versions: they write
``2.6A``, ``R4.1L1``, ``053L000091``, ``2023.3_Build_9342`` or ``1.8.4
Service Pack 01``. A version is split into numbers and words, ignoring the
separators between them, and two versions compare token by token:

- numbers compare as integers, and a missing trailing number counts as 0, so
  ``1.0`` equals ``1.0.0``;
- pre-release words (``dev``, ``snapshot``, ``alpha``, ``beta``, ``pre``,
  ``preview``, ``rc``) sort before any number or other word at the same place, so
  ``1.0rc1`` comes before ``1.0``;
- other words sort alphabetically among themselves and after 0 or a missing
  token, so ``2.6A`` comes after ``2.6`` and before ``2.6B``;
- a word against a non-zero number, or two different leading words (the
  product lines ``L81`` and ``U61``), cannot be ordered.

:func:`compare` returns None where the order is unknown, and callers report
such a comparison instead of guessing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = ["Version", "VersionError", "compare", "parse_version"]

_TOKEN = re.compile(r"\d+|[A-Za-z]+")
# Characters a version may contain; anything else (a slash, a comma, a
# parenthesis) means the text is a sentence or a list, not one version.
_VERSION_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~\- ]*$")
# Pre-release words, lowest first. Single letters are left out on purpose:
# device firmware writes "2.6A" and "2.6B" for revisions after 2.6.
_PRE_RELEASE = {
    "dev": 0,
    "snapshot": 0,
    "alpha": 1,
    "beta": 2,
    "pre": 3,
    "preview": 3,
    "rc": 4,
}
# Words longer than three letters that do occur inside versions. Any other
# long word ("august", "windows") means the text is prose, not a version.
_VERSION_WORDS = frozenset(
    {
        "alpha",
        "beta",
        "build",
        "final",
        "hotfix",
        "pack",
        "patch",
        "preview",
        "release",
        "revision",
        "service",
        "snapshot",
        "update",
    }
)

# Month names and their abbreviations: "<May 2018" is a date, not a version.
_MONTHS = frozenset(
    {
        "jan",
        "feb",
        "mar",
        "apr",
        "may",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    }
)


class VersionError(ValueError):
    """A text is not a version."""


class _Kind(IntEnum):
    PRE = 0
    NUMBER = 1
    WORD = 2


Token = int | str


@dataclass(frozen=True, slots=True)
class Version:
    """A version as written (``text``) and its tokens (numbers and lower-case words)."""

    text: str
    tokens: tuple[Token, ...] = field(compare=False)

    def __str__(self) -> str:
        return self.text


# Real versions are short; the limits keep a hostile inventory or advisory
# from making int() fail (Python refuses over 4,300 digits) or run long.
MAX_VERSION_CHARS = 200
MAX_NUMBER_DIGITS = 30


def parse_version(text: str) -> Version:
    """Parse one version such as ``2.6A`` or ``v20D29``.

    A leading ``v`` or ``version`` before a digit is dropped. Raises
    :class:`VersionError` for empty text, for characters no version contains
    and for words that are not part of versions (dates, sentences).
    """
    cleaned = text.strip()
    if len(cleaned) > MAX_VERSION_CHARS:
        raise VersionError(
            f"not a version: {len(cleaned):,} characters, over the "
            f"{MAX_VERSION_CHARS} a version may have"
        )
    cleaned = re.sub(r"^(?:versions?\s*|v)(?=\d)", "", cleaned, flags=re.IGNORECASE)
    if not cleaned:
        raise VersionError("empty version")
    if not _VERSION_TEXT.match(cleaned):
        raise VersionError(f"not a version: {text.strip()!r}")
    tokens: list[Token] = []
    for part in _TOKEN.findall(cleaned):
        if part.isdigit():
            if len(part) > MAX_NUMBER_DIGITS:
                raise VersionError(
                    f"not a version: the number {part[:20]}... is too long"
                )
            tokens.append(int(part))
            continue
        word = part.lower()
        if (len(word) > 3 and word not in _VERSION_WORDS) or word in _MONTHS:
            raise VersionError(
                f"not a version: {text.strip()!r} (the word {part!r} is not part "
                "of a version)"
            )
        tokens.append(word)
    return Version(cleaned, tuple(tokens))


def _kind(token: Token | None) -> _Kind:
    if token is None or isinstance(token, int):
        return _Kind.NUMBER
    return _Kind.PRE if token in _PRE_RELEASE else _Kind.WORD


def _compare_tokens(a: Token | None, b: Token | None) -> int | None:
    kind_a, kind_b = _kind(a), _kind(b)
    if kind_a is _Kind.NUMBER and kind_b is _Kind.NUMBER:
        left = 0 if a is None else int(a)
        right = 0 if b is None else int(b)
        return (left > right) - (left < right)
    if kind_a is _Kind.PRE and kind_b is _Kind.PRE:
        rank_a, rank_b = _PRE_RELEASE[str(a)], _PRE_RELEASE[str(b)]
        return (rank_a > rank_b) - (rank_a < rank_b)
    if kind_a is _Kind.PRE or kind_b is _Kind.PRE:
        return -1 if kind_a is _Kind.PRE else 1
    if kind_a is _Kind.WORD and kind_b is _Kind.WORD:
        left_word, right_word = str(a), str(b)
        return (left_word > right_word) - (left_word < right_word)
    # A word against a number: after 0 or nothing, unknown against others.
    number = b if kind_a is _Kind.WORD else a
    if number is None or number == 0:
        return 1 if kind_a is _Kind.WORD else -1
    return None


def compare(a: Version, b: Version) -> int | None:
    """Return -1, 0 or 1 as ``a`` is before, equal to or after ``b``.

    Returns None when the two cannot be ordered: different leading words
    (``L81`` and ``U61``), or a word against a number at the same place.
    """
    ta, tb = a.tokens, b.tokens
    if (
        ta
        and tb
        and ta[0] != tb[0]
        and (isinstance(ta[0], str) or isinstance(tb[0], str))
    ):
        # Leading words name a product line; only single letters that are the
        # whole version ("K", "N") form a known series.
        first, second = ta[0], tb[0]
        whole_letters = (
            len(ta) == len(tb) == 1 and len(str(first)) == len(str(second)) == 1
        )
        if whole_letters and isinstance(first, str) and isinstance(second, str):
            return (first > second) - (first < second)
        return None
    for index in range(max(len(ta), len(tb))):
        left = ta[index] if index < len(ta) else None
        right = tb[index] if index < len(tb) else None
        result = _compare_tokens(left, right)
        if result != 0:
            return result
    return 0
