"""Zeek Intel exports, read back by a strict reader that follows Zeek's own."""

from __future__ import annotations

import io
import ipaddress
import json
import logging
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medisac.export import zeek
from medisac.export.select import ExportFilter
from medisac.export.zeek import FIELDS, ZEEK_TYPES, write_zeek, zeek_line
from medisac.model import TLP, IndicatorType
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text, records

_HEX = re.compile(r"\\x([0-9a-fA-F]{2})")
INTEL_TYPES = set(ZEEK_TYPES.values())
HASH_LENGTHS = {32, 40, 64, 128}


def unescape(field: str) -> str:
    """Decode ``\\xHH`` as Zeek's input reader does for string fields."""
    # Each escape stands for one byte; the writer escapes only ASCII.
    return _HEX.sub(lambda m: chr(int(m.group(1), 16)), field)


def read_intel(text: str) -> list[dict[str, str]]:
    """Parse an Intel file strictly; fail on anything Zeek would misread."""
    lines = text.split("\n")
    assert lines[-1] == "", "the file must end with a newline"
    header, body = lines[0], lines[1:-1]
    assert header == "#fields\t" + "\t".join(FIELDS)
    items = []
    for number, line in enumerate(body, start=2):
        assert line, f"line {number} is empty"
        assert not line.startswith("#"), f"line {number} would be a comment"
        assert "\r" not in line, f"line {number} has a carriage return"
        fields = line.split("\t")
        assert len(fields) == len(FIELDS), f"line {number}: {fields!r}"
        item = dict(zip(FIELDS, fields, strict=True))
        assert item["indicator"] not in ("", "-"), f"line {number} has no indicator"
        assert item["indicator_type"] in INTEL_TYPES, f"line {number}"
        assert item["meta.source"] not in ("", "-"), f"line {number} has no source"
        for name, field in item.items():
            assert not re.search(r"[\x00-\x1f\x7f]", field), f"{name} on {number}"
        item = {name: unescape(field) for name, field in item.items()}
        check_indicator(item["indicator"], item["indicator_type"])
        items.append(item)
    return items


def check_indicator(value: str, kind: str) -> None:
    if kind == "Intel::ADDR":
        ipaddress.ip_address(value)
    elif kind == "Intel::SUBNET":
        ipaddress.ip_network(value, strict=True)
    elif kind == "Intel::URL":
        assert "://" not in value.split("/")[0]
    elif kind == "Intel::FILE_HASH":
        assert len(value) in HASH_LENGTHS
        assert re.fullmatch(r"[0-9a-f]+", value)
    elif kind == "Intel::DOMAIN":
        assert re.fullmatch(r"[a-z0-9_.-]+", value)
    elif kind == "Intel::EMAIL":
        assert "@" in value


def export_intel(store: Store, selection: ExportFilter | None = None) -> str:
    out = io.BytesIO()
    with store.engine.connect() as conn:
        count = write_zeek(conn, selection or ExportFilter(tlp=TLP.RED), out)
    text = out.getvalue().decode()
    assert count == text.count("\n") - 1
    return text


def line_of(kind: str, value: str, sources: str = "[]", tags: str = "[]") -> str:
    line, reason = zeek_line(kind, value, 80, 1, sources, tags)
    assert reason is None
    return line


HOSTILE = [
    "tab\there.exe",
    "line\nbreak.exe",
    "carriage\rreturn.exe",
    "#hash-first.exe",
    "-",
    "(empty)",
    "back\\slash\\x41.exe",
    "C:\\Users\\Public\\svc'host.exe",
    "=1+2.xlsm",
    "@SUM(A1-A9).js",
    "+plus.js",
    "-rf.sh",
    'semi;colon"quote.js',
    "klinik-münchen-befund.pdf",
    "\x00nul\x7fdel.bin",
    "x" * 5000,
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_filenames_round_trip(value: str) -> None:
    line = line_of("filename", value)
    items = read_intel("#fields\t" + "\t".join(FIELDS) + "\n" + line)
    assert len(items) == 1
    assert items[0]["indicator"] == value
    assert items[0]["indicator_type"] == "Intel::FILE_NAME"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1), st.lists(st.text(), max_size=20), st.text())
def test_any_text_round_trips(value: str, tags: list[str], source: str) -> None:
    sources = json.dumps([[source, 50, 1, 0, 0, None]])
    line = line_of("filename", value, sources, json.dumps(tags))
    items = read_intel("#fields\t" + "\t".join(FIELDS) + "\n" + line)
    assert len(items) == 1
    assert items[0]["indicator"] == value
    assert len(items[0]["meta.desc"]) <= 400


def test_desc_lists_sources_and_tags() -> None:
    sources = json.dumps(
        [["feed\tb", 70, 2, 0, 0, None], ["feed-a", 60, 1, 0, 0, None]]
    )
    tags = json.dumps([f"tag{i}" for i in range(12)])
    line = line_of("domain", "d.example.org", sources, tags)
    desc = read_intel("#fields\t" + "\t".join(FIELDS) + "\n" + line)[0]["meta.desc"]
    assert desc.startswith("confidence 80; TLP:GREEN; ")
    assert "sources: feed\tb, feed-a; " in desc
    assert "tag9" in desc
    assert "tag10" not in desc
    assert desc.endswith("and 2 more")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://u.example.org/a?b=1", "u.example.org/a?b=1"),
        ("https://u.example.org:8443/p#frag", "u.example.org:8443/p"),
        ("ftp://files.example.org/x", "files.example.org/x"),
        ("http://[2001:db8::1]/p", "[2001:db8::1]/p"),
    ],
)
def test_url_without_scheme(url: str, expected: str) -> None:
    line = line_of("url", url)
    assert line.split("\t")[0] == expected


