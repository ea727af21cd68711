"""The medisac exception tree.

Every error medisac raises on purpose derives from :class:`MedisacError`::

    MedisacError
    ├── ConfigError            a setting is missing or invalid
    ├── StoreError             the database cannot be opened, migrated or written
    ├── IngestError            an input file or URL cannot be read as a whole
    │   ├── InputTooLarge      decompressed input passed the configured cap
    │   └── UnknownFormat      no parser recognises the content
    ├── NormalizationError     one value cannot be made a valid indicator
    ├── TaxiiError             a TAXII request fails; carries the HTTP status
    └── FeedError              a remote feed cannot be fetched; names the URL

A problem with one record is not an exception that escapes the ingest loop:
parsers report it as a :class:`medisac.model.Rejection` and carry on, so one bad
record costs one record. The command line maps these classes to exit codes in
one place (:mod:`medisac.cli.main`).
"""

from __future__ import annotations


class MedisacError(Exception):
    """Root of every error medisac raises deliberately."""


class ConfigError(MedisacError):
    """A setting is missing or has an invalid value."""


class StoreError(MedisacError):
    """The store cannot be opened, migrated or written."""


class IngestError(MedisacError):
    """An input cannot be read at all.

    ``origin`` names the file or URL and ``position`` the line, byte offset or
    object where reading stopped, when known.
    """

    def __init__(self, origin: str, reason: str, position: str | None = None) -> None:
        self.origin = origin
        self.reason = reason
        self.position = position
        where = f"{origin}, {position}" if position else origin
        super().__init__(f"{where}: {reason}")


class InputTooLarge(IngestError):
    """Decompressed input passed the configured maximum size."""

    def __init__(self, origin: str, limit: int, read: int) -> None:
        self.limit = limit
        self.read = read
        super().__init__(
            origin,
            f"decompressed size passed the limit of {limit:,} bytes "
            f"after {read:,} bytes were read; raise MEDISAC_MAX_INPUT_BYTES "
            "(or --max-input-bytes) if this input is trusted",
        )


class UnknownFormat(IngestError):
    """No parser recognises the content of an input."""


class NormalizationError(MedisacError, ValueError):
    """A value cannot be turned into a valid indicator of any allowed type."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(reason)


class TaxiiError(MedisacError):
    """A TAXII request cannot be answered; rendered as a TAXII error message."""

    def __init__(
        self,
        status: int,
        title: str,
        description: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.description = description
        self.headers = headers or {}
        super().__init__(f"{status} {title}")


class FeedError(MedisacError):
    """A remote feed cannot be fetched or read.

    ``url`` is the request URL (never with credentials), ``status`` the HTTP
    status when the server sent one, and ``reason`` what failed and what to do.
    """

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        super().__init__(f"{url}: {reason}")
