"""Bad inputs written to disk: clear errors with file and position, no crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medisac.errors import IngestError, UnknownFormat
from medisac.ingest.detect import PARSERS, detect_format
from medisac.ingest.options import ParseOptions
from medisac.ingest.plain import parse_plain
from medisac.ingest.reader import expand
from medisac.model import Observation
from tests.ingest.helpers import MAX_BYTES, observations, rejections, skipped


def ingest_error(path: Path) -> IngestError:
    """Expand, detect and parse ``path``, returning the error it raises."""
    with pytest.raises(IngestError) as caught:
        for document in expand([path], MAX_BYTES):
            list(PARSERS[detect_format(document)](document, ParseOptions()))
    assert str(path) in str(caught.value)
    return caught.value


def test_truncated_bundle(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(
        '{"type": "bundle", "objects": [\n  {"type": "indicator", "id": "x"'
    )
    error = ingest_error(path)
    assert not isinstance(error, UnknownFormat)
    assert error.position == "line 2, column 34"


def test_event_with_trailing_comma(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(
        '{"Event": {"info": "x", "Attribute": [\n  {"type": "domain"},\n]}}'
    )
    error = ingest_error(path)
    assert error.position == "line 3, column 1"


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    error = ingest_error(path)
    assert isinstance(error, UnknownFormat)
    assert "binary content" in str(error)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    error = ingest_error(path)
    assert isinstance(error, UnknownFormat)
    assert "empty input" in str(error)


def test_fifty_megabyte_line(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    with path.open("wb") as stream:
        stream.write(b"198.51.100.1\n")
        stream.write(b"z" * (50 * 1024 * 1024))
        stream.write(b"\n198.51.100.2\n")
    (document,) = expand([path], MAX_BYTES)
    items = list(PARSERS[detect_format(document)](document, ParseOptions()))
    assert [o.location for o in observations(items)] == ["line 1", "line 3"]
    assert [r.location for r in rejections(items)] == ["line 2"]


def test_bundle_of_unknown_types(tmp_path: Path) -> None:
    objects = [
        {"type": f"x-vendor-{n}", "id": f"x-vendor-{n}--{n}", "spec_version": "2.1"}
        for n in range(3)
    ]
    objects.append({"type": "threat-score", "id": "threat-score--1", "value": 9})
    path = tmp_path / "custom.json"
    path.write_text(
        json.dumps({"type": "bundle", "id": "bundle--1", "objects": objects})
    )
    (document,) = expand([path], MAX_BYTES)
    assert detect_format(document) == "stix"
    items = list(PARSERS["stix"](document, ParseOptions()))
    assert sorted(s.kind for s in skipped(items)) == [
        "threat-score",
        "x-vendor-0",
        "x-vendor-1",
        "x-vendor-2",
    ]
    assert not observations(items)


@pytest.mark.corpus
def test_plain_reads_scale_list(corpus_dir: Path) -> None:
    # 552,293 bare IPv4 addresses, one per line; speed is measured by
    # bench/ingest_scale.py, not here.
    path = corpus_dir / "scale" / "romainmarcoux_malicious-ip_full.txt.gz"
    (document,) = expand([path], MAX_BYTES)
    count = sum(
        1 for item in parse_plain(document, ParseOptions()) if type(item) is Observation
    )
    assert count == 552_293
