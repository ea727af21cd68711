"""The nouns medisac works with, named as STIX 2.1 and TLP 2.0 name them."""

from medisac.model.observation import (
    Observation,
    ParseItem,
    ParseWarning,
    Rejection,
    Skipped,
)
from medisac.model.tlp import TLP
from medisac.model.types import IndicatorType, State

__all__ = [
    "TLP",
    "IndicatorType",
    "Observation",
    "ParseItem",
    "ParseWarning",
    "Rejection",
    "Skipped",
    "State",
]
