"""The outcome of one ingest run: counts, rejections and failed inputs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from medisac.store.merge import MergeCounts

# Rejections kept in full for the summary; past this only the count grows, so
# a feed of a million bad lines cannot exhaust memory.
MAX_LISTED_REJECTIONS = 1_000


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """One record that was not stored, with where it was and why."""

    origin: str
    location: str
    reason: str


@dataclass(frozen=True, slots=True)
class FailedInput:
    """One input that could not be read at all (or not to its end)."""

    origin: str
    reason: str
    # Values this input gave before it failed; they are merged like any other.
    values_before_failure: int = 0


@dataclass(slots=True)
class IngestSummary:
    """Everything one ``medisac ingest`` run did."""

    inputs: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    observations: int = 0
    values: int = 0
    rejected: int = 0
    rejections: list[RejectedRecord] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    failed: list[FailedInput] = field(default_factory=list)
    merge: MergeCounts = field(default_factory=MergeCounts)

    def reject(self, origin: str, location: str, reason: str) -> None:
        """Count a rejected record, keeping its details while the list is short."""
        self.rejected += 1
        if len(self.rejections) < MAX_LISTED_REJECTIONS:
            self.rejections.append(RejectedRecord(origin, location, reason))

    @property
    def complete(self) -> bool:
        """True when every input was read and every record stored."""
        return not self.failed and self.rejected == 0

    @property
    def nothing_read(self) -> bool:
        """True when not one input could be read."""
        return self.inputs > 0 and len(self.failed) == self.inputs and not self.values
