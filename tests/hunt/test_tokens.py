"""Tokens and log readers, with property tests over generated values and junk."""

from __future__ import annotations

import ipaddress
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medisac.hunt import tokens
from medisac.hunt.formats import FORMATS, detect_format
from medisac.hunt.index import parent_names
from medisac.normalize import normalize
from tests.hunt.helpers import hunt_with, memory_index

SEPARATORS = st.sampled_from([" ", "\t", "=", '"', ",", "/", "[", "(", "'", "|", ";"])
LABEL = st.text(
    alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=12
)
PROPERTY = settings(max_examples=150, deadline=None)


@PROPERTY
@given(st.ip_addresses(v=4), SEPARATORS, SEPARATORS)
def test_ipv4_token_whole(
    address: ipaddress.IPv4Address, left: str, right: str
) -> None:
    text = f"x{left}{address}{right}y"
    assert str(address) in tokens.IPV4.findall(text)
    assert tokens.IPV4.findall(f"x{left}1{address}{right}y") != [str(address)]
    assert str(address) not in tokens.IPV4.findall(f"{address}0")
    assert str(address) not in tokens.IPV4.findall(f"{address}.example.net")


@PROPERTY
@given(st.ip_addresses(v=6), st.sampled_from(["compressed", "exploded", "upper"]))
def test_ipv6_any_spelling(address: ipaddress.IPv6Address, spelling: str) -> None:
    text = address.exploded if spelling == "exploded" else address.compressed
    if spelling == "upper":
        text = text.upper()
    found = [tokens.ipv6_candidate(t) for t in tokens.IPV6.findall(f"src={text} x")]
    canonical = normalize(str(address), "ipv6")[0].value
    mapped = address.ipv4_mapped
    expected_number = int(mapped) if mapped is not None else int(address)
    assert [c.number for c in found if c is not None] == [expected_number]
    if mapped is None:
        assert found[0] is not None
        assert found[0].text == canonical


@PROPERTY
@given(st.lists(LABEL, min_size=2, max_size=5), st.lists(LABEL, max_size=3))
def test_parent_names_of_subdomain(base: list[str], prefix: list[str]) -> None:
    listed = ".".join(base) + ".example"
    name = ".".join([*prefix, listed])
    parents = [candidate for candidate, _ in parent_names(name)]
    assert listed in parents
    assert parents[0] == name
    assert all(candidate.count(".") >= 1 for candidate in parents)
    assert f"x{listed}" not in parents


def test_candidates_of_field() -> None:
    found = tokens.candidates(
        "GET hxxp://Files[.]Example[.]org/a.exe from [2001:db8::1]:443 "
        "via 198.51.100.7 md5=D41D8CD98F00B204E9800998ECF8427E"
    )
    kinds = {(c.kind, c.text) for c in found}
    assert ("url", "http://files.example.org/a.exe") in kinds
    assert ("ip", "2001:db8::1") in kinds
    assert ("ip", "198.51.100.7") in kinds
    assert ("domain", "files.example.org") in kinds
    assert ("hash", "d41d8cd98f00b204e9800998ecf8427e") in kinds


def test_detect_format_samples() -> None:
    assert detect_format("#separator \\x09\n#fields\tts\n") == "zeek"
    assert detect_format('{"_path":"dns","ts":"2018-03-24T17:15:20Z"}\n') == "zeek-json"
    assert detect_format('{"ts":1.0,"fuid":"F1","md5":"x"}\n') == "zeek-json"
    assert detect_format('{"timestamp":"x","event_type":"alert"}\n') == "eve"
    assert detect_format('{"EventID":3,"DestinationIp":"198.51.100.7"}\n') == "jsonl"
    squid = (
        "1157689312.049 5006 10.1.2.3 TCP_MISS/200 19763 CONNECT a.b:443 - DIRECT/-\n"
    )
    assert detect_format(squid) == "squid"
    assert detect_format("time,src,dst\n1,2,3\n4,5,6\n") == "csv"
    assert (
        detect_format("May 14 06:25:07 fw date=2014-05-14 srcip=1.2.3.4\n") == "syslog"
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(st.binary(max_size=80), min_size=1, max_size=12), st.sampled_from(FORMATS)
)
def test_junk_never_stops_hunt(tmp_path: Path, lines: list[bytes], fmt: str) -> None:
    good = b"2024-01-01T00:00:00Z dst=198.51.100.7"
    if fmt in ("zeek-json", "eve", "jsonl"):
        good = b'{"ts": 1704067200, "dst": "198.51.100.7"}'
    elif fmt == "zeek":
        good = b"#fields\tts\tdst\n1704067200.0\t198.51.100.7"
    elif fmt == "csv":
        good = b"ts,dst\n2024-01-01T00:00:00Z,198.51.100.7"
    elif fmt == "squid":
        good = b"1704067200.0 1 10.0.0.1 TCP_MISS/200 1 GET http://198.51.100.7/ - -"
    junk = [line.replace(b"\n", b" ") for line in lines]
    log = tmp_path / f"junk-{fmt}.log"
    log.write_bytes(b"\n".join([good, *junk, good.split(b"\n")[-1]]) + b"\n")
    hits, result = hunt_with(memory_index([("ipv4", "198.51.100.7")]), [log], fmt)
    header_lines = good.count(b"\n")
    assert result.stats.lines == len(junk) + 2 + header_lines
    assert result.stats.failed == []
    good_lines = {1 + header_lines, len(junk) + 2 + header_lines}
    assert good_lines <= {hit.line for hit in hits}
