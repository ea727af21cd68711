"""Versions and version ranges as medical-device advisories write them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medisac.vulns.ranges import RangeError, parse_range, range_from_bounds
from medisac.vulns.versions import VersionError, compare, parse_version


def contains(text: str, version: str) -> bool | None:
    return parse_range(text).contains(parse_version(version))


@pytest.mark.parametrize(
    ("left", "right", "order"),
    [
        ("1.0", "1.0.0", 0),
        ("1.9", "1.10", -1),
        ("2.6", "2.6A", -1),
        ("2.6A", "2.6B", -1),
        ("A10", "A11", -1),
        ("A9", "A10", -1),
        ("1.0rc1", "1.0", -1),
        ("1.0beta2", "1.0rc1", -1),
        ("2023.3", "2023.3_Build_9342", -1),
        ("2023.3_Build_9341", "2023.3_Build_9342", -1),
        ("1.8.4", "1.8.4 Service Pack 01", -1),
        ("v20D29", "20D30", -1),
        ("R4.1L1", "R4.1L2", -1),
        ("K", "N", -1),
        ("L81", "U61", None),
        ("2.6A", "2.6.1", None),
    ],
)
def test_compare_table(left: str, right: str, order: int | None) -> None:
    assert compare(parse_version(left), parse_version(right)) == order
    reverse = None if order is None else -order
    assert compare(parse_version(right), parse_version(left)) == reverse


@pytest.mark.parametrize("text", ["", "august 28", "11.2 on Windows 8.1", "a/b", "(x)"])
def test_not_a_version(text: str) -> None:
    with pytest.raises(VersionError):
        parse_version(text)


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("vers:all/*", ["0.1", "99", "A10"], []),
        ("all versions", ["1.0"], []),
        ("vers:generic/<3.0.0", ["2.1.0", "2.9.99"], ["3.0.0", "3.0.1"]),
        ("< 8.2.2", ["8.2.1"], ["8.2.2"]),
        ("<= 1.52", ["1.52", "1.51.9"], ["1.52.01", "1.53"]),
        (">= 1.0.0  | <= 1.3.1", ["1.0.0", "1.3.1", "1.2"], ["0.9", "1.3.2"]),
        (">= 4.01 | <= 4.34", ["4.01", "4.34"], ["4.00", "4.35"]),
        (">= 1.3.4 | < 1.5.3", ["1.5.2"], ["1.5.3", "1.3.3"]),
        ("A10 | A11", ["A10", "A11"], ["A12", "A9"]),
        ("5.0|5.1", ["5.0", "5.1.0"], ["5.2", "4.9"]),
        ("B.02 | C.02 | C.03", ["C.03"], ["C.04"]),
        ("<= L81", ["L81", "L80"], ["L82"]),
        ("<= 12.2.x.x", ["12.2.9.1", "12.1"], ["12.3", "13"]),
        ("<= 11.x", ["11.9"], ["12.0"]),
        ("v6.x", ["6.0", "6.9.9"], ["7.0", "5.9"]),
        ("<=2023.3_Build_9342", ["2023.3_Build_9342", "2023.2"], ["2023.3_Build_9343"]),
        ("< 1.8.4 Service Pack 01", ["1.8.4", "1.8.3"], ["1.8.4 Service Pack 01"]),
        ("<= 2.6A", ["2.6", "2.6A"], ["2.6B"]),
        ("<= 1.54 (integrated into GE MobileLink)", ["1.54"], ["1.55"]),
        ("prior to 1.52", ["1.51"], ["1.52"]),
        ("Versions 1.11 and earlier", ["1.11"], ["1.12"]),
        ("2.0 and later", ["2.0", "3.1"], ["1.9"]),
        ("1.0 through 2.0", ["1.0", "2.0"], ["2.0.1"]),
        ("vers:generic/>=1.0|!=1.2", ["1.1", "1.3"], ["1.2", "0.9"]),
    ],
)
def test_range_table(text: str, inside: list[str], outside: list[str]) -> None:
    for version in inside:
        assert contains(text, version) is True, version
    for version in outside:
        assert contains(text, version) is False, version


def test_unordered_lineage_is_unknown() -> None:
    # "<= L81" bounds the L product line only, not the U line.
    assert contains("<= L81", "U50") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<= U61 |<= L81", "cannot be ordered"),
        ("< august 28", "august"),
        ("<  november 29 2017", "november"),
        ("<May 2018", "May"),
        ("<=11.2 on Windows 8.1 with IIS 7.5", "Windows"),
        ("A.01 <= C.0x | 4.0", "not a version"),
        ("v6.x (with Wireless Battery Modules v9 | >= v20D29)", "not a version"),
        ("<= 3.0 | <= 4.0", "upper bound without a lower bound"),
        (">= 2.0 | >= 3.0", "two lower bounds"),
        ("<= 4.0 | >= 2.0", "ascending order"),
        ("1.0 |", "empty constraint"),
        ("vers:generic", "vers:<scheme>/<constraints>"),
        ("", "empty"),
    ],
)
def test_unreadable_range_reported(text: str, reason: str) -> None:
    with pytest.raises(RangeError, match=reason):
        parse_range(text)


def test_cpe_style_bounds() -> None:
    found = range_from_bounds(start_including="2.0", end_excluding="2.4.1")
    assert found.contains(parse_version("2.0")) is True
    assert found.contains(parse_version("2.4.1")) is False
    with pytest.raises(RangeError, match="not below"):
        range_from_bounds(start_including="3.0", end_including="2.0")


def test_canonical_vers_text() -> None:
    assert parse_range(">= 1.0.0  | <= 1.3.1").canonical() == ">=1.0.0|<=1.3.1"
    assert parse_range("vers:all/*").canonical() == "*"
    assert parse_range("A10 | A11").canonical() == "A10|A11"
    assert parse_range("<= 12.2.x.x").canonical() == "<12.3"


# -- properties ----------------------------------------------------------

numbers = st.integers(min_value=0, max_value=300)
words = st.sampled_from(["a", "b", "rc", "beta", "build", "sp", "d", "k"])
tokens = st.lists(st.one_of(numbers, words), min_size=1, max_size=5)


@st.composite
def versions(draw: st.DrawFn) -> str:
    parts = draw(tokens)
    # Keep a number first so that most pairs can be ordered.
    first = draw(numbers)
    separators = draw(
        st.lists(
            st.sampled_from([".", "-", "_"]), min_size=len(parts), max_size=len(parts)
        )
    )
    text = str(first)
    for separator, part in zip(separators, parts, strict=True):
        text += f"{separator}{part}"
    return text


@given(versions())
def test_compare_reflexive(text: str) -> None:
    version = parse_version(text)
    assert compare(version, version) == 0


@given(versions(), versions())
def test_compare_antisymmetric(left: str, right: str) -> None:
    a, b = parse_version(left), parse_version(right)
    forward, backward = compare(a, b), compare(b, a)
    if forward is None:
        assert backward is None
    else:
        assert backward == -forward


@given(versions(), versions(), versions())
def test_compare_transitive(first: str, second: str, third: str) -> None:
    a, b, c = (parse_version(text) for text in (first, second, third))
    ab, bc, ac = compare(a, b), compare(b, c), compare(a, c)
    if ab is not None and bc is not None and ab <= 0 and bc <= 0:
        assert ac is not None and ac <= 0


@given(
    st.lists(numbers, min_size=1, max_size=5), st.lists(numbers, min_size=1, max_size=5)
)
def test_numeric_versions_order_like_padded_tuples(
    left: list[int], right: list[int]
) -> None:
    width = max(len(left), len(right))
    padded_left = tuple(left + [0] * (width - len(left)))
    padded_right = tuple(right + [0] * (width - len(right)))
    expected = (padded_left > padded_right) - (padded_left < padded_right)
    a = parse_version(".".join(map(str, left)))
    b = parse_version(".".join(map(str, right)))
    assert compare(a, b) == expected


@given(versions(), versions(), versions())
def test_interval_agrees_with_compare(low: str, high: str, probe: str) -> None:
    lower, upper, version = (parse_version(t) for t in (low, high, probe))
    order = compare(lower, upper)
    if order is None or order > 0:
        return
    found = parse_range(f">={low}|<={high}").contains(version)
    above, below = compare(version, lower), compare(version, upper)
    if above is None or below is None:
        assert found is None or found is False
    else:
        assert found is (above >= 0 and below <= 0)


@given(versions(), versions())
def test_canonical_round_trip(low: str, high: str) -> None:
    order = compare(parse_version(low), parse_version(high))
    if order is None or order > 0:
        return
    first = parse_range(f">= {low} | < {high}")
    again = parse_range(first.canonical())
    assert again.canonical() == first.canonical()
    assert again == first


@given(st.text(max_size=40))
def test_parse_range_never_crashes(text: str) -> None:
    try:
        parse_range(text)
    except RangeError as exc:
        assert str(exc)
