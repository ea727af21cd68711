"""Errors of the contribution intake."""

from __future__ import annotations

from medisac.errors import MedisacError


class ContributionError(MedisacError):
    """A contributed file cannot be read; names the file and what to do."""

    def __init__(self, filename: str, reason: str) -> None:
        self.filename = filename
        self.reason = reason
        super().__init__(f"{filename}: {reason}")


class ContributionTooLarge(ContributionError):
    """A contributed file is larger than the configured maximum."""

    def __init__(self, filename: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            filename,
            f"the file is {size:,} bytes, over the limit of {limit:,} bytes for "
            "one contribution; send the message or report on its own, without "
            "large attachments, or raise MEDISAC_MAX_CONTRIBUTION_BYTES",
        )


class ContributionNotFound(MedisacError):
    """No contribution with the given id is visible to the caller."""


class DecisionError(MedisacError):
    """An analyst's decision on a contribution item is invalid."""
