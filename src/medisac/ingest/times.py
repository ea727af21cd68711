"""Lenient reading of the timestamps that CSV files and XML formats carry.

Every time is returned in UTC. A time without an offset is read as UTC, as
MISP and most feed exports write UTC without saying so; an offset is applied.
Slashed dates are read month first (``2/10/17`` is 10 February 2017), the
order of the US spreadsheets that write them.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from medisac.model.time import parse_epoch, parse_rfc3339

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_SLASHED = re.compile(
    r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)
_EPOCH = re.compile(r"^\d{9,10}(?:\.\d+)?$")
_EPOCH_MS = re.compile(r"^\d{13}$")


def parse_time(text: str) -> datetime | None:
    """Return the UTC time ``text`` names, or None when it names none.

    Reads RFC 3339 and ISO 8601 date-times (``T`` or space), dates alone
    (midnight UTC), ``M/D/YY[YY] [H:MM[:SS]]`` and seconds or milliseconds
    since the epoch. An impossible date such as 30 February gives None.
    """
    text = text.strip()
    if not text:
        return None
    try:
        return _parse(text)
    except (ValueError, OverflowError, OSError):
        return None


def _parse(text: str) -> datetime | None:
    if match := _DATE.match(text):
        year, month, day = (int(part) for part in match.groups())
        return datetime(year, month, day, tzinfo=UTC)
    if text[:4].isdigit() and len(text) >= 16:
        return parse_rfc3339(text, assume_utc=True)
    if match := _SLASHED.match(text):
        return _slashed(match)
    if _EPOCH.match(text):
        return parse_epoch(text)
    if _EPOCH_MS.match(text):
        return parse_epoch(int(text) / 1000)
    return None


def _slashed(match: re.Match[str]) -> datetime:
    month, day, year = int(match[1]), int(match[2]), int(match[3])
    if year < 100:
        year += 2000 if year < 70 else 1900
    hour = int(match[4] or 0)
    minute = int(match[5] or 0)
    second = int(match[6] or 0)
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def parse_date(text: str) -> date | None:
    """Return the calendar date of ``YYYY-MM-DD`` text, or None."""
    match = _DATE.match(text.strip())
    if match is None:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None
