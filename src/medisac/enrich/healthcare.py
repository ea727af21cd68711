"""Healthcare relevance from the tags and context that sources attach."""

from __future__ import annotations

from collections.abc import Iterable

# Words that, inside a tag, mark the indicator as aimed at healthcare. They
# cover MISP sector taxonomies ("sector:Health"), STIX identity sectors
# ("healthcare") and free-text tags that feeds use.
_HEALTHCARE_WORDS = (
    "healthcare",
    "health-care",
    "health care",
    "sector:health",
    'sector="health',
    "hospital",
    "medical",
    "pharma",
    "hipaa",
    "hph",
)


def is_healthcare(tags: Iterable[str]) -> bool:
    """Tell whether any tag marks the indicator as relevant to healthcare."""
    return any(word in tag.lower() for tag in tags for word in _HEALTHCARE_WORDS)
