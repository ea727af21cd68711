"""Key=value parsing stays linear on long lines without separators."""

from __future__ import annotations

from medisac.hunt import formats


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
