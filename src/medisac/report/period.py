"""Calendar months and their weeks, as microsecond bounds in UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from medisac.errors import MedisacError
from medisac.model.time import to_us

_MONTH = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
# Weeks of a report are days 1-7, 8-14, 15-21, 22-28 and 29 to the end, so
# that every month has the same buckets whatever weekday it starts on.
WEEK_DAYS = 7


class ReportError(MedisacError):
    """A report cannot be built or read as requested; the message gives the reason."""


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """One calendar month in UTC."""

    year: int
    month: int

    @property
    def label(self) -> str:
        """The month as ``YYYY-MM``."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def title(self) -> str:
        """The month as people write it, for example ``March 2025``."""
        return datetime(self.year, self.month, 1, tzinfo=UTC).strftime("%B %Y")

    @property
    def start(self) -> int:
        """The first microsecond of the month."""
        return to_us(datetime(self.year, self.month, 1, tzinfo=UTC))

    @property
    def end(self) -> int:
        """The first microsecond of the next month (exclusive bound)."""
        return self.shifted(1).start

    def shifted(self, months: int) -> Month:
        """Return the month ``months`` later (earlier when negative)."""
        index = self.year * 12 + (self.month - 1) + months
        return Month(index // 12, index % 12 + 1)

    def weeks(self) -> list[tuple[str, int, int]]:
        """Return (label, start, end) of the month's weeks, the last one longer."""
        days = (self.end - self.start) // 86_400_000_000
        found = []
        for first in range(1, 29, WEEK_DAYS):
            last = days if first == 22 else first + WEEK_DAYS - 1
            start = self.start + (first - 1) * 86_400_000_000
            end = self.start + last * 86_400_000_000
            found.append((f"{first}–{last}", start, end))
        return found


def parse_month(text: str) -> Month:
    """Read ``YYYY-MM``; raise :class:`ReportError` naming the expected form."""
    match = _MONTH.match(text.strip())
    if match is None or int(match[1]) < 1 or not 1 <= int(match[2]) <= 12:
        raise ReportError(
            f"month {text!r} is not a month; write it as YYYY-MM, for example 2025-03"
        )
    return Month(int(match[1]), int(match[2]))
