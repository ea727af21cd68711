"""Subscription tiers: which route groups, collections and exports a key may use.

Route groups are ``taxii`` (TAXII 2.1), ``feeds`` (served exports), ``api``
(the JSON API) and ``submit`` (contributions over TAXII or the JSON API).
Operator keys are bound by no tier.
"""

from __future__ import annotations

from dataclasses import dataclass

from medisac.errors import ConfigError

ROUTE_GROUPS = ("taxii", "feeds", "api", "submit")


@dataclass(frozen=True, slots=True)
class Tier:
    """The route groups, collections and exports of one tier, and its rate.

    ``collections`` and ``export_formats`` of None allow every one.
    """

    name: str
    route_groups: frozenset[str]
    collections: frozenset[str] | None
    export_formats: frozenset[str] | None
    requests_per_minute: int

    def allows_collection(self, alias: str) -> bool:
        """Tell whether the tier may read the TAXII collection ``alias``."""
        return self.collections is None or alias in self.collections

    def allows_export(self, fmt: str) -> bool:
        """Tell whether the tier may fetch the export format ``fmt``."""
        return self.export_formats is None or fmt in self.export_formats


TIERS: dict[str, Tier] = {
    # A clinic: block lists for its firewall and resolver, and lookups.
    "basic": Tier(
        name="basic",
        route_groups=frozenset({"feeds", "api", "submit"}),
        collections=frozenset(),
        export_formats=frozenset({"plain", "edl", "rpz", "csv"}),
        requests_per_minute=60,
    ),
    # A hospital with a SOC: TAXII, every export, the API.
    "standard": Tier(
        name="standard",
        route_groups=frozenset(ROUTE_GROUPS),
        collections=None,
        export_formats=None,
        requests_per_minute=600,
    ),
    # A large system or a partner exchange that polls continuously.
    "premium": Tier(
        name="premium",
        route_groups=frozenset(ROUTE_GROUPS),
        collections=None,
        export_formats=None,
        requests_per_minute=3000,
    ),
}
DEFAULT_TIER = "standard"


def get_tier(name: str) -> Tier:
    """Return the tier called ``name``; raise :class:`ConfigError` if unknown."""
    try:
        return TIERS[name]
    except KeyError:
        choices = ", ".join(TIERS)
        raise ConfigError(f"unknown tier {name!r}; use one of {choices}") from None
