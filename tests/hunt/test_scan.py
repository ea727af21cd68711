"""Matching log lines against an in-memory index: what is a hit and what is not."""

from __future__ import annotations

import gzip
from pathlib import Path

from medisac.hunt.scan import Hit
from tests.hunt.helpers import hunt_with, memory_index

INDEX_VALUES = [
    ("domain", "c2.example.net"),
    ("ipv4", "198.51.100.7"),
    ("ipv6", "2001:db8::7"),
    ("cidr", "203.0.113.0/25"),
    ("cidr", "2001:db8:bad::/48"),
    ("url", "http://files.example.org/a.exe"),
    ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
]


def _hunt(tmp_path: Path, text: str, fmt: str = "auto") -> tuple[list[Hit], object]:
    log = tmp_path / "test.log"
    log.write_bytes(text.encode("utf-8", "surrogateescape"))
    return hunt_with(memory_index(INDEX_VALUES), [log], fmt)


def _found(hits: list[Hit]) -> set[tuple[int, str, str]]:
    return {(hit.line, hit.value, hit.how) for hit in hits}


def test_ipv6_other_spellings(tmp_path: Path) -> None:
    hits, _ = _hunt(
        tmp_path,
        "src=2001:DB8:0:0:0:0:0:7 action=allow\n"
        "src=2001:0db8:0000:0000:0000:0000:0000:0007 action=allow\n"
        "src=[2001:db8::7]:443 action=allow\n"
        "src=2001:db8::70 action=allow\n"
        "src=2001:db8:bad:1::9 action=deny\n",
    )
    assert _found(hits) == {
        (1, "2001:db8::7", "exact"),
        (2, "2001:db8::7", "exact"),
        (3, "2001:db8::7", "exact"),
        (5, "2001:db8:bad:1::9", "network"),
    }


def test_ipv4_mapped_ipv6(tmp_path: Path) -> None:
    hits, _ = _hunt(tmp_path, "SourceAddress=::ffff:198.51.100.7 Port=443\n")
    assert _found(hits) == {(1, "198.51.100.7", "exact")}


def test_cidr_boundaries(tmp_path: Path) -> None:
    hits, _ = _hunt(
        tmp_path,
        "dst=203.0.113.0\ndst=203.0.113.127\ndst=203.0.113.128\ndst=203.0.112.255\n",
    )
    assert _found(hits) == {
        (1, "203.0.113.0", "network"),
        (2, "203.0.113.127", "network"),
    }


def test_defanged_log_values(tmp_path: Path) -> None:
    hits, _ = _hunt(
        tmp_path,
        "ticket 4711: user reported hxxp://files[.]example[.]org/a.exe\n"
        "note: beacon to 198[.]51[.]100[.]7 and www(dot)c2(dot)example(dot)net\n"
        "note: 198[.]51[.]100[.]70 is unrelated\n",
    )
    assert _found(hits) == {
        (1, "http://files.example.org/a.exe", "exact"),
        (2, "198.51.100.7", "exact"),
        (2, "www.c2.example.net", "subdomain"),
    }


def test_clean_line_gives_nothing(tmp_path: Path) -> None:
    hits, result = _hunt(
        tmp_path,
        "2024-04-02T08:00:01Z dns client=10.1.2.3 query=c2.example.network\n"
        "2024-04-02T08:00:02Z fw src=10.1.2.5 dst=198.51.100.77 md5=d41d8cd98f00b204\n"
        "2024-04-02T08:00:03Z proxy GET http://files.example.org/a.exe.bak\n",
    )
    assert hits == []
    assert result.exit_code == 0  # type: ignore[attr-defined]


def test_hash_any_case(tmp_path: Path) -> None:
    hits, _ = _hunt(tmp_path, "edr file md5=D41D8CD98F00B204E9800998ECF8427E\n")
    assert _found(hits) == {(1, "d41d8cd98f00b204e9800998ecf8427e", "exact")}
    assert hits[0].field == "md5"


