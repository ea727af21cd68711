"""Documents: decompression, the size cap, and reading text lines."""

from __future__ import annotations

import bz2
import gzip
import lzma
import tracemalloc
from pathlib import Path

import pytest

from medisac.errors import IngestError, InputTooLarge
from medisac.ingest.document import Document, LongLine
from medisac.ingest.reader import expand
from tests.ingest.helpers import memory_document


def lines_of(
    content: bytes, max_line_bytes: int = 1024 * 1024
) -> list[tuple[int, str]]:
    return list(memory_document(content).text_lines(max_line_bytes))


def test_lines_numbered_from_one() -> None:
    assert lines_of(b"a\nb\nc") == [(1, "a"), (2, "b"), (3, "c")]


def test_lines_crlf_and_bom_removed() -> None:
    assert lines_of(b"\xef\xbb\xbfindicator\r\nx \r\n") == [(1, "indicator"), (2, "x ")]


def test_lines_blank_lines_keep_numbers() -> None:
    found = [item for item in lines_of(b"a\n\n\nb\n") if item[1]]
    assert found == [(1, "a"), (4, "b")]


def test_lines_whitespace_block_counted() -> None:
    content = b"first\n" + b"\n" * 600_000 + b"last\n"
    found = [item for item in lines_of(content) if item[1]]
    assert found == [(1, "first"), (600_002, "last")]


def test_lines_invalid_utf8_replaced() -> None:
    document = memory_document(b"good\nbad \xff byte\nfine\n")
    lines = document.text_lines()
    assert list(lines) == [(1, "good"), (2, "bad \ufffd byte"), (3, "fine")]
    assert lines.first_invalid_line == 2


def test_lines_multibyte_across_chunks() -> None:
    # 256 KiB chunks: put a 3-byte character across a chunk boundary.
    content = b"x" * (256 * 1024 - 1) + "\u20ac".encode() + b"\nend\n"
    found = lines_of(content)
    assert found[0][1].endswith("\u20ac")
    assert found[1] == (2, "end")


def test_long_line_becomes_long_line() -> None:
    content = b"1.2.3.4\n" + b"a" * 5000 + b"\n5.6.7.8"
    found = lines_of(content, max_line_bytes=1000)
    assert found[0] == (1, "1.2.3.4")
    number, line = found[1]
    assert number == 2
    assert isinstance(line, LongLine)
    assert line.size == 5000
    assert len(line) <= 200
    assert found[2] == (3, "5.6.7.8")


def test_fifty_megabyte_line_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "one-line.txt"
    with path.open("wb") as stream:
        stream.write(b"198.51.100.1\n")
        for _ in range(50):
            stream.write(b"b" * (1024 * 1024))
        stream.write(b"\r\n198.51.100.2\n")
    document = next(expand([path], 256 * 1024 * 1024))
    tracemalloc.start()
    try:
        found = list(document.text_lines())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [number for number, _ in found] == [1, 2, 3]
    assert isinstance(found[1][1], LongLine)
    assert found[1][1].size == 50 * 1024 * 1024
    assert found[2] == (3, "198.51.100.2")
    assert peak < 8 * 1024 * 1024


@pytest.mark.parametrize(
    "compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bz2", "xz"]
)
def test_open_decompresses(compress: object) -> None:
    content = compress(b"203.0.113.5\n")  # type: ignore[operator]
    assert memory_document(content).read_bytes() == b"203.0.113.5\n"


def test_cap_raises_input_too_large() -> None:
    document = memory_document(b"x" * 5000, origin="big.txt", max_bytes=4096)
    with pytest.raises(InputTooLarge) as caught:
        document.read_bytes()
    message = str(caught.value)
    assert "big.txt" in message
    assert "4,096" in message
    assert "MEDISAC_MAX_INPUT_BYTES" in message
    assert caught.value.read == 4097


def test_cap_counts_decompressed_bytes() -> None:
    document = memory_document(gzip.compress(b"\n" * 100_000), max_bytes=10_000)
    with pytest.raises(InputTooLarge):
        document.read_bytes()


def test_truncated_gzip_is_ingest_error() -> None:
    content = gzip.compress(b"198.51.100.1\n" * 10_000)[:200]
    document = memory_document(content, origin="cut.txt.gz")
    with pytest.raises(IngestError) as caught:
        document.read_bytes()
    assert "cut.txt.gz" in str(caught.value)
    assert not isinstance(caught.value, InputTooLarge)


def test_missing_file_is_ingest_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone.txt"
    document = Document(str(missing), missing.open)
    with pytest.raises(IngestError) as caught:
        document.read_bytes()
    assert "gone.txt" in str(caught.value)


def test_bomb_stops_at_cap(cases_dir: Path) -> None:
    cap = 64 * 1024 * 1024
    document = next(expand([cases_dir / "B28-decompression-bomb.csv.gz"], cap))
    tracemalloc.start()
    try:
        with pytest.raises(InputTooLarge) as caught:
            for _ in document.text_lines():
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.limit == cap
    assert caught.value.read == cap + 1
    assert "B28-decompression-bomb.csv.gz" in str(caught.value)
    assert peak < 16 * 1024 * 1024