def test_empty_and_unknown_left_out() -> None:
    assert zeek_line("url", "http://", 50, 1, "[]", "[]") == ("", zeek.EMPTY)
    assert zeek_line("filename", "", 50, 1, "[]", "[]") == ("", zeek.EMPTY)
    assert zeek_line("asn", "AS1", 50, 1, "[]", "[]") == ("", zeek.UNKNOWN_TYPE)


def test_every_type_exported(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    attributes = [
        ("ip-dst", "198.51.100.80"),
        ("ip-dst", "2001:db8::80"),
        ("ip-dst", "203.0.113.0/24"),
        ("domain", "zeek.example.org"),
        ("url", "https://zeek.example.org/login.php?next=%09b#top"),
        ("email-src", "phish@example.org"),
        ("md5", "7a" * 16),
        ("sha1", "1c1c96fd2cf8330db0bfa936ce82f3b9d1fbeb35"),
        ("sha256", "5b" * 32),
        ("sha512", "cf83" + "0" * 124),
        ("filename", "#first name.exe"),
    ]
    event = {
        "Event": {
            "uuid": "5a1b2c3d-0000-4000-8000-0000000000ee",
            "info": "zeek types",
            "Attribute": [
                {"type": kind, "value": value, "to_ids": True}
                for kind, value in attributes
            ],
        }
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    ingest_paths(store.engine, [path], fmt="misp", source='zeek;"src')

    stored = records(store.engine)
    with caplog.at_level(logging.INFO, logger="medisac.export.zeek"):
        items = read_intel(export_intel(store))

    by_value = {item["indicator"]: item["indicator_type"] for item in items}
    assert len(items) == len(stored)
    assert by_value["198.51.100.80"] == "Intel::ADDR"
    assert by_value["2001:db8::80"] == "Intel::ADDR"
    assert by_value["203.0.113.0/24"] == "Intel::SUBNET"
    assert by_value["zeek.example.org"] == "Intel::DOMAIN"
    assert by_value["phish@example.org"] == "Intel::EMAIL"
    assert by_value["7a" * 16] == "Intel::FILE_HASH"
    assert by_value["cf83" + "0" * 124] == "Intel::FILE_HASH"
    assert by_value["zeek.example.org/login.php?next=%09b"] == "Intel::URL"
    assert by_value["#first name.exe"] == "Intel::FILE_NAME"

    for item in items:
        assert item["meta.source"] == "medisac"
        assert 'zeek;"src' in item["meta.desc"]

    stored_names = {value for kind, value in stored if kind == "filename"}
    exported_names = {
        i["indicator"] for i in items if i["indicator_type"] == "Intel::FILE_NAME"
    }
    assert exported_names == stored_names
    assert any(
        f"{len(items)} indicators written" in r.getMessage() for r in caplog.records
    )


def test_b31_context_values_left_out(store: Store, cases_dir: Path) -> None:
    ingest_paths(store.engine, [cases_dir / "B31-to-ids-and-benign.json"], fmt="misp")
    values = {item["indicator"] for item in read_intel(export_intel(store))}
    assert "203.0.113.99" in values
    assert "198.51.100.23" not in values
    assert "8.8.8.8" not in values
    assert "www.google.com" not in values


def test_b21_formula_values_raw(store: Store, cases_dir: Path) -> None:
    ingest_paths(store.engine, [cases_dir / "B21-csv-formula-injection.csv"])
    stored = records(store.engine)
    items = read_intel(export_intel(store))
    assert {(i["indicator"]) for i in items} <= {value for _, value in stored}
    assert any(i["indicator"].startswith("=") for i in items)


def test_corpus_file_reads_back(store: Store, corpus_dir: Path, tmp_path: Path) -> None:
    feeds = [
        corpus_dir / "indicators/text/talos/Emotet_contacted_URLs.txt",
        corpus_dir / "indicators/text/eset/badiis_samples.sha256",
        corpus_dir / "indicators/text/amnesty/nso_pegasus_emails.txt",
        corpus_dir / "indicators/text/maltrail/rhysida.txt",
    ]
    ingest_paths(store.engine, feeds)
    items = read_intel(export_intel(store))
    kinds = {item["indicator_type"] for item in items}
    assert {"Intel::URL", "Intel::FILE_HASH", "Intel::EMAIL"} <= kinds
    assert len(items) > 150


def test_type_filter(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "198.51.100.81\nfilter.example.org\n")
    only = ExportFilter(types=frozenset({IndicatorType.DOMAIN}), tlp=TLP.RED)
    items = read_intel(export_intel(store, only))
    assert [i["indicator"] for i in items] == ["filter.example.org"]
