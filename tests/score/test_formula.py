"""The confidence formula: its properties, and the numbers docs/scoring.md gives."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from medisac.model import IndicatorType as T
from medisac.score import formula
from medisac.score.formula import Claim

DAY = 86_400_000_000
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in µs
GRADES = "ABCDEF"

kinds = st.sampled_from(list(T))
grades = st.sampled_from(list(GRADES))
confidences = st.integers(min_value=0, max_value=100)
moments = st.integers(min_value=T0 - 400 * DAY, max_value=T0 + 400 * DAY)
ages = st.integers(min_value=0, max_value=3_000 * DAY)
sightings = st.integers(min_value=0, max_value=1_000)


@st.composite
def claims(draw: st.DrawFn) -> Claim:
    ends = draw(st.one_of(st.none(), moments))
    return Claim(draw(grades), draw(confidences), draw(moments), ends)


claim_lists = st.lists(claims(), min_size=1, max_size=5)


# -- properties --------------------------------------------------------------


@given(claim_lists, kinds, moments, sightings)
def test_score_bounded(items: list[Claim], kind: T, at: int, seen: int) -> None:
    value = formula.score(items, kind, at, seen)
    assert 0.0 <= value <= 1.0
    assert 0 <= formula.confidence(items, kind, at, seen) <= 100


@given(claim_lists, kinds, moments, ages, sightings)
def test_score_never_rises_with_age(
    items: list[Claim], kind: T, at: int, later: int, seen: int
) -> None:
    before = formula.score(items, kind, at, seen)
    after = formula.score(items, kind, at + later, seen)
    assert after <= before


@given(claim_lists, claims(), kinds, moments, sightings)
def test_another_source_never_lowers(
    items: list[Claim], extra: Claim, kind: T, at: int, seen: int
) -> None:
    alone = formula.score(items, kind, at, seen)
    together = formula.score([*items, extra], kind, at, seen)
    assert together >= alone


@given(claim_lists, kinds, moments, sightings, st.integers(1, 100))
def test_sightings_never_lower(
    items: list[Claim], kind: T, at: int, seen: int, more: int
) -> None:
    assert formula.score(items, kind, at, seen + more) >= formula.score(
        items, kind, at, seen
    )


@given(st.integers(1, 100), kinds, ages, sightings)
def test_reliability_order(stated: int, kind: T, age: int, seen: int) -> None:
    scores = [
        formula.score([Claim(grade, stated, T0)], kind, T0 + age, seen)
        for grade in GRADES
    ]
    assume(scores[-1] > 0.0)  # an age of many half-lives underflows to 0
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(GRADES)


@given(claim_lists, kinds, sightings)
def test_valid_until_is_first_time_below(
    items: list[Claim], kind: T, seen: int
) -> None:
    limit = formula.PUBLISH_THRESHOLD / 100
    start = min(claim.basis for claim in items)
    until = formula.valid_until(items, kind, seen)
    assert formula.score(items, kind, until, seen) <= limit
    if until > start:
        assert formula.score(items, kind, until - 1, seen) > limit


@given(st.text(max_size=3))
def test_unknown_grade_weighs_as_f(grade: str) -> None:
    assume(grade.strip().upper() not in GRADES)
    assert formula.reliability_weight(grade) == formula.RELIABILITY_WEIGHTS["F"]


# -- the numbers in docs/scoring.md ------------------------------------------


def test_default_source_numbers() -> None:
    # A new source is graded C and states confidence 50.
    claim = Claim("C", 50, T0)
    assert formula.confidence([claim], T.IPV4, T0) == 40
    assert formula.confidence([claim], T.IPV4, T0 + 7 * DAY) == 20
    assert formula.confidence([claim], T.IPV4, T0 + 14 * DAY) == 10
    assert formula.valid_until([claim], T.IPV4) == T0 + 7 * DAY


@pytest.mark.parametrize(
    ("kind", "days"),
    [
        (T.IPV4, 7),
        (T.IPV6, 7),
        (T.CIDR, 14),
        (T.URL, 10),
        (T.DOMAIN, 21),
        (T.EMAIL, 30),
        (T.FILENAME, 60),
        (T.MD5, 180),
        (T.SHA1, 180),
        (T.SHA256, 180),
        (T.SHA512, 180),
    ],
)
def test_half_lives(kind: T, days: int) -> None:
    claim = Claim("A", 100, T0)
    assert formula.half_life(kind) == days * DAY
    assert formula.score([claim], kind, T0 + days * DAY) == pytest.approx(0.5)
    # Grade A at 100 halves twice to 25, and falls below 20 after
    # log2(100 / 20) half-lives.
    until = formula.valid_until([claim], kind)
    assert until == pytest.approx(T0 + math.log2(5) * days * DAY, abs=1)


def test_two_sources_example() -> None:
    # docs/scoring.md: C at 50 read on day 0, then A at 90 on day 7.
    first = Claim("C", 50, T0)
    second = Claim("A", 90, T0 + 7 * DAY)
    assert formula.confidence([first], T.IPV4, T0 + 7 * DAY) == 20
    assert formula.confidence([first, second], T.IPV4, T0 + 7 * DAY) == 92
    # Day 21: 1 - (1 - 0.05)(1 - 0.225)
    assert formula.confidence([first, second], T.IPV4, T0 + 21 * DAY) == 26
    until = formula.valid_until([first, second], T.IPV4)
    assert T0 + 23.9 * DAY < until < T0 + 23.91 * DAY


def test_sightings_example() -> None:
    claim = Claim("C", 50, T0)
    assert formula.sightings_exponent(0) == 1.0
    assert formula.sightings_exponent(15) == 2.0
    assert formula.sightings_exponent(1_000) == 2.0
    # One value listed four times by one source: three sightings.
    # 1 - (1 - 0.4) ** 1.5
    assert formula.confidence([claim], T.IPV4, T0, sightings=3) == 54


def test_stated_end_holds_then_drops() -> None:
    claim = Claim("C", 50, T0, ends=T0 + 100 * DAY)
    assert formula.confidence([claim], T.IPV4, T0 + 99 * DAY) == 40
    assert formula.confidence([claim], T.IPV4, T0 + 100 * DAY) == 0
    assert formula.valid_until([claim], T.IPV4) == T0 + 100 * DAY


def test_below_threshold_from_start() -> None:
    claim = Claim("F", 40, T0)  # 0.4 * 0.4 = 0.16
    assert formula.confidence([claim], T.IPV4, T0) == 16
    assert formula.valid_until([claim], T.IPV4) == T0


def test_valid_until_needs_claims() -> None:
    with pytest.raises(ValueError, match="at least one claim"):
        formula.valid_until([], T.IPV4)
