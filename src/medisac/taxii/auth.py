"""Authentication of TAXII requests by API key, over HTTP Basic or Bearer.

With Basic, the password is the key and the user name is ignored, so TAXII
clients that only know user and password work unchanged. A missing, unknown
or revoked key gets the same 401 response, so a caller learns nothing about
which keys exist.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from fastapi import Request
from sqlalchemy.engine import Engine

from medisac.errors import TaxiiError
from medisac.store.keys import KeyRow, find_key

CHALLENGE = 'Basic realm="medisac", Bearer'
READ_SCOPE = "read"


def credentials_from_header(authorization: str | None) -> str | None:
    """Return the API key an ``Authorization`` header carries, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        return value or None
    if scheme != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, separator, password = decoded.partition(":")
    if not separator:
        return None
    # TODO: accept the key id as the user name once keys carry a public id.
    return password or None


def unauthorized() -> TaxiiError:
    """Return the 401 error sent for missing or unknown credentials."""
    return TaxiiError(
        401,
        "Unauthorized",
        "send a valid API key as a Bearer token, or as the password of HTTP "
        "Basic authentication",
        headers={"WWW-Authenticate": CHALLENGE},
    )


def reader_dependency(engine: Engine) -> Callable[[Request], KeyRow]:
    """Build a FastAPI dependency that returns the caller's key row.

    The dependency raises a 401 :class:`TaxiiError` without valid
    credentials, and a 403 one for a key without the ``read`` scope. It stores
    the key id in ``request.state.key_id`` for the request log.
    """

    def require_reader(request: Request) -> KeyRow:
        key = credentials_from_header(request.headers.get("authorization"))
        if key is None:
            raise unauthorized()
        with engine.connect() as conn:
            row = find_key(conn, key)
        if row is None:
            raise unauthorized()
        request.state.key_id = row.id
        if not row.has_scope(READ_SCOPE):
            raise TaxiiError(
                403,
                "Forbidden",
                f"API key {row.id} has no '{READ_SCOPE}' scope; ask the exchange "
                "operator for a key that may read",
            )
        return row

    return require_reader
