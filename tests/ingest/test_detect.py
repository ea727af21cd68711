"""Format detection from the first bytes, and its error messages."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from medisac.errors import IngestError, UnknownFormat
from medisac.ingest.detect import FORMATS, PARSERS, detect_format
from tests.ingest.helpers import memory_document


def detect(content: bytes, origin: str = "input") -> str:
    return detect_format(memory_document(content, origin))


def unknown(content: bytes, origin: str = "input") -> str:
    with pytest.raises(UnknownFormat) as caught:
        detect(content, origin)
    assert origin in str(caught.value)
    return str(caught.value)


def test_formats_match_parsers() -> None:
    indicators = {"plain", "csv", "stix", "misp", "openioc", "stix1", "submission"}
    vulnerabilities = {"csaf", "cve", "kev"}
    assert set(FORMATS) == indicators | vulnerabilities
    assert set(PARSERS) == set(FORMATS)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"type": "bundle", "id": "bundle--x", "objects": []}', "stix"),
        (
            b'{"objects": [{"type": "indicator", "id": "indicator--1"}], '
            b'"more": false}',
            "stix",
        ),
        (
            b'{"type": "indicator", '
            b'"id": "indicator--0d8e4f1a-7b6c-4d5e-9f0a-1b2c3d4e5f60"}',
            "stix",
        ),
        (b'{"Event": {"info": "x", "Attribute": []}}', "misp"),
        (b'[{"Event": {"info": "x"}}, {"Event": {"info": "y"}}]', "misp"),
        (b'{"response": [{"Event": {"info": "x"}}]}', "misp"),
        (b'{"uuid": "u", "info": "bare event", "Attribute": []}', "misp"),
        (
            b'{"5b6f5ad4-0000-4000-8000-000000000001": {"info": "x", "Orgc": {}}}',
            "misp",
        ),
        (
            b'{"id": "Talos:STIXPackage-1", "version": "1.1.1", "stix_header": {}}',
            "stix1",
        ),
        (b'<?xml version="1.0"?>\n<!-- c -->\n<ioc xmlns="x" id="1"/>', "openioc"),
        (b'<OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1"/>', "openioc"),
        (b'<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1"/>', "stix1"),
        (b"198.51.100.1\n198.51.100.2\nexample.org\n", "plain"),
        (b"# comment, with a comma\nexample.org\n", "plain"),
        (b"indicator,type\nexample.org,domain\n", "csv"),
        (b"\xef\xbb\xbfindicator,type,first_seen\r\nx,domain,2024-01-01\r\n", "csv"),
        (b"a;1\nb;2\nc;3\n", "csv"),
        (b"198.51.100.1\t3\n198.51.100.2\t5\n", "csv"),
        (b"v|t\nx|y\nz|w\n", "csv"),
    ],
)
def test_detects(content: bytes, expected: str) -> None:
    assert detect(content) == expected


def test_detects_gzip_content() -> None:
    assert detect(gzip.compress(b'{"type": "bundle", "objects": []}')) == "stix"


def test_large_json_by_start() -> None:
    objects = [{"type": "indicator", "id": f"indicator--{i}"} for i in range(3000)]
    content = json.dumps({"type": "bundle", "objects": objects}).encode()
    assert len(content) > 64 * 1024
    assert detect(content) == "stix"


def test_empty_input() -> None:
    assert "empty input" in unknown(b"")
    assert "empty input" in unknown(b"  \n\n\t")


def test_binary_input() -> None:
    message = unknown(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, "tool.bin")
    assert "binary content" in message
    assert "--format" in message


def test_utf16_input() -> None:
    assert "UTF-16" in unknown("198.51.100.1\n".encode("utf-16"))


def test_json_schema() -> None:
    content = (
        b'{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}'
    )
    assert "JSON schema" in unknown(content, "schema.json")


def test_other_json() -> None:
    message = unknown(b'{"name": "x", "items": [1, 2]}', "other.json")
    assert "not a STIX bundle or MISP event" in message
    assert "name, items" in message
    assert "--format" in message


def test_other_xml() -> None:
    message = unknown(b"<?xml version='1.0'?><rss><channel/></rss>", "feed.xml")
    assert "<rss>" in message


def test_truncated_json_names_position() -> None:
    with pytest.raises(IngestError) as caught:
        detect(b'{"name": "x",\n  "items": [1, 2', "cut.json")
    assert not isinstance(caught.value, UnknownFormat)
    assert "cut.json" in str(caught.value)
    assert caught.value.position == "line 2, column 17"


def test_truncated_event_still_misp() -> None:
    assert detect(b'{"Event": {"info": "x", "Attribute": [') == "misp"


def test_corpus_talos_stix1_json(corpus_dir: Path) -> None:
    path = corpus_dir / "stix1" / "talos_json" / "2022_05_mustang-panda.json"
    assert detect(path.read_bytes()) == "stix1"


def test_corpus_bare_misp_event(corpus_dir: Path) -> None:
    path = corpus_dir / "misp" / "events" / "circl" / "existing_event.json"
    assert detect(path.read_bytes()) == "misp"
