"""The CSV parser: delimiters, header roles, typed columns and times."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medisac.errors import IngestError, InputTooLarge
from medisac.ingest.csvfile import parse_csv, sniff_delimiter
from medisac.ingest.options import ParseOptions
from medisac.ingest.reader import expand
from medisac.model import TLP, Observation
from tests.ingest.helpers import (
    by_value,
    memory_document,
    observations,
    parse_bytes,
    parse_path,
    rejections,
    skipped,
    values,
    warnings,
)


def csv_items(text: str) -> list[object]:
    return list(parse_bytes(text.encode(), "csv"))


def test_sniff_delimiters() -> None:
    assert sniff_delimiter(["a;b;c", "d;e;f"])[0] == ";"
    assert sniff_delimiter(["a\tb", "c\td"])[0] == "\t"
    assert sniff_delimiter(["a|b", "c|d"])[0] == "|"
    assert sniff_delimiter(["a,b", "c,d", "# x;y;z"])[0] == ","


def test_value_and_type_columns() -> None:
    items = parse_bytes(b"value,type\nexample.org,domain\n198.51.100.1,ip\nx,\n", "csv")
    assert [(o.location, o.value, o.type) for o in observations(items)] == [
        ("line 2", "example.org", "domain"),
        ("line 3", "198.51.100.1", "ip"),
        ("line 4", "x", None),
    ]


def test_type_vocabularies() -> None:
    text = (
        "indicator,indicator_type\n"
        "a,FileHash-SHA256\nb,SHA-256\nc,IPv4\nd,ip-dst\ne,hostname\nf,URL\n"
        "g,email\nh,filename\ni,domain_port\nj,198.51.100.0/24\n"
    )
    found = {o.value: o.type for o in observations(parse_bytes(text.encode(), "csv"))}
    assert found == {
        "a": "sha256",
        "b": "sha256",
        "c": "ipv4",
        "d": "ip",
        "e": "domain",
        "f": "url",
        "g": "email",
        "h": "filename",
        "i": "domain:port",
    }


def test_ip_column_with_network_left_to_content() -> None:
    items = parse_bytes(b"ip\n198.51.100.0/24\n198.51.100.9\n203.0.113.5:8080\n", "csv")
    assert values(items) == {
        "198.51.100.0/24": None,
        "198.51.100.9": "ip",
        "203.0.113.5:8080": None,
    }


def test_unknown_type_skipped_by_name() -> None:
    items = parse_bytes(
        b"type,value\ncommand_line,rundll32.exe x\nmutex,Global\\abc\n", "csv"
    )
    assert not observations(items)
    assert [s.kind for s in skipped(items)] == ["csv:command_line", "csv:mutex"]
    assert skipped(items)[0].location == "line 2"


def test_hash_columns_one_row_three_values() -> None:
    text = (
        "md5,sha1,sha256\n"
        "d32cf66a18575fa77a043998b417efe1,1a904ef3147267efc3dfc5dc348104bca1fecaaf,"
        "4fe535ab6823de249137118542338caa280e52332864319ea3010ae34d26ba30\n"
    )
    found = observations(parse_bytes(text.encode(), "csv"))
    assert [(o.type, o.location) for o in found] == [
        ("md5", "line 2"),
        ("sha1", "line 2"),
        ("sha256", "line 2"),
    ]


def test_times_tags_comment_confidence_tlp() -> None:
    text = (
        "indicator,first_seen,last_seen,tags,comment,confidence,tlp,malware_family\n"
        "example.org,2024-03-01 10:00:00,2024-03-02T10:00:00+02:00,"
        "a;b,note,80,amber,Qakbot\n"
    )
    obs = observations(parse_bytes(text.encode(), "csv"))[0]
    assert obs.first_seen == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert obs.last_seen == datetime(2024, 3, 2, 8, tzinfo=UTC)
    assert obs.tags == ("a", "b", "malware:Qakbot")
    assert obs.context == {"comment": "note"}
    assert obs.confidence == 80
    assert obs.tlp is TLP.AMBER


def test_us_dates_and_bad_times() -> None:
    text = "timestamp,sha256\n2/10/17 3:46,a\nyesterday,b\nsoon,c\n"
    items = parse_bytes(text.encode(), "csv")
    assert by_value(items, "a").first_seen == datetime(2017, 2, 10, 3, 46, tzinfo=UTC)
    assert by_value(items, "b").first_seen is None
    (warning,) = warnings(items)
    assert warning.location == "line 3"
    assert "2 value(s)" in warning.message


def test_to_ids_column() -> None:
    items = parse_bytes(
        b"value,type,to_ids\nexample.org,domain,0\nexample.net,domain,1\n", "csv"
    )
    assert by_value(items, "example.org").to_ids is False
    assert by_value(items, "example.net").to_ids is True


def test_headerless_majority_columns() -> None:
    text = "2017-08-02 16:28:51,api.highwrite.ru\n2017-08-02 10:21:16,api.mybblog.xyz\n"
    items = parse_bytes(text.encode(), "csv")
    assert values(items) == {"api.highwrite.ru": None, "api.mybblog.xyz": None}
    assert by_value(items, "api.mybblog.xyz").first_seen == datetime(
        2017, 8, 2, 10, 21, 16, tzinfo=UTC
    )


def test_headerless_comment_column_ignored() -> None:
    text = (
        "0c2674c3a97c53082187d930efb645c2;Sakula http://goo.gl/x\n"
        "000c907d39924de62b5891f8d0e03116;http://goo.gl/DuS7WS\n"
        "c03318cb12b827c03d556c8747b1e323;Zxshell\n"
    )
    found = values(parse_bytes(text.encode(), "csv"))
    assert set(found) == {
        "0c2674c3a97c53082187d930efb645c2",
        "000c907d39924de62b5891f8d0e03116",
        "c03318cb12b827c03d556c8747b1e323",
    }


def test_quoted_field_across_lines() -> None:
    text = 'value,comment\nexample.org,"two\nlines"\nexample.net,x\n'
    items = parse_bytes(text.encode(), "csv")
    assert [o.location for o in observations(items)] == ["line 2", "line 4"]
    assert by_value(items, "example.org").context == {"comment": "two\nlines"}


def test_long_line_rejected_others_read(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(
        b"value,type\nexample.org,domain\n"
        + b"y" * (50 * 1024 * 1024)
        + b"\nexample.net,domain\n"
    )
    items = parse_path(path, "csv")
    assert [o.location for o in observations(items)] == ["line 2", "line 4"]
    (rejection,) = rejections(items)
    assert rejection.location == "line 3"


def test_rows_before_cap_are_yielded() -> None:
    content = b"indicator,type\n198.51.100.77,ip\n" + b"\n" * 100_000
    document = memory_document(content, "bomb.csv", max_bytes=50_000)
    found: list[Observation] = []
    with pytest.raises(InputTooLarge):
        for item in parse_csv(document, ParseOptions()):
            if isinstance(item, Observation):
                found.append(item)
    assert [o.value for o in found] == ["198.51.100.77"]


def test_b22_bom_crlf(cases_dir: Path) -> None:
    items = parse_path(cases_dir / "B22-csv-bom-crlf.csv")
    assert [(o.value, o.type, o.location) for o in observations(items)] == [
        ("update-check.example.net", "domain", "line 2"),
        ("198.51.100.31", "ipv4", "line 3"),
        ("http://files.example.org/kit.zip", "url", "line 4"),
        ("2001:db8::31", "ipv6", "line 6"),
    ]
    assert by_value(items, "198.51.100.31").first_seen == datetime(
        2024, 4, 1, 10, 5, tzinfo=UTC
    )
    assert not warnings(items)
    assert not rejections(items)
    assert not any("\r" in o.value or "\ufeff" in o.value for o in observations(items))


def test_b32_declared_types_kept(cases_dir: Path) -> None:
    items = parse_path(cases_dir / "B32-hash-case-length.csv")
    found = observations(items)
    assert len(found) == 11
    assert by_value(items, "7c744a646ee3d22813cf5016529e30a1").type == "sha256"
    assert by_value(items, "1a904ef3147267efc3dfc5dc348104bca1fecaaf").type is None
    assert found[5].location == "line 7"


def test_b28_row_then_error(cases_dir: Path) -> None:
    document = next(
        expand([cases_dir / "B28-decompression-bomb.csv.gz"], 64 * 1024 * 1024)
    )
    found: list[str] = []
    with pytest.raises(InputTooLarge):
        for item in parse_csv(document, ParseOptions()):
            if isinstance(item, Observation):
                found.append(item.value)
    assert found == ["198.51.100.77"]


def test_corpus_sophos(corpus_dir: Path) -> None:
    items = parse_path(
        corpus_dir / "indicators" / "csv" / "sophos" / "Malware-SystemBC.csv"
    )
    assert "csv:description" in [s.kind for s in skipped(items)]
    obs = by_value(
        items, "064ad27c86558462669c51b6277913bba035630d7b45b7db69c15c0186e42b10"
    )
    assert obs.type == "sha256"
    assert obs.location == "line 3"
    assert obs.context == {"note": "HPMal/SysBRat-A sample 1"}
    assert values(items)["advertrex20.xyz"] == "domain"


def test_corpus_sophos_indicator_data_columns(corpus_dir: Path) -> None:
    path = (
        corpus_dir
        / "reports"
        / "rhysida"
        / "sophos_2311_Vice_Society_-_Rhysida_IoCs.csv"
    )
    found = values(parse_path(path))
    assert found["5.39.222.67"] == "ip"
    assert "ip address" not in found


def test_corpus_mandiant(corpus_dir: Path) -> None:
    items = parse_path(
        corpus_dir / "indicators" / "csv" / "mandiant" / "all-hashes.csv"
    )
    assert values(items)["013c7708f1343d684e3571453261b586"] == "md5"
    assert len(observations(items)) == 300


def test_corpus_unit42_typed_rows(corpus_dir: Path) -> None:
    items = parse_path(
        corpus_dir / "indicators" / "csv" / "unit42" / "macro_loader__iocs.csv"
    )
    obs = by_value(items, "http://www[.]pfirsterer[.]com/chrome/chrome99[.]exe")
    assert obs.type == "url"
    assert obs.first_seen == datetime(2017, 2, 10, 3, 46, tzinfo=UTC)
    assert values(items)["msword4.exe"] == "filename"


def test_corpus_sunburst_tags(corpus_dir: Path) -> None:
    path = corpus_dir / "indicators" / "csv" / "sunburst" / "Indicator_Release_NBIs.csv"
    items = parse_path(path)
    obs = by_value(items, "6a57jk2ba1d9keg15cbg.appsync-api.eu-west-1.avsvmcloud[.]com")
    assert obs.type == "domain"
    assert "malware:SUNBURST" in obs.tags
    assert obs.first_seen == datetime(2020, 6, 13, 9, 20, 41, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_csv_any_bytes(content: bytes) -> None:
    try:
        items = parse_bytes(content, "csv")
    except IngestError:
        return
    # Content with a CR but no LF has classic Mac OS line ends.
    end = b"\r" if b"\n" not in content and b"\r" in content else b"\n"
    lines = content.count(end) + 1
    for item in items:
        number = int(item.location.split()[-1])
        assert 1 <= number <= lines


CELLS = st.sampled_from(
    [
        "198.51.100.1",
        "example.org",
        "sha256",
        "type",
        "indicator",
        '"a,b"',
        "",
        " x ",
        "#",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(CELLS, min_size=1, max_size=4), max_size=12))
def test_csv_locations_name_value_lines(rows: list[list[str]]) -> None:
    content = "\n".join(",".join(row) for row in rows).encode()
    lines = content.decode().split("\n")
    for obs in observations(parse_bytes(content, "csv")):
        number = int(obs.location.split()[-1])
        assert 1 <= number <= len(lines)
        assert obs.value in lines[number - 1]


def test_row_after_blank_lines_location() -> None:
    items = parse_bytes(
        b"\n\n198.51.100.1\n" + b"\n" * 600_000 + b"198.51.100.2\n", "csv"
    )
    assert [o.location for o in observations(items)] == ["line 3", "line 600004"]


def test_oversized_field_rejected_in_order() -> None:
    content = (
        b"value,type\nexample.org,domain\n"
        + b"x" * 200_000
        + b",domain\nexample.net,domain\n"
    )
    items = parse_bytes(content, "csv")
    assert [item.location for item in items] == ["line 2", "line 3", "line 4"]
    assert "field larger than field limit" in rejections(items)[0].reason