def test_malformed_json_counted(tmp_path: Path) -> None:
    lines = [
        '{"ts": 1712044801.0, "query": "c2.example.net"}',
        '{"ts": 1712044802.0, "query": "c2.example.n',
        "\x00\x01\x02 binary junk \x7f c2.example.net",
        '{"ts": 1712044803.0, "query": }',
        "not json at all",
        '{"ts": 1712044804.0, "answers": ["198.51.100.7"]}',
        "",
    ]
    hits, result = _hunt(tmp_path, "\n".join(lines) + "\n", fmt="jsonl")
    assert _found(hits) == {
        (1, "c2.example.net", "exact"),
        (6, "198.51.100.7", "exact"),
    }
    stats = result.stats  # type: ignore[attr-defined]
    assert stats.malformed_lines == 3
    assert stats.lines == 7
    examples = "\n".join(stats.malformed_examples)
    assert "test.log, line 2" in examples
    assert "test.log, line 3" in examples
    assert "test.log, line 5" in examples
    # Line 4 has the shape of an object, so only reading it shows it is not
    # JSON. It contains no candidate, so it is never read.
    assert "line 4" not in examples


def test_malformed_zeek_columns(tmp_path: Path) -> None:
    header = (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n"
        "#unset_field\t-\n#fields\tts\tuid\tid.orig_h\tid.resp_h\tquery\n"
        "#types\ttime\tstring\taddr\taddr\tstring\n"
    )
    body = (
        "1712044801.0\tC1\t10.0.0.1\t198.51.100.7\t-\n"
        "1712044802.0\tC2\t10.0.0.1\t198.51.100.7\n"
        "1712044803.0\tC3\t10.0.0.1\t10.0.0.2\twww.c2.example.net\n"
        "\udcff\udcfe\t\t\t\t\n"
    )
    hits, result = _hunt(tmp_path, header + body)
    assert _found(hits) == {
        (7, "198.51.100.7", "exact"),
        (9, "www.c2.example.net", "subdomain"),
    }
    assert hits[0].field == "id.resp_h"
    assert hits[0].time == 1_712_044_801_000_000
    stats = result.stats  # type: ignore[attr-defined]
    assert stats.formats == {"zeek": 1}
    assert stats.malformed_lines == 2
    assert stats.malformed["4 columns"] == 1


def test_zeek_header_changes_midway(tmp_path: Path) -> None:
    first = "#separator \\x09\n#fields\tts\tid.resp_h\n1712044801.0\t198.51.100.7\n"
    second = "#fields\tts\tquery\tanswers\n#types\ttime\tstring\tvector[string]\n"
    second += "1712044802.0\twww.example.com\t10.0.0.9,198.51.100.7\n"
    hits, _ = _hunt(tmp_path, first + second)
    assert [(hit.line, hit.field) for hit in hits] == [(3, "id.resp_h"), (6, "answers")]


def test_zeek_http_host_and_uri(tmp_path: Path) -> None:
    text = (
        "#separator \\x09\n#fields\tts\tid.resp_h\thost\turi\n"
        "1712044801.0\t192.0.2.1\tfiles.example.org\t/a.exe\n"
        "1712044802.0\t192.0.2.1\tfiles.example.org\t/a.exe.bak\n"
    )
    hits, _ = _hunt(tmp_path, text)
    assert [(hit.line, hit.field, hit.value) for hit in hits] == [
        (3, "host+uri", "http://files.example.org/a.exe")
    ]


def test_eve_and_gzip(tmp_path: Path) -> None:
    event = (
        '{"timestamp":"2024-12-17T19:17:54.565494-0500","event_type":"dns",'
        '"src_ip":"10.0.0.5","dest_ip":"10.0.0.1","dns":{"rrname":"C2.Example.NET."}}\n'
    )
    log = tmp_path / "eve.json.gz"
    log.write_bytes(gzip.compress(event.encode()))
    hits, result = hunt_with(memory_index(INDEX_VALUES), [log])
    assert result.stats.formats == {"eve": 1}
    assert [(hit.field, hit.value, hit.how) for hit in hits] == [
        ("dns.rrname", "c2.example.net", "exact")
    ]
    assert hits[0].time == 1_734_481_074_565_494


