"""API keys in HTTP requests, over HTTP Basic or Bearer.

With Basic, the password is the key and the user name is the organisation
id of a member's key (any user name goes with an operator key), so TAXII
clients that only know user and password work unchanged. A missing, unknown,
revoked or expired key gets the same 401 response, so a caller learns
nothing about which keys exist.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from medisac.errors import TaxiiError

CHALLENGE = 'Basic realm="medisac", Bearer'


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key and, from HTTP Basic, the user name sent with it."""

    key: str
    user: str | None = None


def parse_credentials(authorization: str | None) -> Credentials | None:
    """Return the credentials an ``Authorization`` header carries, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        return Credentials(value) if value else None
    if scheme != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, separator, password = decoded.partition(":")
    if not separator or not password:
        return None
    return Credentials(password, user)


def unauthorized() -> TaxiiError:
    """Return the 401 error sent for missing or unknown credentials."""
    return TaxiiError(
        401,
        "Unauthorized",
        "send a valid API key as a Bearer token, or as the password of HTTP "
        "Basic authentication",
        headers={"WWW-Authenticate": CHALLENGE},
    )
