"""Suricata rules export, read back with two rule parsers and a strict reader.

``idstools`` reads ``msg:"a; b"`` as one option, which Suricata rejects, so
every rule also goes through ``read_options`` below. It splits options where
Suricata does, at each ``;`` without a backslash before it. The checks then
allow in ``msg`` only the escapes ``\\;``, ``\\"``, ``\\:`` and ``\\\\``, and
decode each ``content`` from its hex groups back to bytes.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from idstools import rule as idstools_rule
from suricataparser import parse_rule

from medisac.errors import NormalizationError
from medisac.export.select import ExportFilter
from medisac.export.suricata import (
    HASH_LISTS,
    MAX_RULE_BYTES,
    RULES_FILE,
    SID_MAX,
    SuricataExport,
    indicator_rules,
    write_suricata,
    write_suricata_dir,
)
from medisac.model import TLP, IndicatorType
from medisac.normalize.url import split_url
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text, record, records

B24_SOURCE = 'Regional ISAC; "beta" feed'
_NAME = re.compile(r"[a-z0-9_.\-]+")
_STICKY = {"dns.query", "tls.sni", "http.host", "http.uri"}
_OPTION_END = re.compile(r"(?<!\\);")
# A quote with an even number of backslashes (none included) before it.
_RAW_QUOTE = re.compile(r'(?<!\\)(?:\\\\)*"')


# -- a strict reader of rule options --


def read_options(rule: str) -> list[tuple[str, str | None]]:
    """Split the options of ``rule`` into (name, raw value) pairs, strictly.

    As in Suricata, an option ends at the first ``;`` without a backslash
    before it, inside quotes or not. A quoted value must then be one quoted
    string with no unescaped ``"`` inside. Raises AssertionError where
    Suricata would reject the rule or read it differently.
    """
    assert rule.endswith(")"), rule
    assert "\n" not in rule
    start = rule.index("(")
    assert '"' not in rule[:start], "quote in the rule header"
    text = rule[start + 1 : -1].strip()
    assert text.endswith(";"), f"options do not end with ';': {text[-30:]!r}"
    found: list[tuple[str, str | None]] = []
    for option in _OPTION_END.split(text)[:-1]:
        name, colon, value = option.partition(":")
        name = name.strip()
        assert _NAME.fullmatch(name), f"bad option name {name!r}"
        if not colon:
            found.append((name, None))
            continue
        value = value.strip()
        if value.lstrip("!").startswith('"'):
            value = _quoted(value.lstrip("!"))
        found.append((name, value))
    return found


def _quoted(value: str) -> str:
    assert len(value) >= 2, f"unclosed quote in {value!r}"
    assert value.endswith('"'), f"text after the closing quote in {value!r}"
    inner = value[1:-1]
    assert not _RAW_QUOTE.search(inner), f"unescaped quote in {value!r}"
    return inner


def decode_content(raw: str) -> bytes:
    """Return the bytes a raw content value matches; reject unsafe text."""
    for char in ';"\\':
        assert char not in raw, f"unescaped {char!r} in content {raw!r}"
    parts = raw.split("|")
    assert len(parts) % 2 == 1, f"unbalanced '|' in {raw!r}"
    data = b""
    for index, part in enumerate(parts):
        data += bytes.fromhex(part) if index % 2 else part.encode()
    return data


def unescape_msg(raw: str) -> str:
    """Return the text of a raw msg value; reject escapes that msg never needs."""
    for escape in re.findall(r"\\(.)", raw):
        assert escape in ';":\\', f"bad escape in msg {raw!r}"
    return re.sub(r"\\(.)", r"\1", raw)


def assert_loads(rules: list[str]) -> None:
    """Check every rule with both parsers and the strict reader."""
    for rule in rules:
        assert len(rule.encode()) < MAX_RULE_BYTES
        parsed = parse_rule(rule)
        assert parsed is not None, rule
        other = idstools_rule.parse(rule)
        assert other is not None, rule
        options = read_options(rule)
        sid = dict(options)["sid"]
        assert sid is not None
        assert int(parsed.sid) == int(sid) == other["sid"]
        assert_http_host_lower_case(options)
        for name, value in options:
            assert value is not None or name not in ("content", "msg")
            if name == "content":
                decode_content(str(value))
            elif name == "msg":
                unescape_msg(str(value))
            elif value is not None:
                assert '"' not in value, f"quote in {name} value {value!r}"
                assert "\\" not in value, f"backslash in {name} value {value!r}"


def assert_http_host_lower_case(options: list[tuple[str, str | None]]) -> None:
    """Check the http.host rules that Suricata rejects: nocase or upper case."""
    active = None
    for name, value in options:
        if name in _STICKY:
            active = name
        elif active == "http.host":
            assert name != "nocase", "nocase on http.host"
            if name == "content":
                pattern = decode_content(str(value))
                assert pattern == pattern.lower(), f"upper case in {value!r}"


def sids(rules: list[str]) -> list[int]:
    return [int(str(dict(read_options(rule))["sid"])) for rule in rules]


def msg_of(rule: str) -> str:
    return unescape_msg(str(dict(read_options(rule))["msg"]))


def buffer_matches(rule: str, buffer: str, data: str) -> bool:
    """Evaluate the content match on ``buffer`` in ``rule`` against ``data``."""
    options = read_options(rule)
    names = [name for name, _ in options]
    position = names.index(buffer) + 1
    modifiers: set[str] = set()
    pattern = b""
    for name, value in options[position:]:
        if name in _STICKY or name == "sid":
            break
        if name == "content":
            pattern = decode_content(str(value))
        else:
            modifiers.add(name)
    subject = ("." + data if "dotprefix" in modifiers else data).encode()
    if "nocase" in modifiers:
        subject, pattern = subject.lower(), pattern.lower()
    if {"startswith", "endswith"} <= modifiers:
        return subject == pattern
    if "endswith" in modifiers:
        return subject.endswith(pattern)
    if "startswith" in modifiers:
        return subject.startswith(pattern)
    return pattern in subject


def contents_after(rule: str, buffer: str) -> list[bytes]:
    options = read_options(rule)
    found, active = [], None
    for name, value in options:
        if name in _STICKY:
            active = name
        elif name == "content" and active == buffer:
            found.append(decode_content(str(value)))
    return found


# -- exports --


def export_rules(
    store: Store, selection: ExportFilter | None = None, sid_base: int = 9_000_000
) -> list[str]:
    out = io.BytesIO()
    with store.engine.connect() as conn:
        write_suricata(
            conn, selection or ExportFilter(tlp=TLP.RED), out, sid_base=sid_base
        )
    return out.getvalue().decode().splitlines()


def fake_row(kind: str, value: str, source: str = "feed") -> Any:
    return SimpleNamespace(
        id=7,
        i_type=kind,
        i_value=value,
        i_confidence=50,
        i_stix_id="indicator--00000000-0000-4000-8000-000000000007",
        i_sources=json.dumps([[source, 50, 1, 0, 0, None]]),
    )


# -- the strict reader itself --


def test_reader_rejects_raw_semicolon() -> None:
    broken = 'alert http any any -> any any (content:"/a;b"; sid:1;)'
    with pytest.raises(AssertionError):
        read_options(broken)
    with pytest.raises(AssertionError):
        unescape_msg("a\\x")
    with pytest.raises(AssertionError):
        read_options('alert dns any any -> any any (msg:"a"b"; sid:1;)')
    with pytest.raises(AssertionError):
        decode_content("ab|3B")


@pytest.mark.corpus
def test_reader_accepts_published_rules(corpus_dir: Path) -> None:
    folder = corpus_dir / "rules/snort"
    read = 0
    for path in sorted(folder.glob("*.rules")):
        text = path.read_text("utf-8", errors="replace")
        # A backslash at the end of a line continues the rule on the next.
        for line in re.sub(r"\\\n\s*", "", text).splitlines():
            if line.startswith("alert "):
                read_options(line)
                read += 1
    assert read > 50


# -- the hard case --


def b24_values(cases_dir: Path) -> list[str]:
    text = (cases_dir / "B24-suricata-rule-escaping.txt").read_text("utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_b24_rules_load(store: Store, cases_dir: Path) -> None:
    ingest_paths(
        store.engine,
        [cases_dir / "B24-suricata-rule-escaping.txt"],
        source=B24_SOURCE,
        fmt="plain",
    )
    rules = export_rules(store)
    assert_loads(rules)
    messages = [msg_of(rule) for rule in rules]
    for value in b24_values(cases_dir):
        assert any(f" {value} (" in message for message in messages), value
    for rule in rules:
        assert 'Regional ISAC\\; \\"beta\\" feed' in rule
        for uri in contents_after(rule, "http.uri"):
            assert not uri.startswith((b"http:", b"https:"))
    again = export_rules(store)
    assert len(set(sids(rules))) == len(rules)
    assert dict(zip(rules, sids(rules), strict=True)) == dict(
        zip(again, sids(again), strict=True)
    )


def test_b24_uri_escaped(store: Store, cases_dir: Path) -> None:
    ingest_paths(
        store.engine, [cases_dir / "B24-suricata-rule-escaping.txt"], fmt="plain"
    )
    rules = export_rules(store)
    token = [r for r in rules if "cdn-static.example.org" in r]
    assert len(token) == 1
    assert 'http.uri; content:"/view.html__|3B|!!Xy7Q!_token$";' in token[0]
    backslash = [r for r in rules if "portal.example.org" in r]
    assert contents_after(backslash[0], "http.uri") == [b"/path\\with\\backslash"]
    assert "|5C|" in backslash[0]
    quotes = [r for r in rules if "intake.example.net" in r]
    assert contents_after(quotes[0], "http.uri") == [b'/form?a=1&b="2"']


def test_b24_hosts_anchored(store: Store, cases_dir: Path) -> None:
    ingest_paths(
        store.engine, [cases_dir / "B24-suricata-rule-escaping.txt"], fmt="plain"
    )
    rules = export_rules(store)
    short = [r for r in rules if msg_of(r).startswith("medisac url http://rs.")]
    assert len(short) == 1
    assert buffer_matches(short[0], "http.host", "rs.example.com")
    assert not buffer_matches(short[0], "http.host", "stars.example.com")
    other = "rs.example.com.other.example.net"
    assert not buffer_matches(short[0], "http.host", other)
    assert buffer_matches(short[0], "http.uri", "/")
    assert not buffer_matches(short[0], "http.uri", "/index.html")
    sni = [r for r in rules if "tls.sni" in r and "t.example.com" in msg_of(r)]
    assert len(sni) == 1
    assert msg_of(sni[0]).startswith("medisac url https://t.example.com/AbC123?amp=1")
    assert buffer_matches(sni[0], "tls.sni", "T.example.com")
    assert not buffer_matches(sni[0], "tls.sni", "at.example.com")
    assert not buffer_matches(sni[0], "tls.sni", "t.example.com.example.net")
    for rule in rules:
        assert 'content:"t.example.com"; nocase; startswith; endswith;' in rule or (
            'content:"t.example.com"' not in rule
        )


def test_domain_matches_subdomains(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "rs.example.com\n")
    rules = export_rules(store)
    assert len(rules) == 3
    assert_loads(rules)
    for rule, buffer in zip(rules, ("dns.query", "tls.sni", "http.host"), strict=True):
        assert buffer_matches(rule, buffer, "rs.example.com")
        assert buffer_matches(rule, buffer, "cdn.rs.example.com")
        assert not buffer_matches(rule, buffer, "stars.example.com")
        assert not buffer_matches(rule, buffer, "rs.example.com.example.net")


# -- hostile values, addresses, hashes, sids --

HOSTILE_URLS = [
    "http://h1.example.org/a%22b;c\\d|e",
    'http://h2.example.org/q?x="1";y=2',
    "http://h3.example.org/k%C3%B6ln/%E2%80%AE/caf\u00e9",
    "http://h4.example.org/=cmd|'/C calc'!A0".replace(" ", "%20"),
    "http://h5.example.org/+SUM(1)/-rf/@import",
    'http://h6.example.org/(msg:"x";sid:1;)',
    "http://h7.example.org/" + "a" * 20 + "|" * 5,
]


def test_hostile_urls_round_trip(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "\n".join(HOSTILE_URLS) + "\n")
    stored = {value for kind, value in records(store.engine) if kind == "url"}
    assert len(stored) == len(HOSTILE_URLS)
    rules = export_rules(store)
    assert_loads(rules)
    assert len(rules) == len(stored)
    for rule in rules:
        value = msg_of(rule).removeprefix("medisac url ").removesuffix(" (test)")
        assert value in stored
        path = "/" + value.split("/", 3)[3]
        assert contents_after(rule, "http.uri") == [path.encode()]


def test_long_rule_left_out(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    long_url = "http://long.example.org/" + ";" * 3000
    ingest_text(store.engine, tmp_path, long_url + "\nkept.example.org\n")
    with caplog.at_level(logging.INFO, logger="medisac.export.suricata"):
        rules = export_rules(store)
    assert_loads(rules)
    assert all("long.example.org" not in rule for rule in rules)
    assert len(rules) == 3
    assert f"1 rule over {MAX_RULE_BYTES} bytes" in caplog.text


def test_addresses_both_directions(store: Store, tmp_path: Path) -> None:
    text = "198.51.100.7\n2001:db8::7\n203.0.113.0/24\n"
    ingest_text(store.engine, tmp_path, text)
    rules = export_rules(store)
    assert_loads(rules)
    assert len(rules) == 6
    headers = {rule.split(" (", 1)[0] for rule in rules}
    for address in ("198.51.100.7", "2001:db8::7", "203.0.113.0/24"):
        assert f"alert ip $HOME_NET any -> {address} any" in headers
        assert f"alert ip {address} any -> $HOME_NET any" in headers


def test_metadata_fields(store: Store, tmp_path: Path) -> None:
    ingest_text(
        store.engine, tmp_path, "meta.example.org\n", source="a;b c", confidence=85
    )
    rules = export_rules(store)
    parsed = parse_rule(rules[0])
    assert parsed is not None
    metadata = idstools_rule.parse(rules[0])["metadata"]
    confidence = record(store.engine, "domain", "meta.example.org").confidence
    assert f"medisac_confidence {confidence}" in metadata
    assert "medisac_source a_b_c" in metadata
    assert "medisac_source_count 1" in metadata
    stix_ids = [m for m in metadata if m.startswith("medisac_stix_id indicator--")]
    assert len(stix_ids) == 1


def test_many_sources_capped() -> None:
    row = fake_row("domain", "wide.example.org")
    row.i_sources = json.dumps([[f"feed {n}", 50, 1, 0, 0, None] for n in range(50)])
    rules = [r.rstrip("\n") for r in indicator_rules(SuricataExport(9_000_000), row)]
    assert len(rules) == 3
    assert_loads(rules)
    metadata = idstools_rule.parse(rules[0])["metadata"]
    assert "medisac_source_count 50" in metadata
    named = [m for m in metadata if m.startswith("medisac_source ")]
    assert named[0] == "medisac_source feed_0"
    assert len(named) == 20
    assert msg_of(rules[0]).endswith("(feed 0, feed 1, feed 2 and 47 more)")


def test_sid_base_and_range(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "one.example.org\ntwo.example.org\n")
    low = sids(export_rules(store, sid_base=1_000_000))
    high = sids(export_rules(store))
    assert [sid - 1_000_000 for sid in low] == [sid - 9_000_000 for sid in high]
    assert len(set(low)) == 6
    with pytest.raises(ValueError, match="sid_base"):
        export_rules(store, sid_base=0)
    with pytest.raises(ValueError, match="lower sid_base"):
        SuricataExport(SID_MAX - 10).sid(5, 0)


def test_b31_context_values_left_out(store: Store, cases_dir: Path) -> None:
    ingest_paths(store.engine, [cases_dir / "B31-to-ids-and-benign.json"], fmt="misp")
    rules = export_rules(store)
    assert_loads(rules)
    assert not any("198.51.100.23" in rule for rule in rules)
    assert any("203.0.113.99 any" in rule for rule in rules)


def test_hash_lists_in_directory(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = "\n".join(["a" * 32, "b" * 40, "c" * 64, "d" * 128, "hash.example.org"])
    ingest_text(store.engine, tmp_path, text + "\n")
    folder = tmp_path / "rules"
    with store.engine.connect() as conn, caplog.at_level(logging.INFO):
        count = write_suricata_dir(conn, ExportFilter(tlp=TLP.RED), folder)
    assert count == 4
    assert "1 sha512 has no Suricata match" in caplog.text
    rules = (folder / RULES_FILE).read_text().splitlines()
    assert_loads(rules)
    assert len(set(sids(rules))) == len(rules) == 6
    for kind, digest in (("md5", "a" * 32), ("sha1", "b" * 40), ("sha256", "c" * 64)):
        spec = HASH_LISTS[IndicatorType(kind)]
        assert (folder / spec.file_name).read_text() == digest + "\n"
        listed = [r for r in rules if f"{spec.keyword}:{spec.file_name};" in r]
        assert sids(listed) == [9_000_000 + spec.slot]
    out = io.BytesIO()
    with store.engine.connect() as conn:
        assert write_suricata(conn, ExportFilter(tlp=TLP.RED), out) == 1


@pytest.mark.corpus
def test_corpus_rules_load(store: Store, corpus_dir: Path) -> None:
    paths = [
        corpus_dir / "indicators/text/maltrail/lockbit.txt",
        corpus_dir / "indicators/text/maltrail/rhysida.txt",
        corpus_dir / "indicators/csv/sophos/IOC_quishing2024.csv",
    ]
    ingest_paths(store.engine, paths, source="corpus")
    rules = export_rules(store)
    assert len(rules) > 500
    assert_loads(rules)
    assert len(set(sids(rules))) == len(rules)
    kinds = Counter(rule.split(" ", 2)[1] for rule in rules)
    assert set(kinds) == {"ip", "dns", "tls", "http"}


# -- any text, any source name --

_HOSTILE_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80
) | st.text(st.sampled_from(list(';"\\|:()=+-@ \t\r\n\u202e\u00e9.')), max_size=40)


@settings(max_examples=300, deadline=None)
@given(value=_HOSTILE_TEXT, source=_HOSTILE_TEXT)
def test_any_domain_text_loads(value: str, source: str) -> None:
    export = SuricataExport(9_000_000)
    rules = [
        r.rstrip("\n")
        for r in indicator_rules(export, fake_row("domain", value, source))
    ]
    assert len(rules) == 3
    assert_loads(rules)
    expected = ("." + value.lower()).encode()
    for rule, buffer in zip(rules, ("dns.query", "tls.sni", "http.host"), strict=True):
        assert contents_after(rule, buffer) == [expected]


# Mostly valid host names, so that most examples give a rule to read back.
_HOSTS = (
    st.from_regex(r"[a-z0-9\-]{1,20}(\.[a-z0-9\-]{1,20}){1,3}", fullmatch=True)
    | _HOSTILE_TEXT
)


@settings(max_examples=300, deadline=None)
@given(host=_HOSTS, path=_HOSTILE_TEXT, scheme=st.sampled_from(["http", "https"]))
def test_any_url_text_loads(host: str, path: str, scheme: str) -> None:
    raw = f"{scheme}://{host}/{path}"
    export = SuricataExport(9_000_000)
    rules = [r.rstrip("\n") for r in indicator_rules(export, fake_row("url", raw))]
    assert_loads(rules)
    assert len(rules) + sum(export.left_out.values()) == 1
    try:
        parts = split_url(raw)
    except NormalizationError:
        return
    # A stored URL is canonical: its rule matches exactly its host and path.
    export = SuricataExport(9_000_000)
    row = fake_row("url", parts.unsplit())
    rules = [r.rstrip("\n") for r in indicator_rules(export, row)]
    assert_loads(rules)
    if scheme == "https" and parts.host_type is not IndicatorType.DOMAIN:
        assert rules == []
        return
    assert len(rules) == 1
    buffer = "http.host" if scheme == "http" else "tls.sni"
    assert contents_after(rules[0], buffer) == [parts.host.encode()]
    if scheme == "http":
        uri = parts.rest.partition("#")[0]
        assert contents_after(rules[0], "http.uri") == [uri.encode()]
