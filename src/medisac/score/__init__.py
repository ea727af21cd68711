"""Scoring: confidence from reliability, corroboration, sightings and age.

:mod:`medisac.score.formula` contains the formula as pure functions with the
clock passed in; :func:`expire_due` publishes the versions that expire
indicators whose ``valid_until`` has passed.
"""

from __future__ import annotations

from medisac.score.expire import expire_due

__all__ = ["expire_due"]
