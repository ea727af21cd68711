"""Assertion helpers shared by the normalisation tests."""

from __future__ import annotations

import pytest

from medisac.errors import NormalizationError
from medisac.normalize import Value, normalize


def only(raw: str, declared: str | None = None) -> Value:
    """Normalise ``raw`` and return its single Value, failing on several."""
    values = normalize(raw, declared)
    assert len(values) == 1, values
    return values[0]


def reason(raw: str, declared: str | None = None) -> str:
    """Return the rejection reason for ``raw``, failing if it is accepted."""
    with pytest.raises(NormalizationError) as caught:
        normalize(raw, declared)
    assert caught.value.value == raw
    return caught.value.reason
