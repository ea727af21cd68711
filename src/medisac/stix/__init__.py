"""STIX 2.1 rendering: indicator objects, patterns and the static objects."""

from medisac.stix.patterns import pattern_for, quote_literal, unquote_literal
from medisac.stix.render import INDICATOR_NAMESPACE, render_indicator, stix_id_for
from medisac.stix.static import (
    IDENTITY,
    IDENTITY_ID,
    STATIC_IDS,
    STATIC_OBJECTS,
    TLP2_EXTENSION_ID,
    TLP2_MARKINGS,
)
from medisac.stix.view import IndicatorView, SourceClaim

__all__ = [
    "IDENTITY",
    "IDENTITY_ID",
    "INDICATOR_NAMESPACE",
    "STATIC_IDS",
    "STATIC_OBJECTS",
    "TLP2_EXTENSION_ID",
    "TLP2_MARKINGS",
    "IndicatorView",
    "SourceClaim",
    "pattern_for",
    "quote_literal",
    "render_indicator",
    "stix_id_for",
    "unquote_literal",
]
