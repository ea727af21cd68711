"""The table of words a hunt has already classified, in C or in Python.

:class:`WordTable` is the compiled table from ``_wordtable.c`` when it was
built at install time, and :class:`PyWordTable` otherwise. Both split a block
into the same words and return the same results. The compiled one creates no
Python object for a word it has seen before, which makes the sieve several
times faster on logs whose words recur.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import NamedTuple

log = logging.getLogger(__name__)

# Value of a word that matches nothing. Needles have ids from 0 up.
MISS = -1
# Words without "." or ":" that are longer than this are skipped unless they
# are hex of a hash length (see PyWordTable._can_match). Shorter words are
# kept so that the defang words "dot" and "hxxp" are seen.
SHORT_WORD = 5
_PENDING = -3

# Bytes that can be part of a word: letters, digits, ".", "-", "_" and ":".
# Non-ASCII bytes end a word, so internationalised names are found only in
# their punycode form.
_WORD_BYTES = b"abcdefghijklmnopqrstuvwxyz0123456789.-_:\n"
_WORD_BYTES_ANY_CASE = _WORD_BYTES + b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Upper-case letters become lower case, line breaks stay, and every other
# byte that cannot be part of a word becomes a space. Offsets do not move.
_TABLE = bytes(
    (byte + 32 if 0x41 <= byte <= 0x5A else byte)
    if byte in _WORD_BYTES_ANY_CASE
    else 0x20
    for byte in range(256)
)
# Control bytes other than tab, CR and LF: signs of binary data.
CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


class BlockShape(NamedTuple):
    """Counts and flags of a block that the malformed-line checks use."""

    newlines: int
    tabs: int
    # Line breaks followed by "{", and line breaks that follow "}".
    brace_starts: int
    brace_ends: int
    control: bool
    non_ascii: bool
    carriage_return: bool
    blank_line: bool

    @classmethod
    def measure(cls, data: bytes) -> BlockShape:
        """Measure a block with one pass per count (the word table does one)."""
        return cls(
            data.count(b"\n"),
            data.count(b"\t"),
            data.count(b"\n{"),
            data.count(b"}\n"),
            len(data.translate(None, CONTROL_BYTES)) != len(data),
            not data.isascii(),
            b"\r" in data,
            b"\n\n" in data,
        )

    @classmethod
    def from_flags(cls, counts: tuple[int, int, int, int, int]) -> BlockShape:
        """Build a shape from the compiled scan's counts and flag bits."""
        newlines, tabs, brace_starts, brace_ends, flags = counts
        return cls(
            newlines,
            tabs,
            brace_starts,
            brace_ends,
            bool(flags & 1),
            bool(flags & 2),
            bool(flags & 4),
            bool(flags & 8),
        )


_HEX = b"0123456789abcdef"
_DIGITS_AND_DOTS = b"0123456789."
_DIGITS_AND_COLONS = b"0123456789:"


