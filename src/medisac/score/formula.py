"""The confidence formula and the time it falls below the publish threshold.

Every function here is pure: the clock is an argument (``at``, µs since the
epoch), so a test can evaluate any moment. ``docs/scoring.md`` explains the
formula and the choice of each constant.

Each source's claim on a value is a probability-like strength in [0, 1]::

    strength = weight(reliability) * stated_confidence / 100 * 2 ** (-age / half_life)

Claims from independent sources combine as independent evidence (a noisy
OR), and repeated observations raise the result by an exponent::

    corroborated = 1 - product(1 - strength)
    score = 1 - (1 - corroborated) ** (1 + min(log2(1 + sightings) / 4, 1))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from medisac.model import IndicatorType
from medisac.model.types import HASH_TYPES

_DAY = 86_400 * 1_000_000

# Weight of a source's stated confidence by its Admiralty reliability grade.
# F ("reliability cannot be judged") ranks last, because medisac has no
# record by which to trust such a source until an analyst grades it.
RELIABILITY_WEIGHTS: dict[str, float] = {
    "A": 1.0,
    "B": 0.9,
    "C": 0.8,
    "D": 0.65,
    "E": 0.5,
    "F": 0.4,
}

# Half-life of a claim's strength by indicator type, in µs.
HALF_LIVES: dict[IndicatorType, int] = {
    IndicatorType.IPV4: 7 * _DAY,
    IndicatorType.IPV6: 7 * _DAY,
    IndicatorType.CIDR: 14 * _DAY,
    IndicatorType.URL: 10 * _DAY,
    IndicatorType.DOMAIN: 21 * _DAY,
    IndicatorType.EMAIL: 30 * _DAY,
    IndicatorType.FILENAME: 60 * _DAY,
    **{kind: 180 * _DAY for kind in HASH_TYPES},
}

# An indicator is published while its score (on the 0-100 scale) is above
# this, and expires once it falls to it.
PUBLISH_THRESHOLD = 20

# Sightings needed for the largest raise, which squares the evidence
# against the value: 1 + log2(1 + 15) / 4 = 2.
_SIGHTINGS_DIVISOR = 4.0
_MAX_SIGHTINGS_EXPONENT = 2.0


# Half-width (µs) of the interval around the closed-form crossing time that
# is bisected to find the exact first µs.
_SETTLE_US = 64


@dataclass(frozen=True, slots=True)
class Claim:
    """One source's claim on a value, as the formula reads it.

    ``basis`` is the time (µs) from which the claim ages. ``ends`` is a
    validity end the source stated (STIX ``valid_until``): such a claim
    does not decay, because the source set its lifetime, and counts for
    nothing from that time on.
    """

    reliability: str
    confidence: int
    basis: int
    ends: int | None = None


def reliability_weight(grade: str) -> float:
    """Return the weight of an Admiralty grade; an unknown grade weighs as F."""
    return RELIABILITY_WEIGHTS.get(grade.strip().upper(), RELIABILITY_WEIGHTS["F"])


def half_life(kind: IndicatorType) -> int:
    """Return the half-life of a claim on a value of this type, in µs."""
    return HALF_LIVES[kind]


def initial_strength(claim: Claim) -> float:
    """Return a claim's strength before any decay, in [0, 1]."""
    stated = min(max(claim.confidence, 0), 100) / 100
    return reliability_weight(claim.reliability) * stated


def strength(claim: Claim, kind: IndicatorType, at: int) -> float:
    """Return a claim's strength at ``at`` (µs), in [0, 1]."""
    if claim.ends is not None:
        return initial_strength(claim) if at < claim.ends else 0.0
    age = max(at - claim.basis, 0)
    decay: float = 0.5 ** (age / half_life(kind))
    return initial_strength(claim) * decay


def sightings_exponent(sightings: int) -> float:
    """Return the exponent by which ``sightings`` raise the combined evidence."""
    raise_by = math.log2(1 + max(sightings, 0)) / _SIGHTINGS_DIVISOR
    return 1.0 + min(raise_by, _MAX_SIGHTINGS_EXPONENT - 1.0)


