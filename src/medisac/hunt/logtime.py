"""Timestamps as log formats write them, read as microseconds since the epoch.

Every reader returns None for text it cannot read, because a hit without a
time is still a hit.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from medisac.model.time import now_us, parse_rfc3339, to_us

_MONTHS = {
    name: number
    for number, name in enumerate(
        [
            "jan",
            "feb",
            "mar",
            "apr",
            "may",
            "jun",
            "jul",
            "aug",
            "sep",
            "oct",
            "nov",
            "dec",
        ],
        start=1,
    )
}

# 2024-04-02T08:00:01Z, 2024-12-17T19:17:54.565494-0500, 2020-07-21 23:27:42
ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:?\d{2})?"
)
# Syslog (RFC 3164): "May 14 06:25:07", which has no year.
SYSLOG = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})")
# Common Log Format: "[30/Dec/2018:08:14:51 -0500]".
CLF = re.compile(
    r"\[(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\]"
)
# Suricata fast.log: "12/17/2024-19:17:54.565494" in the sensor's local time.
FAST = re.compile(r"(\d{2})/(\d{2})/(\d{4})-(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?")
_EPOCH = re.compile(r"\d{9,10}(?:\.\d+)?")


def from_epoch(value: str | float | int) -> int | None:
    """Read seconds since the epoch, as Zeek and Squid write them."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if seconds != seconds or not 0 < seconds < 4e9:
        return None
    return round(seconds * 1_000_000)


def from_iso(text: str) -> int | None:
    """Read an RFC 3339 or ISO 8601 time; one without an offset is taken as UTC."""
    try:
        return to_us(parse_rfc3339(text, assume_utc=True))
    except ValueError:
        return None


def from_value(value: object) -> int | None:
    """Read a timestamp field of a JSON log: epoch seconds or ISO text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return from_epoch(value)
    if isinstance(value, str):
        if _EPOCH.fullmatch(value):
            return from_epoch(value)
        return from_iso(value)
    return None


def from_text(text: str) -> int | None:
    """Find a timestamp near the start of a free-text log line."""
    head = text[:80]
    match = ISO.search(head)
    if match is not None:
        return from_iso(match.group(0))
    match = CLF.search(head)
    if match is not None:
        day, month, year, hour, minute, second, offset = match.groups()
        return _from_parts(year, month, day, hour, minute, second, offset)
    match = FAST.match(head)
    if match is not None:
        month_n, day, year, hour, minute, second, fraction = match.groups()
        moment = _build(int(year), int(month_n), int(day), hour, minute, second)
        if moment is None:
            return None
        return moment + int((fraction or "0")[:6].ljust(6, "0"))
    match = SYSLOG.match(head)
    if match is not None:
        return _syslog_time(*match.groups())
    return None


def _from_parts(
    year: str, month: str, day: str, hour: str, minute: str, second: str, offset: str
) -> int | None:
    number = _MONTHS.get(month.lower())
    if number is None:
        return None
    moment = _build(int(year), number, int(day), hour, minute, second)
    if moment is None:
        return None
    sign = -1 if offset[0] == "+" else 1
    shift = (int(offset[1:3]) * 60 + int(offset[3:5])) * 60_000_000
    return moment + sign * shift


def _build(
    year: int, month: int, day: int, hour: str, minute: str, second: str
) -> int | None:
    try:
        moment = datetime(
            year, month, day, int(hour), int(minute), min(int(second), 59), tzinfo=UTC
        )
    except ValueError:
        return None
    return to_us(moment)


def _syslog_time(
    month: str, day: str, hour: str, minute: str, second: str
) -> int | None:
    number = _MONTHS.get(month.lower())
    if number is None:
        return None
    # NOTE: RFC 3164 lines carry no year or zone. They are read as UTC in the
    # current year, or the year before when that would lie in the future.
    now = now_us()
    year = datetime.now(UTC).year
    moment = _build(year, number, int(day), hour, minute, second)
    if moment is not None and moment > now:
        moment = _build(year - 1, number, int(day), hour, minute, second)
    return moment
