"""The result of normalisation: one canonical indicator value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from medisac.model.types import IndicatorType

EMPTY_CONTEXT: Mapping[str, Any] = MappingProxyType({})


def _empty_context() -> Mapping[str, Any]:
    return EMPTY_CONTEXT


@dataclass(frozen=True, slots=True)
class Value:
    """One canonical indicator value.

    ``context`` contains the parts split off a composite, such as ``{"port": 443}``
    or ``{"filename": "x.exe"}``. It takes part in equality but not in the hash,
    because a context mapping is not hashable and the record key is
    ``(type, value)`` alone.
    """

    type: IndicatorType
    value: str
    context: Mapping[str, Any] = field(default_factory=_empty_context, hash=False)


def with_context(value: Value, **context: Any) -> Value:
    """Return a copy of ``value`` whose context is the given keywords."""
    return Value(value.type, value.value, MappingProxyType(dict(context)))
