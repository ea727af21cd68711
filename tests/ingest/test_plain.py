"""The plain-text parser: one value per line, comments, and report text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from medisac.errors import IngestError
from medisac.model import Observation
from tests.ingest.helpers import (
    observations,
    parse_bytes,
    parse_path,
    rejections,
    skipped,
    values,
    warnings,
)


def plain(text: str) -> list[tuple[str, str]]:
    items = parse_bytes(text.encode(), "plain")
    return [(obs.location, obs.value) for obs in observations(items)]


def test_one_value_per_line() -> None:
    assert plain("198.51.100.1\nexample.org\n") == [
        ("line 1", "198.51.100.1"),
        ("line 2", "example.org"),
    ]


def test_comments_and_blank_lines_skipped() -> None:
    text = "# header\n; note\n// note\n\n   \n198.51.100.1\n"
    items = parse_bytes(text.encode(), "plain")
    assert [(o.location, o.value) for o in observations(items)] == [
        ("line 6", "198.51.100.1")
    ]
    assert not skipped(items)
    assert not rejections(items)


def test_inline_comment_removed() -> None:
    assert plain("example.org   # seen twice\n") == [("line 1", "example.org")]


def test_fragment_is_not_a_comment() -> None:
    assert plain("http://example.org/a#frag\n") == [
        ("line 1", "http://example.org/a#frag")
    ]


def test_value_then_count() -> None:
    assert plain("198.51.100.7\t7\n198.51.100.8\t3\n") == [
        ("line 1", "198.51.100.7"),
        ("line 2", "198.51.100.8"),
    ]


def test_value_then_semicolon_comment() -> None:
    digest = "0c2674c3a97c53082187d930efb645c2"
    assert plain(f"{digest};Sakula\n{digest};DEEP PANDA malware\n") == [
        ("line 1", digest),
        ("line 2", digest),
    ]


def test_defanged_words_in_prose() -> None:
    text = (
        "The loader called hxxp://bad[.]example[.]com/x and 198.51.100[.]9, "
        "then stopped.\n"
    )
    assert [value for _, value in plain(text)] == [
        "hxxp://bad[.]example[.]com/x",
        "198.51.100[.]9",
    ]


def test_prose_line_skipped_as_text() -> None:
    items = parse_bytes(b"This report describes the campaign in detail\n", "plain")
    assert not observations(items)
    assert [s.kind for s in skipped(items)] == ["text"]


def test_single_bad_token_still_observed() -> None:
    # The normaliser rejects it with this line number.
    assert plain(".leading-dot.example.com\n") == [
        ("line 1", ".leading-dot.example.com")
    ]


def test_long_line_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(b"198.51.100.1\n" + b"x" * (2 * 1024 * 1024) + b"\n198.51.100.2\n")
    items = parse_path(path, "plain")
    assert [o.location for o in observations(items)] == ["line 1", "line 3"]
    (rejection,) = rejections(items)
    assert rejection.location == "line 2"
    assert "2,097,152 bytes" in rejection.reason


def test_invalid_utf8_warned_once() -> None:
    items = parse_bytes(
        b"example.org\nbad\xff.example.org\nbad\xfe.example.net\n", "plain"
    )
    assert len(observations(items)) == 3
    (warning,) = warnings(items)
    assert warning.location == "line 2"
    assert "UTF-8" in warning.message


def test_b05_lines(cases_dir: Path) -> None:
    items = parse_path(cases_dir / "B05-fqdn-bad-labels.txt", "plain")
    found = observations(items)
    assert all(obs.type is None for obs in found)
    lines = (cases_dir / "B05-fqdn-bad-labels.txt").read_text().splitlines()
    expected = [
        (f"line {n}", line.strip())
        for n, line in enumerate(lines, start=1)
        if line.strip() and not line.startswith("#")
    ]
    assert [(o.location, o.value) for o in found] == expected


def test_corpus_ipsum(corpus_dir: Path) -> None:
    items = parse_path(
        corpus_dir / "indicators" / "text" / "ipsum" / "ipsum_level3.txt"
    )
    found = values(items)
    assert "77.90.185.20" in found
    assert not rejections(items)


def test_corpus_talos_report(corpus_dir: Path) -> None:
    path = (
        corpus_dir
        / "indicators"
        / "text"
        / "talos"
        / "Akira-ransomware-continues-to-evolve.txt"
    )
    found = values(parse_path(path))
    assert "78d75669390e4177597faf9271ce3ad3a16a3652e145913dbfa9a5951972fcb0" in found
    assert "Akira" in found


def test_corpus_unit42_defanged(corpus_dir: Path) -> None:
    found = values(
        parse_path(corpus_dir / "indicators" / "text" / "unit42" / "Conti_IOCs.txt")
    )
    assert "185.178.209[.]193" in found
    assert "bestarg[.]com" in found
    assert "Cobalt" not in found


def test_corpus_maltrail(corpus_dir: Path) -> None:
    found = values(
        parse_path(corpus_dir / "indicators" / "text" / "maltrail" / "conti.txt")
    )
    assert "209.14.0.234:443" in found
    assert "contirecovery.info" in found
    assert not any(value.startswith("#") for value in found)


def _line_count(content: bytes) -> int:
    # Content with a CR but no LF has classic Mac OS line ends.
    end = b"\r" if b"\n" not in content and b"\r" in content else b"\n"
    return content.count(end) + 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_plain_any_bytes(content: bytes) -> None:
    try:
        items = parse_bytes(content, "plain")
    except IngestError:
        return
    for item in items:
        number = int(item.location.split()[-1])
        assert 1 <= number <= _line_count(content)
        if isinstance(item, Observation):
            assert item.value.strip()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "198.51.100.1",
                "# c",
                "",
                "a b",
                "x;y",
                "\r",
                "hxxp://e[.]com",
                "\t7",
                "\ufeff",
            ]
        ),
        max_size=30,
    )
)
def test_plain_line_numbers_exact(parts: list[str]) -> None:
    content = "\n".join(parts).encode()
    lines = content.decode().split("\n")
    for obs in observations(parse_bytes(content, "plain")):
        number = int(obs.location.split()[-1])
        assert obs.value in lines[number - 1]
