"""The first, fast step of a hunt: which lines of a block may hold an indicator.

In a block of log bytes, letters are lower-cased, every byte that cannot be
part of an address, a host name or a hash becomes a space, and the block is
split into words. Those steps run in C over the whole block. Each distinct word is
then looked up once, and a word that matches nothing is remembered, so that
it costs a set difference, not a lookup, when it appears again. A word that
matches, or that is the host of a listed URL, is a needle: the lines that
contain a needle are read by their format in the second step, which decides
the hits. This step may pass lines that hold no hit, never the reverse.

Lines with defanged values (``hxxp``, ``[.]``) are refanged and checked on
their own, because the brackets would split their words.
"""

from __future__ import annotations

from medisac.hunt import tokens
from medisac.hunt.index import Index

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
_DEFANG_MARKERS = (
    *(b"hxxp", b"[.]", b"(.)", b"{.}", b"[dot]", b"(dot)", b"{dot}"),
    *(b"[:]", b"[/]", b"[@]", b"[at]", b"(at)"),
)
# Words that defang markers leave once brackets are spaces: "[.]" leaves
# ".", "(dot)" leaves "dot" and "hxxp://" leaves "hxxp:". Only a block with
# one of them is searched for the markers themselves.
_DEFANG_WORDS = frozenset({b".", b"dot", b"hxxp", b"hxxps", b"hxxp:", b"hxxps:"})
# Words remembered as matching nothing; the memory is cleared when it is full.
MAX_REMEMBERED = 2_000_000


class Sieve:
    """Find the candidate lines of blocks of log text for one index."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._misses: set[bytes] = set()

    def candidate_lines(self, data: bytes) -> dict[int, frozenset[str] | None]:
        """Map the start of each line that may contain a hit to its needles.

        A line mapped to None contains a defanged value, and all its fields
        must be read.
        """
        words_text = data.translate(_TABLE)
        words = set(words_text.split())
        defanged = not _DEFANG_WORDS.isdisjoint(words)
        words -= self._misses
        needles = [word for word in words if self._matches(word)]
        words.difference_update(needles)
        if len(self._misses) + len(words) > MAX_REMEMBERED:
            self._misses.clear()
        self._misses |= words
        lines: dict[int, frozenset[str] | None] = {}
        found: dict[int, set[str]] = {}
        for needle in needles:
            text = needle.decode("ascii")
            position = words_text.find(needle)
            while position >= 0:
                start = words_text.rfind(b"\n", 0, position) + 1
                found.setdefault(start, set()).add(text)
                end = words_text.find(b"\n", position)
                if end < 0:
                    break
                position = words_text.find(needle, end)
        for start, texts in found.items():
            lines[start] = frozenset(texts)
        if defanged:
            lowered = data.lower()
            if any(marker in lowered for marker in _DEFANG_MARKERS):
                for start in self._defanged_lines(data, lowered):
                    lines[start] = None
        return lines

    def _matches(self, word: bytes) -> bool:
        text = word.decode("ascii").rstrip(".")
        if ":" not in text:
            return self._matches_plain(text)
        colons = text.count(":")
        # An IPv6 address has "::", eight groups, or six and an IPv4 tail;
        # times such as 23:27:42 have none of these and skip the parser.
        if "::" in text or colons == 7 or (colons == 6 and "." in text):
            candidate = tokens.ipv6_candidate(text)
            if candidate is not None:
                return bool(
                    self.index.match_ip(
                        candidate.number, candidate.version, candidate.text
                    )
                ) or self.index.is_url_host(candidate.text)
        # host:port, key:value and similar: either side may be the value.
        return any(self._matches_plain(part.rstrip(".")) for part in text.split(":"))

    def _matches_plain(self, text: str) -> bool:
        index = self.index
        if not text:
            return False
        if text[0].isdigit() and tokens.IPV4.fullmatch(text):
            number = tokens.ipv4_number(text)
            if number is None:
                return False
            return bool(index.match_ip(number, 4, text)) or index.is_url_host(text)
        if "." in text:
            return bool(index.match_domain(text)) or index.is_url_host(text)
        if len(text) in tokens.HASH_LENGTHS:
            return bool(index.match_hash(text))
        return False

    def _defanged_lines(self, data: bytes, lowered: bytes) -> list[int]:
        starts = set()
        for marker in _DEFANG_MARKERS:
            position = lowered.find(marker)
            while position >= 0:
                starts.add(lowered.rfind(b"\n", 0, position) + 1)
                position = lowered.find(marker, position + 1)
        found = []
        for start in sorted(starts):
            end = data.find(b"\n", start)
            line = data[start : len(data) if end < 0 else end]
            text = line.decode("utf-8", "replace")
            if any(_lookup(self.index, c) for c in tokens.candidates(text)):
                found.append(start)
        return found


def _lookup(index: Index, candidate: tokens.Candidate) -> bool:
    if candidate.kind == "ip":
        return bool(index.match_ip(candidate.number, candidate.version, candidate.text))
    if candidate.kind == "domain":
        return bool(index.match_domain(candidate.text))
    if candidate.kind == "url":
        return bool(index.match_url(candidate.text))
    return bool(index.match_hash(candidate.text))