def test_squid_access_log(tmp_path: Path) -> None:
    text = (
        "1157689312.049   5006 10.105.21.199 TCP_MISS/200 19763 CONNECT "
        "www.c2.example.net:443 badeyek DIRECT/198.51.100.7 -\n"
        "1157689320.327   2864 10.105.21.199 TCP_MISS/200 10182 GET "
        "http://files.example.org/a.exe badeyek DIRECT/192.0.2.61 text/html\n"
    )
    hits, result = _hunt(tmp_path, text)
    assert result.stats.formats == {"squid": 1}  # type: ignore[attr-defined]
    assert {(hit.line, hit.field, hit.how) for hit in hits} == {
        (1, "url", "subdomain"),
        (1, "hierarchy", "exact"),
        (2, "url", "exact"),
    }
    assert hits[0].time == 1_157_689_312_049_000


def test_fortigate_key_values(tmp_path: Path) -> None:
    text = (
        "May 14 06:25:07 192.168.84.1 date=2014-05-14 time=06:25:42 devname=FW "
        'srcip=192.168.100.41 dstip=198.51.100.7 hostname="www.c2.example.net"\n'
    )
    hits, _ = _hunt(tmp_path, text)
    assert {(hit.field, hit.how) for hit in hits} == {
        ("dstip", "exact"),
        ("hostname", "subdomain"),
    }
    assert hits[0].time == 1_400_048_742_000_000


def test_csv_every_column(tmp_path: Path) -> None:
    text = (
        "timestamp,client,destination,note\n"
        "2024-01-01T00:00:00Z,10.0.0.1,198.51.100.7,first\n"
        '2024-01-01T00:00:01Z,10.0.0.1,192.0.2.1,"see c2.example.net, twice"\n'
        "2024-01-01T00:00:02Z,10.0.0.1\n"
    )
    hits, result = _hunt(tmp_path, text)
    assert result.stats.formats == {"csv": 1}  # type: ignore[attr-defined]
    assert {(hit.line, hit.field) for hit in hits} == {(2, "destination"), (3, "note")}
    assert result.stats.malformed_lines == 1  # type: ignore[attr-defined]


def test_known_at_time(tmp_path: Path) -> None:
    log = tmp_path / "fw.log"
    log.write_text(
        "2024-01-01T00:00:00Z dst=198.51.100.7\n2024-06-01T00:00:00Z dst=198.51.100.7\n"
        "no time here dst=198.51.100.7\n"
    )
    index = memory_index(INDEX_VALUES, first_seen=1_714_521_600_000_000)
    hits, _ = hunt_with(index, [log])
    assert [hit.known for hit in hits] == [False, True, None]


def test_damaged_gzip_goes_on(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.log.gz"
    damaged.write_bytes(gzip.compress(b"dst=198.51.100.7\n" * 20_000)[:-200])
    fine = tmp_path / "fine.log"
    fine.write_text("dst=198.51.100.7\n")
    hits, result = hunt_with(memory_index(INDEX_VALUES), [damaged, fine])
    assert len(result.stats.failed) == 1
    assert "damaged.log.gz" in result.stats.failed[0]
    assert any(hit.source.endswith("fine.log") for hit in hits)
    assert result.exit_code == 1


def test_many_binary_lines_numbered(tmp_path: Path) -> None:
    text = "fw src=10.0.0.1\n" + "\x00\x01\n" * 30_000 + "fw dst=198.51.100.7\n"
    hits, result = _hunt(tmp_path, text, fmt="syslog")
    stats = result.stats  # type: ignore[attr-defined]
    assert stats.malformed_lines == 30_000
    assert stats.malformed_examples[0].endswith("line 2: binary data")
    assert stats.malformed_examples[19].endswith("line 21: binary data")
    assert [hit.line for hit in hits] == [30_002]


def test_binary_run_in_one_line(tmp_path: Path) -> None:
    text = "a\n" + "\x00" * 2_000_000 + " 198.51.100.7\n" + "fw dst=198.51.100.7\n"
    hits, result = _hunt(tmp_path, text, fmt="syslog")
    assert result.stats.malformed_lines == 1  # type: ignore[attr-defined]
    assert [hit.line for hit in hits] == [3]