class PyWordTable:
    """Words already classified: the same interface as the compiled table.

    :meth:`scan` splits a block into words, stores the words it has not seen
    as pending and returns them (lower case, once each), with the
    ``(line start, line index, needle id)`` triples of the block's needles
    and the block's :class:`BlockShape`.
    :meth:`resolve` classifies pending words. Words that can match nothing
    (see :data:`SHORT_WORD`) are skipped.
    """

    def __init__(self, seed: int = 0, hash_lengths: Iterable[int] = ()) -> None:
        del seed  # Python's own hash is already randomised per process.
        self._hash_lengths = frozenset(hash_lengths)
        self._values: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._values)

    @property
    def nbytes(self) -> int:
        """An estimate of the bytes the stored words take."""
        return sum(len(word) + 90 for word in self._values)

    def scan(
        self, data: bytes
    ) -> tuple[list[bytes], list[tuple[int, int, int]], BlockShape]:
        """Split a block into words; return new words, needle hits and shape."""
        text = data.translate(_TABLE)
        words = {word for word in set(text.split()) if self._can_match(word)}
        values = self._values
        new_words = [word for word in words if word not in values]
        for word in new_words:
            values[word] = _PENDING
        hits: set[tuple[int, int]] = set()
        for word in words:
            value = values[word]
            if value >= 0:
                hits.update((start, value) for start in _word_lines(text, word))
        numbered = []
        line, counted_to = 0, 0
        for start, value in sorted(hits):
            line += text.count(b"\n", counted_to, start)
            counted_to = start
            numbered.append((start, line, value))
        return new_words, numbered, BlockShape.measure(data)

    def _can_match(self, word: bytes) -> bool:
        """Tell whether a word can match anything; ``can_match`` in C mirrors this."""
        dots, colons = word.count(b"."), word.count(b":")
        if not dots and not colons:
            # Only a hash, or one of the short defang words.
            if len(word) <= SHORT_WORD:
                return True
            return len(word) in self._hash_lengths and not word.strip(_HEX)
        if not word.strip(b".:"):
            return True
        if not colons and not word.strip(_DIGITS_AND_DOTS):
            # Only IPv4: a domain's last label has a letter.
            return dots - (len(word) - len(word.rstrip(b"."))) == 3
        if not dots and not word.strip(_DIGITS_AND_COLONS):
            # Times and counters, unless IPv6 or a hash-length run of digits.
            return b"::" in word or colons >= 6 or len(word) >= 32
        return True

    def resolve(self, words: list[bytes], values: list[int]) -> None:
        """Set each word's value: :data:`MISS` or a needle id."""
        if len(words) != len(values):
            raise ValueError("resolve() needs one value per word")
        for word, value in zip(words, values, strict=True):
            if value < MISS:
                raise ValueError(
                    f"invalid word value {value}: expected -1 or a needle id"
                )
            self._values[word] = value

    def clear_misses(self) -> None:
        """Forget every word but needles."""
        self._values = {
            word: value for word, value in self._values.items() if value >= 0
        }


def _word_lines(text: bytes, word: bytes) -> list[int]:
    """Return the start of each line of ``text`` where ``word`` is a whole word."""
    starts: list[int] = []
    size = len(word)
    position = text.find(word)
    while position >= 0:
        end = position + size
        before = text[position - 1] if position else 0x20
        after = text[end] if end < len(text) else 0x20
        if before in (0x20, 0x0A) and after in (0x20, 0x0A):
            start = text.rfind(b"\n", 0, position) + 1
            if not starts or starts[-1] != start:
                starts.append(start)
            line_end = text.find(b"\n", end)
            if line_end < 0:
                break
            position = text.find(word, line_end)
        else:
            position = text.find(word, position + 1)
    return starts


class CompiledWordTable:
    """The compiled table, with its block shape as a :class:`BlockShape`."""

    def __init__(self, seed: int = 0, hash_lengths: Iterable[int] = ()) -> None:
        self._table = _wordtable.WordTable(seed, hash_lengths)
        self.resolve = self._table.resolve
        self.clear_misses = self._table.clear_misses

    def __len__(self) -> int:
        return len(self._table)

    @property
    def nbytes(self) -> int:
        """Bytes allocated for slots and stored words."""
        return self._table.nbytes

    def scan(
        self, data: bytes
    ) -> tuple[list[bytes], list[tuple[int, int, int]], BlockShape]:
        """Split a block into words; return new words, needle hits and shape."""
        new_words, hits, counts = self._table.scan(data)
        return new_words, hits, BlockShape.from_flags(counts)


WordTable: type[CompiledWordTable] | type[PyWordTable]
try:
    from medisac.hunt import _wordtable
except ImportError:  # built without a C compiler
    log.debug("compiled word table not built; the hunt uses the Python one")
    WordTable = PyWordTable
else:
    WordTable = CompiledWordTable
