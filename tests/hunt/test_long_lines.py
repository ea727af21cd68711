"""Key=value parsing stays linear on long lines without separators."""

from __future__ import annotations

import io

import pytest

from medisac.hunt import formats, reader


def test_key_value_pairs_found() -> None:
    found = formats._KEY_VALUE.findall('srcip=198.51.100.7 msg="a b" x.y=1 ab=c=d')
    assert found == [
        ("srcip", "198.51.100.7"),
        ("msg", '"a b"'),
        ("x.y", "1"),
        ("ab", "c=d"),
    ]


def test_long_word_scanned_once() -> None:
    # Before the look-behind, each of the 300,000 start positions rescanned
    # the rest of the word, which took minutes; the test fails by hanging.
    line = "x" * 300_000 + " key=198.51.100.20"
    assert formats._KEY_VALUE.findall(line) == [("key", "198.51.100.20")]


def test_long_line_cut_into_bounded_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 1000)
    data = b"first\n" + b"a" * 5000 + b"\nlast line\n"
    stream = io.BytesIO(data)
    log = reader.LogInput("long.log", stream, len(data), stream.tell)
    found = list(reader.blocks(log, block_bytes=100))
    assert all(len(block.data) <= 1000 + 100 + 1 for block in found)
    assert all(block.data.endswith(b"\n") for block in found)
    joined = b"".join(block.data for block in found)
    assert joined.replace(b"\n", b"") == data.replace(b"\n", b"")
    assert joined.endswith(b"\nlast line\n")
