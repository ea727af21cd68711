"""The gate in front of every HTTP route group: key, scope, tier, rate, usage.

One :class:`Gate` per server process serves TAXII, the served exports, the
JSON API and submissions, so a key's rate and usage count across all of
them. Its checks run in this order, and the first that fails decides the
response:

1. credentials: a missing, unknown, revoked or expired key, or a Basic user
   name that is not the key's organisation id, gets the same 401;
2. scope: a key without the route's scope gets 403;
3. tier: a member key whose tier does not include the route group gets 403;
4. rate: a member key over its tier's requests per minute gets 429 with
   ``Retry-After``.

Operator keys pass 3 and 4. Every admitted request is counted for
``medisac org usage``.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Sequence

from fastapi import Request
from sqlalchemy.engine import Engine

from medisac.errors import TaxiiError
from medisac.members.credentials import parse_credentials, unauthorized
from medisac.members.limits import RateLimiter, UsageCounter
from medisac.members.tiers import DEFAULT_TIER, Tier, get_tier
from medisac.store.keys import KeyRow, find_key

log = logging.getLogger(__name__)


def tier_of(key: KeyRow) -> Tier | None:
    """Return the tier that binds ``key``, or None for an operator key."""
    if key.is_operator:
        return None
    return get_tier(key.org_tier or DEFAULT_TIER)


def forbidden(description: str) -> TaxiiError:
    """Return a 403 error with ``description``."""
    return TaxiiError(403, "Forbidden", description)


class Gate:
    """Admission of HTTP requests by API key, for every route group."""

    def __init__(
        self,
        engine: Engine,
        *,
        usage_flush_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.limiter = RateLimiter(clock)
        self.usage = UsageCounter(engine, usage_flush_seconds)

    def authenticate(self, request: Request) -> KeyRow:
        """Return the request's key row, or raise the one 401 for every failure."""
        credentials = parse_credentials(request.headers.get("authorization"))
        if credentials is None:
            raise unauthorized()
        with self.engine.connect() as conn:
            row = find_key(conn, credentials.key)
        if row is None:
            raise unauthorized()
        user = credentials.user
        # Basic sends a user name, which must be a member key's organisation
        # id; Bearer sends none.
        if (
            user is not None
            and row.org_id is not None
            and not hmac.compare_digest(user.encode(), row.org_id.encode())
        ):
            raise unauthorized()
        request.state.key_id = row.id
        request.state.key = row
        return row

    def admit(self, request: Request, group: str, scope: str) -> KeyRow:
        """Run every check for a request to ``group`` that needs ``scope``."""
        row = self.authenticate(request)
        if not row.has_scope(scope):
            raise forbidden(
                f"API key {row.id} has no '{scope}' scope; ask the exchange "
                f"operator for a key with it"
            )
        tier = tier_of(row)
        if tier is not None:
            if group not in tier.route_groups:
                raise forbidden(
                    f"the {tier.name} tier does not include {group} requests; "
                    "ask the exchange operator about a tier that does"
                )
            wait = self.limiter.acquire(row.id, tier.requests_per_minute)
            if wait:
                log.info("key %d over the rate of the %s tier", row.id, tier.name)
                raise TaxiiError(
                    429,
                    "Too Many Requests",
                    f"the {tier.name} tier allows {tier.requests_per_minute} "
                    "requests per minute; retry after the Retry-After seconds",
                    headers={"Retry-After": RateLimiter.retry_after(wait)},
                )
        self.usage.count(row.id, group)
        return row

    def admit_any(self, request: Request, group: str, scopes: Sequence[str]) -> KeyRow:
        """Admit a request whose key has any of ``scopes``; the route checks which.

        A key with none of them gets the 403 of the first.
        """
        row = self.authenticate(request)
        scope = next((s for s in scopes if row.has_scope(s)), scopes[0])
        return self.admit(request, group, scope)

    def require(self, group: str, scope: str = "read") -> Callable[[Request], KeyRow]:
        """Return a FastAPI dependency that admits requests to ``group``."""

        def dependency(request: Request) -> KeyRow:
            return self.admit(request, group, scope)

        return dependency