def score(
    claims: Sequence[Claim], kind: IndicatorType, at: int, sightings: int = 0
) -> float:
    """Return the combined score of ``claims`` at ``at`` (µs), in [0, 1].

    Each claim is one independent source. ``sightings`` counts observations
    beyond the first of each claim.
    """
    # log(1 - score) = exponent * sum(log(1 - strength)), written with log1p
    # and expm1 so that weak claims keep their precision.
    log_against = 0.0
    for claim in claims:
        part = strength(claim, kind, at)
        if part >= 1.0:
            return 1.0
        log_against += math.log1p(-part)
    return -math.expm1(log_against * sightings_exponent(sightings))


def confidence(
    claims: Sequence[Claim], kind: IndicatorType, at: int, sightings: int = 0
) -> int:
    """Return the score at ``at`` as a STIX confidence, 0 to 100 (half up)."""
    return min(math.floor(100 * score(claims, kind, at, sightings) + 0.5), 100)


def valid_until(
    claims: Sequence[Claim],
    kind: IndicatorType,
    sightings: int = 0,
    threshold: int = PUBLISH_THRESHOLD,
) -> int:
    """Return the first time (µs) at which the score is at or below ``threshold``.

    The search starts at the earliest claim's basis, so a value whose score
    starts at or below the threshold gets that time. Raises ``ValueError``
    for no claims, since nothing then dates the value, and when the score
    never falls that low (a threshold below 0).
    """
    if not claims:
        raise ValueError("valid_until needs at least one claim")
    limit = threshold / 100

    def below(at: int) -> bool:
        return score(claims, kind, at, sightings) <= limit

    start = min(claim.basis for claim in claims)
    if below(start):
        return start
    # A stated end drops the score at an exact time. Between ends, the score
    # decays smoothly, or stays the same when no claim decays.
    ends = sorted({c.ends for c in claims if c.ends is not None and c.ends > start})
    low = start
    for end in ends:
        if below(end - 1):
            return _first_below(below, low, end - 1, claims, kind, sightings, limit)
        if below(end):
            return end
        low = end
    decaying = [c for c in claims if c.ends is None]
    if not decaying:
        # Every claim has ended, so the score is 0 and still not low enough.
        # Only a negative threshold does that.
        raise ValueError(f"score never falls below threshold {threshold}")
    high = max(c.basis for c in decaying) + 64 * half_life(kind)
    return _first_below(below, low, high, claims, kind, sightings, limit)


def _first_below(
    below: Callable[[int], bool],
    low: int,
    high: int,
    claims: Sequence[Claim],
    kind: IndicatorType,
    sightings: int,
    limit: float,
) -> int:
    """Return the first µs in (low, high] at which ``below`` holds.

    ``below(low)`` is false and ``below(high)`` is true. The interval is
    bisected. With one live decaying claim, a closed form first narrows it
    to a few µs, because it is exact up to floating-point rounding.
    """
    live = [c for c in claims if c.ends is None or c.ends > low]
    if len(live) == 1 and live[0].ends is None:
        guess = _single_crossing(live[0], kind, sightings, limit)
        if guess is not None:
            near_low = max(low, guess - _SETTLE_US)
            near_high = min(high, guess + _SETTLE_US)
            if not below(near_low) and below(near_high):
                low, high = near_low, near_high
    while high - low > 1:
        middle = (low + high) // 2
        if below(middle):
            high = middle
        else:
            low = middle
    return high


def _single_crossing(
    claim: Claim, kind: IndicatorType, sightings: int, limit: float
) -> int | None:
    """Return about when one decaying claim's score reaches ``limit``."""
    # score <= limit  <=>  strength <= 1 - (1 - limit) ** (1 / exponent)
    needed = -math.expm1(math.log1p(-limit) / sightings_exponent(sightings))
    start = initial_strength(claim)
    if needed <= 0 or start <= needed:
        return None
    return claim.basis + math.ceil(half_life(kind) * math.log2(start / needed))
