"""API keys: random tokens stored only as SHA-256 hashes.

A key's ``scopes`` is a comma-separated list. ``read`` allows reading shared
intelligence, ``submit`` allows contributing, and ``admin`` allows everything.
``tlp:<level>`` (for example ``tlp:amber``) sets the most restrictive TLP
level the holder may read; see :attr:`KeyRow.tlp_clearance`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.model import TLP
from medisac.model.time import now_us
from medisac.store.tables import api_keys

# Clearance of a key whose scopes name no TLP level: community-wide sharing.
DEFAULT_CLEARANCE = TLP.GREEN
# TODO: RED goes only to the organisations named on a record. Until records
# name organisations, only admin keys read RED, whatever their tlp: scope is.
MAX_MEMBER_CLEARANCE = TLP.AMBER_STRICT


@dataclass(frozen=True, slots=True)
class KeyRow:
    """A stored, unrevoked API key, without the key itself."""

    id: int
    name: str
    scopes: frozenset[str]
    created: int

    def has_scope(self, scope: str) -> bool:
        """Tell whether the key grants ``scope``; ``admin`` grants every scope."""
        return scope in self.scopes or "admin" in self.scopes

    @property
    def tlp_clearance(self) -> TLP:
        """The most restrictive TLP level this key may read.

        ``admin`` keys read every level. Other keys read up to the most
        restrictive ``tlp:<level>`` scope they have, capped at AMBER+STRICT,
        or up to :data:`DEFAULT_CLEARANCE` when they have none.
        """
        if "admin" in self.scopes:
            return TLP.RED
        levels = [
            _parse_level(scope[4:]) for scope in self.scopes if scope.startswith("tlp:")
        ]
        known = [level for level in levels if level is not None]
        if not known:
            return DEFAULT_CLEARANCE
        return min(max(known), MAX_MEMBER_CLEARANCE)


def hash_key(key: str) -> str:
    """Return the hex SHA-256 of ``key``, the form the store keeps."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(conn: Connection, name: str, scopes: str, key: str | None = None) -> str:
    """Store a new key called ``name`` with ``scopes``; return the key.

    A random key (``secrets.token_urlsafe(32)``, 256 bits) is generated when
    ``key`` is None. Only its hash is stored, so the caller must show the
    returned key to its owner now.
    """
    if key is None:
        key = secrets.token_urlsafe(32)
    conn.execute(
        sa.insert(api_keys).values(
            name=name,
            key_hash=hash_key(key),
            scopes=scopes,
            created=now_us(),
            revoked=False,
        )
    )
    return key


def find_key(conn: Connection, key: str) -> KeyRow | None:
    """Return the unrevoked key row matching ``key``, or None.

    The lookup is by hash, so its time does not depend on how much of a
    guessed key is right. The final comparison is constant-time as well.
    """
    if not key:
        return None
    digest = hash_key(key)
    row = conn.execute(
        sa.select(
            api_keys.c.id,
            api_keys.c.name,
            api_keys.c.key_hash,
            api_keys.c.scopes,
            api_keys.c.created,
        ).where(api_keys.c.key_hash == digest, api_keys.c.revoked.is_(False))
    ).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return KeyRow(
        id=row.id,
        name=row.name,
        scopes=frozenset(_split_scopes(row.scopes)),
        created=row.created,
    )


def _split_scopes(scopes: str) -> list[str]:
    return [part.strip().lower() for part in scopes.split(",") if part.strip()]


def _parse_level(text: str) -> TLP | None:
    try:
        return TLP.parse(text)
    except ValueError:
        return None
