"""The sieve's word tables: the compiled one agrees with the Python one."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from medisac.errors import NormalizationError
from medisac.hunt import tokens
from medisac.hunt.index import ValueIndex
from medisac.hunt.sieve import Sieve
from medisac.hunt.wordtable import (
    MISS,
    BlockShape,
    CompiledWordTable,
    PyWordTable,
    WordTable,
)
from medisac.normalize import normalize

PROPERTY = settings(max_examples=300, deadline=None)
HASH_LENGTHS = (32, 40, 64, 128)

# Pieces of log text: words of every shape the tables tell apart, and the
# bytes between them, control and non-ASCII bytes among them.
WORD = st.one_of(
    st.text(alphabet="0123456789.", min_size=1, max_size=18),
    st.text(alphabet="0123456789:", min_size=1, max_size=36),
    st.text(alphabet="0123456789abcdefABCDEF", min_size=30, max_size=66),
    st.text(alphabet=string.ascii_letters + string.digits + ".-_:", max_size=20),
    st.sampled_from(["dot", "hxxp", "HXXPS:", ".", "evil.example", "10.0.0.1"]),
)
GAP = st.sampled_from(
    [
        " ",
        "\t",
        "\n",
        "\n\n",
        "\r\n",
        '"',
        "=",
        "[",
        "]",
        "/",
        "\x00",
        "\x7f",
        "é",
        "{",
        "}",
    ]
)


@st.composite
def blocks(draw: st.DrawFn) -> bytes:
    pieces = draw(st.lists(st.tuples(WORD, GAP), max_size=40))
    text = "".join(word + gap for word, gap in pieces)
    return text.encode("utf-8")


def _tables() -> tuple[CompiledWordTable, PyWordTable]:
    if WordTable is not CompiledWordTable:
        pytest.fail("the compiled word table was not built; install with a C compiler")
    compiled = CompiledWordTable(seed=12345, hash_lengths=HASH_LENGTHS)
    python = PyWordTable(hash_lengths=HASH_LENGTHS)
    return compiled, python


def _classify(words: list[bytes]) -> list[int]:
    """Make every word with a "1" in it a needle, numbered in sorted order."""
    return [index if b"1" in word else MISS for index, word in enumerate(sorted(words))]


EDGE_WORDS = (
    b"1.2.3.4 1.2.3.4. 1.2.3.4.. .1.2.3 1.2.3 1.2.3.4.5 1331901000.000000 "
    b"12:30:45 ::1 1::2 1:2:3:4:5:6 1:2:3:4:5:6:7:8 12345678901234567890123456789012 "
    b"d41d8cd98f00b204e9800998ecf8427e D41D8CD98F00B204E9800998ECF8427E "
    b"d41d8cd98f00b204e9800998ecf8427 CjK3x5ab dot hxxp HXXPS: [.] 1a.2 .: "
    b"12345 123456\n"
)


@PROPERTY
@given(blocks(), blocks())
@example(EDGE_WORDS, b"")
def test_tables_agree(first: bytes, second: bytes) -> None:
    compiled, python = _tables()
    for data in (first, second, first + second):
        c_new, _, c_shape = compiled.scan(data)
        p_new, _, p_shape = python.scan(data)
        assert sorted(c_new) == sorted(p_new)
        assert c_shape == p_shape
        words = sorted(c_new)
        values = _classify(words)
        compiled.resolve(words, values)
        python.resolve(words, values)
        _, c_hits, _ = compiled.scan(data)
        _, p_hits, _ = python.scan(data)
        assert sorted(set(c_hits)) == p_hits


@PROPERTY
@given(blocks())
def test_shape_matches_counts(data: bytes) -> None:
    compiled, _ = _tables()
    assert compiled.scan(data)[2] == BlockShape.measure(data)


def test_edge_words_kept_or_skipped() -> None:
    compiled, _ = _tables()
    new = set(compiled.scan(EDGE_WORDS)[0])
    kept = {b"1.2.3.4", b"1.2.3.4.", b"1.2.3.4..", b"::1", b"1::2", b"1:2:3:4:5:6:7:8"}
    skipped = {
        b"1.2.3",
        b"1.2.3.4.5",
        b"1331901000.000000",
        b"12:30:45",
        b"1:2:3:4:5:6",
    }
    assert kept <= new
    assert not skipped & new
    assert b"d41d8cd98f00b204e9800998ecf8427e" in new
    assert b"d41d8cd98f00b204e9800998ecf8427" not in new
    assert b"12345678901234567890123456789012" in new


def test_hits_name_line_and_index() -> None:
    compiled, python = _tables()
    data = b"a b\nx EVIL.example y\nnothing\nevil.example\n"
    for table in (compiled, python):
        new, _, _ = table.scan(data)
        table.resolve(
            sorted(new), [7 if w == b"evil.example" else MISS for w in sorted(new)]
        )
        _, hits, _ = table.scan(data)
        assert sorted(set(hits)) == [(4, 1, 7), (29, 3, 7)]


def test_new_words_reported_once() -> None:
    compiled, python = _tables()
    data = b"host.example host.example\nHOST.example\n"
    for table in (compiled, python):
        assert table.scan(data)[0] == [b"host.example"]
        assert table.scan(data)[0] == []


def test_clear_misses_keeps_needles() -> None:
    compiled, python = _tables()
    data = b"bad.example good.example\n"
    for table in (compiled, python):
        table.scan(data)
        table.resolve([b"bad.example", b"good.example"], [0, MISS])
        table.clear_misses()
        new, hits, _ = table.scan(data)
        assert new == [b"good.example"]
        assert hits == [(0, 0, 0)]


def test_resolve_rejects_bad_values() -> None:
    for table in _tables():
        table.scan(b"a.example\n")
        with pytest.raises(ValueError, match="one value per word"):
            table.resolve([b"a.example"], [])
        with pytest.raises(ValueError, match="invalid word value -5"):
            table.resolve([b"a.example"], [-5])


def test_long_words_found() -> None:
    compiled, python = _tables()
    word = b"a" * 300 + b".example"
    for table in (compiled, python):
        new, _, _ = table.scan(b"x " + word.upper() + b" y\n")
        assert word in new
        table.resolve([word], [3])
        assert table.scan(b"\n" + word + b"\n")[1] == [(1, 1, 3)]


NUMERIC_WORD = st.one_of(
    st.text(alphabet="0123456789.", min_size=1, max_size=20),
    st.text(alphabet="0123456789:", min_size=1, max_size=40),
    st.text(alphabet="0123456789abcdef", min_size=6, max_size=130),
)


@PROPERTY
@given(NUMERIC_WORD)
def test_skipped_words_cannot_match(text: str) -> None:
    """A word the tables skip matches nothing, even with itself listed."""
    word = text.encode()
    if PyWordTable(hash_lengths=tokens.HASH_LENGTHS)._can_match(word):
        return
    index = ValueIndex()
    for candidate in {text, text.rstrip("."), *text.split(":")}:
        try:
            values = normalize(candidate)
        except NormalizationError:
            continue
        for value in values:
            index.add(len(index.ids), value.type.value, value.value)
    assert not Sieve(index)._matches(word)
