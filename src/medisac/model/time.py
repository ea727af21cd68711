"""Timestamps: medisac stores every time as integer microseconds since the epoch, UTC.

Integers compare exactly in SQLite and PostgreSQL alike, keep the microseconds
that TAXII ``X-TAXII-Date-Added-*`` headers carry, and cannot pick up the host's
time zone by accident.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# RFC 3339 date-time, any number of fractional digits, Z or a numeric offset.
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(Z|z|[+-]\d{2}:?\d{2})?$"
)


def now_us() -> int:
    """Return the current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def to_us(moment: datetime) -> int:
    """Convert an aware datetime to microseconds since the epoch.

    Raises ``ValueError`` for a naive datetime, which has no defined instant.
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime has no time zone; give it one, usually UTC")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(micros: int) -> datetime:
    """Convert microseconds since the epoch to an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=micros)


def format_rfc3339(moment: datetime | int, *, digits: int = 6) -> str:
    """Write a UTC timestamp as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

    ``digits`` is the count of fractional digits (0, 3 or 6). An ``int`` is read
    as microseconds since the epoch.
    """
    if isinstance(moment, int):
        return _format_micros(moment, digits)
    return _format_datetime(moment, digits)


@lru_cache(maxsize=4096)
def _format_micros(micros: int, digits: int) -> str:
    # Cached because one ingest run renders the same few instants (the run's
    # start, a feed's stated times) for every one of its indicators.
    return _format_datetime(from_us(micros), digits)


def _format_datetime(moment: datetime, digits: int) -> str:
    moment = moment.astimezone(UTC)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits == 0:
        return base + "Z"
    fraction = f"{moment.microsecond:06d}"[:digits]
    return f"{base}.{fraction}Z"


def parse_rfc3339(text: str, *, assume_utc: bool = False) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime.

    More than six fractional digits are truncated to microseconds. An offset is
    applied, never dropped. Without an offset the value is read as UTC when
    ``assume_utc`` is true and rejected otherwise. A leap second (``:60``) is
    read as the last microsecond of that minute. Raises ``ValueError`` that
    says which part is wrong.
    """
    match = _RFC3339.match(text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7), match.group(8)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    leap = second == 60
    if leap:
        second, micros = 59, 999_999
    try:
        moment = datetime(year, month, day, hour, minute, second, micros, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"impossible date or time in {text!r}: {exc}") from exc
    if offset is None:
        if not assume_utc:
            raise ValueError(f"timestamp {text!r} has no time zone offset")
    elif offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        digits_only = offset[1:].replace(":", "")
        shift = timedelta(hours=int(digits_only[:2]), minutes=int(digits_only[2:]))
        moment -= sign * shift
    return moment


def parse_epoch(value: str | int | float) -> datetime:
    """Read seconds since the epoch (as MISP writes them) as a UTC datetime."""
    return datetime.fromtimestamp(float(value), tz=UTC)
