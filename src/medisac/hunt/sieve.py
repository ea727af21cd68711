"""The first, fast step of a hunt: which lines of a block may hold an indicator.

In a block of log bytes, letters are lower-cased and the block is split into
words: runs of the bytes that can be part of an address, a host name or a
hash. A :class:`~medisac.hunt.wordtable.WordTable` remembers every word
already classified, so only a word never seen before is looked up in the
index. A word that matches, or that is the host of a listed URL, is a
needle: the lines that contain a needle are read by their format in the
second step, which decides the hits. This step may pass lines that hold no
hit, never the reverse.

Lines with defanged values (``hxxp``, ``[.]``) are refanged and checked on
their own, because the brackets would split their words.
"""

from __future__ import annotations

import secrets

from medisac.hunt import tokens
from medisac.hunt.index import Index
from medisac.hunt.wordtable import MISS, BlockShape, WordTable

_DEFANG_MARKERS = (
    *(b"hxxp", b"[.]", b"(.)", b"{.}", b"[dot]", b"(dot)", b"{dot}"),
    *(b"[:]", b"[/]", b"[@]", b"[at]", b"(at)"),
)
# Words that defang markers leave once brackets are spaces: "[.]" leaves
# ".", "(dot)" leaves "dot" and "hxxp://" leaves "hxxp:". Only a line with
# one of them is searched for the markers themselves. The ":" that "[:]"
# leaves and the "at" of "[at]" are left out: ":" is a word of its own in
# every JSON line, and a value written with them alone is rare.
_DEFANG_WORDS = (b".", b"dot", b"hxxp", b"hxxps", b"hxxp:", b"hxxps:")
# Words remembered as matching nothing; the memory is cleared when it is full.
MAX_REMEMBERED = 2_000_000


class Sieve:
    """Find the candidate lines of blocks of log text for one index."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._table = WordTable(
            seed=secrets.randbits(64), hash_lengths=tokens.HASH_LENGTHS
        )
        # The defang words are the first needles, so that the scan reports
        # the lines that contain them.
        self._needles = [word.decode("ascii") for word in _DEFANG_WORDS]
        self._table.resolve(list(_DEFANG_WORDS), list(range(len(_DEFANG_WORDS))))

    def candidate_lines(
        self, data: bytes
    ) -> tuple[dict[int, tuple[int, frozenset[str] | None]], BlockShape]:
        """Map the start of each line that may contain a hit to its index and needles.

        The index counts lines from 0 at the start of ``data``. A line whose
        needles are None contains a defanged value, and all its fields must
        be read. The block's shape, measured in the same pass, comes second.
        """
        table = self._table
        new_words, hits, shape = table.scan(data)
        if new_words:
            values = [self._classify(word) for word in new_words]
            table.resolve(new_words, values)
            if values.count(MISS) != len(values):
                # The first scan stored the new needles as pending; the
                # second reports their lines.
                _, hits, _ = table.scan(data)
            if len(table) > MAX_REMEMBERED:
                table.clear_misses()
        found: dict[int, tuple[int, set[str]]] = {}
        defanged: dict[int, int] = {}
        for start, line, needle in hits:
            if needle < len(_DEFANG_WORDS):
                defanged[start] = line
            else:
                found.setdefault(start, (line, set()))[1].add(self._needles[needle])
        lines: dict[int, tuple[int, frozenset[str] | None]] = {
            start: (line, frozenset(texts)) for start, (line, texts) in found.items()
        }
        for start, line in defanged.items():
            if self._has_defanged_value(data, start):
                lines[start] = (line, None)
        return lines, shape

    def _classify(self, word: bytes) -> int:
        """Return a new needle id for a word that matches, else :data:`MISS`."""
        if not self._matches(word):
            return MISS
        self._needles.append(word.decode("ascii"))
        return len(self._needles) - 1

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

    def _has_defanged_value(self, data: bytes, start: int) -> bool:
        """Tell whether the line at ``start`` has a defanged value that matches."""
        end = data.find(b"\n", start)
        line = data[start : len(data) if end < 0 else end]
        lowered = line.lower()
        if not any(marker in lowered for marker in _DEFANG_MARKERS):
            return False
        text = line.decode("utf-8", "replace")
        return any(_lookup(self.index, c) for c in tokens.candidates(text))


def _lookup(index: Index, candidate: tokens.Candidate) -> bool:
    if candidate.kind == "ip":
        return bool(index.match_ip(candidate.number, candidate.version, candidate.text))
    if candidate.kind == "domain":
        return bool(index.match_domain(candidate.text))
    if candidate.kind == "url":
        return bool(index.match_url(candidate.text))
    return bool(index.match_hash(candidate.text))
