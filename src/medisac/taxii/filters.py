"""The ``match[...]`` filters of TAXII 2.1 object, manifest and versions requests.

Each filter takes a comma-separated list, and repeating a parameter adds to
its list. Filters this server does not know are ignored, as TAXII 2.1 lets
servers do.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import QueryParams

from medisac.model.time import parse_rfc3339, to_us
from medisac.taxii.paging import bad_parameter

# The only STIX version medisac renders.
SPEC_VERSION = "2.1"


@dataclass(frozen=True, slots=True)
class VersionMatch:
    """The versions of each object that ``match[version]`` selects.

    ``timestamps`` are ``modified`` values in microseconds since the epoch.
    """

    all: bool = False
    first: bool = False
    last: bool = True
    timestamps: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class MatchFilter:
    """The ``match[id]``, ``match[type]``, ``match[version]`` and
    ``match[spec_version]`` filters of one request; None means not given."""

    ids: frozenset[str] | None = None
    types: frozenset[str] | None = None
    versions: VersionMatch = VersionMatch()
    spec_versions: frozenset[str] | None = None

    @property
    def wants_served_spec(self) -> bool:
        """Tell whether objects of the STIX version this server renders can match."""
        return self.spec_versions is None or SPEC_VERSION in self.spec_versions


def parse_match(params: QueryParams, *, allow_version: bool = True) -> MatchFilter:
    """Read the ``match[...]`` filters from a query string.

    ``allow_version`` is False for the versions endpoint, which lists every
    version and ignores ``match[version]``. Raises a 400
    :class:`medisac.errors.TaxiiError` that names the parameter when a value
    cannot be read.
    """
    versions = VersionMatch()
    if not allow_version:
        versions = VersionMatch(all=True, last=False)
    else:
        raw_versions = _values(params, "match[version]")
        if raw_versions is not None:
            versions = _parse_versions(raw_versions)
    return MatchFilter(
        ids=_values(params, "match[id]"),
        types=_values(params, "match[type]"),
        versions=versions,
        spec_versions=_values(params, "match[spec_version]"),
    )


def _values(params: QueryParams, name: str) -> frozenset[str] | None:
    raw = params.getlist(name)
    if not raw:
        return None
    values = frozenset(
        part.strip() for item in raw for part in item.split(",") if part.strip()
    )
    if not values:
        raise bad_parameter(name, ",".join(raw), "give at least one value")
    return values


def _parse_versions(tokens: frozenset[str]) -> VersionMatch:
    words = {token.lower() for token in tokens}
    if "all" in words:
        return VersionMatch(all=True, last=False)
    timestamps: set[int] = set()
    for token in tokens:
        if token.lower() in ("first", "last"):
            continue
        try:
            timestamps.add(to_us(parse_rfc3339(token)))
        except ValueError:
            raise bad_parameter(
                "match[version]",
                token,
                "use last, first, all or an RFC 3339 UTC timestamp of a version",
            ) from None
    return VersionMatch(
        first="first" in words,
        last="last" in words,
        timestamps=frozenset(timestamps),
    )
