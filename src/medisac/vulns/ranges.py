"""Version ranges from CSAF, CVE JSON 5, CPE and free-form advisory text.

A :class:`VersionRange` is a union of intervals, each with an optional lower
and upper bound, less a set of excluded versions. It is read from:

- ``vers:`` ranges (``vers:generic/>=1.0|<2.0``, ``vers:all/*``), the form
  CSAF ``product_version_range`` branches should use. As the vers
  specification requires, constraints come in ascending order and pair up: a
  lower bound followed by an upper bound is one interval.
- the looser form CISA's advisories use in the same place: the same
  constraints without the ``vers:`` prefix and with spaces
  (``>= 1.0.0  | <= 1.3.1``, ``A10 | A11``, ``<= 1.54 (integrated into ...)``),
  trailing wildcards (``<= 12.2.x.x``) and phrases (``prior to 1.52``,
  ``1.11 and earlier``, ``2.0 and later``, ``all versions``).
- the structured bounds of CVE JSON 5 ``versions`` entries and CPE ranges.

Anything else raises :class:`RangeError` with the reason. Callers keep the
text as written and report the range as unparsed; they never guess it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from urllib.parse import unquote

from medisac.vulns.versions import Version, VersionError, compare, parse_version

__all__ = [
    "ALL_VERSIONS",
    "Bound",
    "Interval",
    "RangeError",
    "VersionRange",
    "parse_range",
    "range_from_bounds",
]


class RangeError(ValueError):
    """A text is not a version range that can be read without guessing."""


@dataclass(frozen=True, slots=True)
class Bound:
    """One end of an interval."""

    version: Version
    inclusive: bool


def _check_lower(version: Version, bound: Bound | None) -> bool | None:
    if bound is None:
        return True
    order = compare(version, bound.version)
    if order is None:
        return None
    return order > 0 or (order == 0 and bound.inclusive)


def _check_upper(version: Version, bound: Bound | None) -> bool | None:
    if bound is None:
        return True
    order = compare(version, bound.version)
    if order is None:
        return None
    return order < 0 or (order == 0 and bound.inclusive)


def _combine(results: list[bool | None]) -> bool | None:
    """Combine checks that must all hold: False wins over None, None over True."""
    if False in results:
        return False
    if None in results:
        return None
    return True


@dataclass(frozen=True, slots=True)
class Interval:
    """Versions between ``lower`` and ``upper``; a missing bound is open."""

    lower: Bound | None = None
    upper: Bound | None = None

    def contains(self, version: Version) -> bool | None:
        """Tell whether ``version`` is inside; None when it cannot be ordered."""
        if self.is_point and self.lower is not None:
            # Versions that cannot be ordered still differ, so equality is known.
            return compare(version, self.lower.version) == 0
        return _combine(
            [_check_lower(version, self.lower), _check_upper(version, self.upper)]
        )

    @property
    def is_point(self) -> bool:
        """True for a single version (both bounds inclusive and equal)."""
        return (
            self.lower is not None
            and self.upper is not None
            and self.lower.inclusive
            and self.upper.inclusive
            and self.lower.version.text == self.upper.version.text
        )

    def constraints(self) -> list[str]:
        """Return the vers constraints of this interval."""
        if self.is_point:
            assert self.lower is not None
            return [self.lower.version.text]
        parts = []
        if self.lower is not None:
            parts.append(
                (">=" if self.lower.inclusive else ">") + self.lower.version.text
            )
        if self.upper is not None:
            parts.append(
                ("<=" if self.upper.inclusive else "<") + self.upper.version.text
            )
        return parts or ["*"]


@dataclass(frozen=True, slots=True)
class VersionRange:
    """A union of intervals less some excluded versions."""

    intervals: tuple[Interval, ...]
    excluded: tuple[Version, ...] = ()

    @property
    def is_all(self) -> bool:
        """True when every version is inside."""
        return not self.excluded and any(
            iv.lower is None and iv.upper is None for iv in self.intervals
        )

    def contains(self, version: Version) -> bool | None:
        """Tell whether ``version`` is inside.

        Returns None when the result depends on a comparison that
        :func:`medisac.vulns.versions.compare` cannot make.
        """
        for excluded in self.excluded:
            if compare(version, excluded) == 0:
                return False
        results = [interval.contains(version) for interval in self.intervals]
        if True in results:
            return True
        if None in results:
            return None
        return False

    def canonical(self) -> str:
        """Return the range as vers constraints joined by ``|`` (``*`` for all)."""
        if self.is_all:
            return "*"
        parts = [part for iv in self.intervals for part in iv.constraints()]
        parts += [f"!={version.text}" for version in self.excluded]
        return "|".join(parts)

    def __str__(self) -> str:
        return self.canonical()


ALL_VERSIONS = VersionRange((Interval(),))

_OPERATOR = re.compile(r"^\s*(<=|>=|!=|==|<|>|=)?\s*(.*?)\s*$", re.S)
# Trailing ".x" components: "11.x", "12.2.x.x", "3.X".
_WILDCARD = re.compile(r"^(?P<prefix>.*?\d)(?:\s*\.\s*[xX*])+$")
_ALL_TEXT = re.compile(
    r"^(?:\*|all|any|all\s+versions?|any\s+versions?|every\s+version|"
    r"all\s+(?:current\s+|released\s+)?versions?)$",
    re.IGNORECASE,
)
_VERSIONS_WORD = r"(?:all\s+)?(?:(?:software|firmware)\s+)?(?:versions?\s+)?"
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            rf"^{_VERSIONS_WORD}(?:prior\s+to|before|earlier\s+than|older\s+than|"
            r"lower\s+than|below)\s+(?:versions?\s+)?(?P<v>.+)$",
            re.IGNORECASE,
        ),
        "<",
    ),
    (
        re.compile(
            rf"^{_VERSIONS_WORD}up\s+to\s+and\s+including\s+(?:versions?\s+)?(?P<v>.+)$",
            re.IGNORECASE,
        ),
        "<=",
    ),
    (
        re.compile(
            rf"^{_VERSIONS_WORD}(?P<v>.+?)\s+(?:and|or)\s+"
            r"(?:later|above|newer|higher|greater|after)$",
            re.IGNORECASE,
        ),
        ">=",
    ),
    (
        re.compile(
            rf"^{_VERSIONS_WORD}(?P<v>.+?)\s+(?:and|or)\s+"
            r"(?:prior|earlier|before|below|lower|older)$",
            re.IGNORECASE,
        ),
        "<=",
    ),
    (re.compile(r"^(?P<v>[^+\s][^+]*?)\s*\+$"), ">="),
)
_BETWEEN = re.compile(
    rf"^{_VERSIONS_WORD}(?:from\s+)?(?P<a>\S+)\s+(?:through|thru|-|–)\s+(?P<b>\S+)$",
    re.IGNORECASE,
)
_NOTE = re.compile(r"^(?P<body>.*?\S)\s*\((?P<note>[^()]*)\)\s*$", re.S)


def parse_range(text: str) -> VersionRange:
    """Parse a range as advisories write it; see the module documentation.

    Raises :class:`RangeError` naming what could not be read.
    """
    raw = text.strip()
    if not raw:
        raise RangeError("empty version range")
    if raw.lower().startswith("vers:"):
        return _parse_vers(raw)
    body = _strip_note(raw)
    if _ALL_TEXT.match(body):
        return ALL_VERSIONS
    between = _BETWEEN.match(body)
    if between and not any(op in body for op in "<>=|"):
        low = Bound(_version(between["a"], raw), True)
        high = Bound(_version(between["b"], raw), True)
        _ordered([(">=", low), ("<=", high)], raw)
        return VersionRange((Interval(low, high),))
    for pattern, operator in _PHRASES:
        match = pattern.match(body)
        if match and not any(op in match["v"] for op in "<>=|"):
            return _parse_constraints([f"{operator}{match['v']}"], raw)
    return _parse_constraints(body.split("|"), raw)


def range_from_bounds(
    *,
    start_including: str | None = None,
    start_excluding: str | None = None,
    end_including: str | None = None,
    end_excluding: str | None = None,
) -> VersionRange:
    """Build a range from CPE-style bounds (NVD ``versionStartIncluding`` ...).

    Raises :class:`RangeError` when a bound is not a version or the lower
    bound is above the upper one.
    """
    lower = upper = None
    if start_including:
        lower = Bound(_version(start_including, start_including), True)
    elif start_excluding:
        lower = Bound(_version(start_excluding, start_excluding), False)
    if end_including:
        upper = Bound(_version(end_including, end_including), True)
    elif end_excluding:
        upper = Bound(_version(end_excluding, end_excluding), False)
    if lower is not None and upper is not None:
        order = compare(lower.version, upper.version)
        if order is None or order > 0:
            raise RangeError(
                f"lower bound {lower.version.text!r} is not below upper bound "
                f"{upper.version.text!r}"
            )
    return VersionRange((Interval(lower, upper),))


def _strip_note(text: str) -> str:
    """Drop a trailing remark in brackets unless it constrains the version."""
    match = _NOTE.match(text)
    if match is None:
        return text
    note = match["note"].strip().lower()
    if any(char in note for char in "<>=|") or note.startswith(("with", "only")):
        return text
    return match["body"]


def _parse_vers(text: str) -> VersionRange:
    scheme, slash, constraints = text[5:].partition("/")
    if not slash or not scheme:
        raise RangeError(
            f"invalid vers range {text!r}: expected vers:<scheme>/<constraints>"
        )
    constraints = unquote(constraints).strip()
    if constraints == "*":
        return ALL_VERSIONS
    if scheme.lower() == "all":
        raise RangeError(f"invalid vers range {text!r}: vers:all takes only '*'")
    return _parse_constraints(constraints.split("|"), text)


def _version(text: str, whole: str) -> Version:
    try:
        return parse_version(text)
    except VersionError as exc:
        raise RangeError(f"cannot read version range {whole!r}: {exc}") from None


def _bump(prefix: str, whole: str) -> Version:
    """Return the version after every ``prefix.*``: ``12.2`` gives ``12.3``."""
    numbers = list(re.finditer(r"\d+", prefix))
    last = numbers[-1]
    bumped = prefix[: last.start()] + str(int(last.group()) + 1)
    return _version(bumped, whole)


def _constraint(part: str, whole: str) -> list[tuple[str, Bound]]:
    """Turn one constraint into (operator, bound) pairs, expanding wildcards."""
    match = _OPERATOR.match(part)
    assert match is not None
    operator = match[1] or "="
    operator = "=" if operator == "==" else operator
    value = match[2]
    if not value:
        raise RangeError(
            f"cannot read version range {whole!r}: a constraint has no version"
        )
    wildcard = _WILDCARD.match(value)
    if wildcard is None:
        return [(operator, Bound(_version(value, whole), True))]
    start = _version(wildcard["prefix"], whole)
    after = _bump(wildcard["prefix"], whole)
    expanded = {
        "<=": [("<", Bound(after, False))],
        "<": [("<", Bound(start, False))],
        ">=": [(">=", Bound(start, True))],
        ">": [(">=", Bound(after, True))],
        "=": [(">=", Bound(start, True)), ("<", Bound(after, False))],
    }
    if operator not in expanded:
        raise RangeError(f"cannot read version range {whole!r}: '!=' with a wildcard")
    return expanded[operator]


def _ordered(pairs: list[tuple[str, Bound]], whole: str) -> None:
    """Raise :class:`RangeError` unless the versions of ``pairs`` ascend."""
    for (_, first), (_, second) in pairwise(pairs):
        order = compare(first.version, second.version)
        if order is None:
            raise RangeError(
                f"cannot read version range {whole!r}: versions "
                f"{first.version.text!r} and {second.version.text!r} cannot be ordered"
            )
        if order > 0:
            raise RangeError(
                f"cannot read version range {whole!r}: constraints are not in "
                "ascending order"
            )


def _parse_constraints(parts: list[str], whole: str) -> VersionRange:
    pairs: list[tuple[str, Bound]] = []
    for part in parts:
        if not part.strip():
            raise RangeError(f"cannot read version range {whole!r}: empty constraint")
        if part.strip() == "*":
            if len(parts) > 1:
                raise RangeError(
                    f"cannot read version range {whole!r}: '*' must stand alone"
                )
            return ALL_VERSIONS
        pairs.extend(_constraint(part, whole))
    excluded = tuple(bound.version for op, bound in pairs if op == "!=")
    ranged = [(op, bound) for op, bound in pairs if op != "!="]
    if any(op != "=" for op, _ in ranged):
        # A list of single versions ("B.02 | C.02") needs no order; bounds do.
        _ordered(ranged, whole)
    intervals: list[Interval] = []
    pending: Bound | None = None
    for index, (operator, bound) in enumerate(ranged):
        if operator == "=":
            if pending is not None:
                raise RangeError(
                    f"cannot read version range {whole!r}: a single version inside "
                    "an open lower bound"
                )
            exact = Bound(bound.version, True)
            intervals.append(Interval(exact, exact))
        elif operator in (">", ">="):
            if pending is not None:
                raise RangeError(
                    f"cannot read version range {whole!r}: two lower bounds in a row"
                )
            pending = Bound(bound.version, operator == ">=")
        else:
            if pending is None and index > 0:
                raise RangeError(
                    f"cannot read version range {whole!r}: an upper bound without a "
                    "lower bound after other constraints"
                )
            intervals.append(Interval(pending, Bound(bound.version, operator == "<=")))
            pending = None
    if pending is not None:
        intervals.append(Interval(pending, None))
    if not intervals:
        # Only exclusions: every version but those.
        intervals.append(Interval())
    return VersionRange(tuple(intervals), excluded)
