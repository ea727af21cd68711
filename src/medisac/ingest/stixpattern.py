"""Values from STIX 2.0 and 2.1 indicator patterns.

A pattern is parsed with the OASIS grammar (``stix2patterns``, through the
``stix2`` pattern visitor, which keeps the AND/OR structure). Each equality
comparison ``[type:path = 'v']`` and each member of ``IN (...)`` on a
supported path gives one value; comparisons joined by OR give one value each.
Inside one AND group, a ``file:name`` gives the file name as context to the
group's hashes (and a value of its own), and one ``network-traffic`` port
gives its address the port as context. Qualifiers (``WITHIN``, ``REPEATS``)
and observation operators (``FOLLOWEDBY``) do not change the values.

Other comparisons (``MATCHES``, ``LIKE``, ``!=``, ``>``) and paths of other
object types are reported back as skipped kinds, never as errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import stix2.patterns as sp
from stix2.exceptions import STIXError
from stix2.pattern_visitor import create_pattern_object
from stix2patterns.exceptions import ParseException

# Longer patterns are rejected; the ANTLR parser is slow on megabytes of
# text, and no indicator needs that much.
MAX_PATTERN_CHARS = 256 * 1024
# An AND of ORs multiplies out; a pattern past this many groups is read
# comparison by comparison instead.
_MAX_GROUPS = 256

HASH_TYPES = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}

_ESCAPE = re.compile(r"\\(['\\])")


class PatternError(ValueError):
    """A pattern that cannot be parsed, with the position in the message."""


@dataclass(frozen=True, slots=True)
class PatternValue:
    """One value a pattern names, with its declared type and context."""

    value: str
    type: str | None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PatternValues:
    """Everything read from one pattern."""

    values: list[PatternValue] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Comparison:
    object_type: str
    path: str
    operator: str
    values: tuple[Any, ...]


def values_in_pattern(pattern: str, spec_version: str) -> PatternValues:
    """Return the values and skipped kinds of a STIX pattern.

    ``spec_version`` is ``2.0`` or ``2.1`` and picks the grammar. Raises
    :class:`PatternError` when the pattern does not parse.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(
            f"pattern is {len(pattern):,} characters long, over the limit"
        )
    try:
        tree = create_pattern_object(pattern, version=spec_version)
    except ParseException as exc:
        raise PatternError(f"invalid STIX {spec_version} pattern: {exc}") from exc
    except (STIXError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise PatternError(f"pattern cannot be read: {exc}") from exc
    result = PatternValues()
    seen: set[tuple[str, str | None]] = set()
    for group in _groups_of_observations(tree):
        for value in _group_values(group, result.skipped):
            key = (value.value, value.type)
            if key not in seen:
                seen.add(key)
                result.values.append(value)
    return result


def _groups_of_observations(node: Any) -> list[list[_Comparison]]:
    """Return the AND groups of every observation expression in the pattern."""
    if isinstance(node, sp.ObservationExpression):
        return _groups(node.operand)
    if isinstance(node, sp.QualifiedObservationExpression):
        return _groups_of_observations(node.observation_expression)
    if isinstance(node, sp.ParentheticalExpression):
        return _groups_of_observations(node.expression)
    if isinstance(node, sp._CompoundObservationExpression):
        groups: list[list[_Comparison]] = []
        for operand in node.operands:
            groups.extend(_groups_of_observations(operand))
        return groups
    return []


def _groups(node: Any) -> list[list[_Comparison]]:
    """Return the comparisons of a boolean expression as OR-ed AND groups."""
    if isinstance(node, sp.ParentheticalExpression):
        return _groups(node.expression)
    if isinstance(node, sp.OrBooleanExpression):
        groups: list[list[_Comparison]] = []
        for operand in node.operands:
            groups.extend(_groups(operand))
        return groups
    if isinstance(node, sp.AndBooleanExpression):
        combined: list[list[_Comparison]] = [[]]
        for operand in node.operands:
            parts = _groups(operand)
            if len(combined) * len(parts) > _MAX_GROUPS:
                return [[comparison] for comparison in _comparisons(node)]
            combined = [left + right for left in combined for right in parts]
        return combined
    comparison = _comparison(node)
    return [[comparison]] if comparison is not None else []


def _comparisons(node: Any) -> list[_Comparison]:
    """Return every comparison under a boolean expression, ignoring structure."""
    if isinstance(node, sp.ParentheticalExpression):
        return _comparisons(node.expression)
    if isinstance(node, sp._BooleanExpression):
        return [found for operand in node.operands for found in _comparisons(operand)]
    comparison = _comparison(node)
    return [comparison] if comparison is not None else []


def _comparison(node: Any) -> _Comparison | None:
    if not isinstance(node, sp._ComparisonExpression):
        return None
    lhs = node.lhs
    names = [str(getattr(part, "property_name", "")) for part in lhs.property_path]
    operator = ("NOT " if node.negated else "") + str(node.operator)
    rhs = node.rhs
    if isinstance(rhs, sp.ListConstant):
        values = tuple(_constant(item) for item in rhs.value)
    else:
        values = (_constant(rhs),)
    return _Comparison(str(lhs.object_type_name), ".".join(names), operator, values)


def _constant(node: Any) -> Any:
    value = getattr(node, "value", node)
    if isinstance(node, sp.StringConstant) and isinstance(value, str):
        # The visitor keeps the pattern's escapes; STIX escapes only ' and \.
        return _ESCAPE.sub(r"\1", value)
    return value


def _group_values(group: list[_Comparison], skipped: list[str]) -> list[PatternValue]:
    names = [
        str(value)
        for c in group
        if c.object_type == "file" and c.path == "name" and c.operator in ("=", "IN")
        for value in c.values
    ]
    ports = [
        value
        for c in group
        if c.object_type == "network-traffic" and c.path in ("dst_port", "src_port")
        for value in c.values
        if c.operator == "=" and isinstance(value, int)
    ]
    file_context = {"filename": names[0]} if len(names) == 1 else {}
    port_context = {"port": ports[0]} if len(ports) == 1 else {}
    values: list[PatternValue] = []
    for comparison in group:
        kind = _kind(comparison)
        if kind is None:
            continue
        if kind.startswith("pattern:"):
            skipped.append(kind)
            continue
        for value in comparison.values:
            if not isinstance(value, str):
                skipped.append(f"pattern:{comparison.object_type}:{comparison.path}")
                continue
            declared = _declared(kind, value)
            context: dict[str, Any] = {}
            if declared in HASH_TYPES.values():
                context = dict(file_context)
            elif comparison.object_type == "network-traffic":
                context = dict(port_context)
            values.append(PatternValue(value, declared, context))
    return values


def _kind(c: _Comparison) -> str | None:
    """Return the value kind of a comparison, ``pattern:...`` to skip, or None.

    None marks a comparison that only qualifies others in its group (an
    address's type, a port), so it is neither a value nor skipped.
    """
    if c.operator not in ("=", "IN"):
        return f"pattern:{c.operator}"
    if c.object_type == "network-traffic":
        if c.path in ("dst_ref.value", "src_ref.value"):
            return "address"
        if c.path in ("dst_ref.type", "src_ref.type", "dst_port", "src_port"):
            return None
        return f"pattern:network-traffic:{c.path}"
    if c.object_type == "file":
        return _file_kind(c.path)
    kind = _PATHS.get((c.object_type, c.path))
    if kind is not None:
        return kind
    if c.object_type in _SUPPORTED_TYPES:
        return f"pattern:{c.object_type}:{c.path}"
    return f"pattern:{c.object_type}"


def _file_kind(path: str) -> str:
    if path == "name":
        return "filename"
    head, _, name = path.partition(".")
    if head == "hashes":
        key = name.strip("'\"").upper().replace("-", "").replace("_", "")
        if key in HASH_TYPES:
            return HASH_TYPES[key]
    return f"pattern:file:{path}"


def _declared(kind: str, value: str) -> str | None:
    if kind in ("ipv4", "ipv6"):
        return "cidr" if "/" in value else kind
    if kind == "address":
        return None
    return kind


_PATHS = {
    ("ipv4-addr", "value"): "ipv4",
    ("ipv6-addr", "value"): "ipv6",
    ("domain-name", "value"): "domain",
    ("url", "value"): "url",
    ("email-addr", "value"): "email",
    ("email-message", "from_ref.value"): "email",
    ("email-message", "sender_ref.value"): "email",
}
_SUPPORTED_TYPES = frozenset(
    {"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "email-message"}
)
