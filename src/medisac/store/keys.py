"""API keys: random tokens stored only as SHA-256 hashes.

A key's ``scopes`` is a comma-separated list. ``read`` allows reading shared
intelligence, ``submit`` allows contributing, and ``admin`` allows everything.
``tlp:<level>`` (for example ``tlp:amber``) sets the most restrictive TLP
level the holder may read; see :attr:`KeyRow.tlp_clearance`.

A key either belongs to a member organisation (``org_id``), whose clearance
caps what it reads, or is an operator key without one. A key may expire;
an expired or revoked key is treated exactly like an unknown one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.errors import MedisacError
from medisac.members.access import MAX_CLEARANCE, Audience
from medisac.model import TLP
from medisac.model.time import now_us
from medisac.store.tables import api_keys, organisations

# Clearance of a key whose scopes name no TLP level: community-wide sharing.
DEFAULT_CLEARANCE = TLP.GREEN
# Members read RED only where a record names their organisation, so no
# clearance of a member key reaches past AMBER+STRICT.
MAX_MEMBER_CLEARANCE = MAX_CLEARANCE
# ``sensor`` allows posting sensor batches of sightings.
SCOPES = frozenset({"read", "submit", "admin", "sensor"})


@dataclass(frozen=True, slots=True)
class KeyRow:
    """A stored, unrevoked, unexpired API key, without the key itself."""

    id: int
    name: str
    scopes: frozenset[str]
    created: int
    org_id: str | None = None
    # The clearance of the key's organisation; None for operator keys.
    org_clearance: TLP | None = None
    # The subscription tier of the key's organisation; None for operator keys.
    org_tier: str | None = None
    expires: int | None = None

    def has_scope(self, scope: str) -> bool:
        """Tell whether the key grants ``scope``; ``admin`` grants every scope."""
        return scope in self.scopes or "admin" in self.scopes

    @property
    def is_operator(self) -> bool:
        """Whether the key is the exchange operator's: admin and no organisation."""
        return self.org_id is None and "admin" in self.scopes

    @property
    def tlp_clearance(self) -> TLP:
        """The most restrictive TLP level this key may read by clearance.

        Operator keys read every level. Other keys read up to the most
        restrictive ``tlp:<level>`` scope they have (or
        :data:`DEFAULT_CLEARANCE` without one), capped at their
        organisation's clearance and at AMBER+STRICT. RED records named for
        the key's organisation are readable too; see :attr:`audience`.
        """
        if self.is_operator:
            return TLP.RED
        levels = [
            _parse_level(scope[4:]) for scope in self.scopes if scope.startswith("tlp:")
        ]
        known = [level for level in levels if level is not None]
        if known:
            clearance = max(known)
        elif self.org_clearance is not None:
            clearance = self.org_clearance
        else:
            clearance = DEFAULT_CLEARANCE
        if self.org_clearance is not None:
            clearance = min(clearance, self.org_clearance)
        return min(clearance, MAX_MEMBER_CLEARANCE)

    @property
    def audience(self) -> Audience:
        """The records this key may read."""
        if self.is_operator:
            return Audience.everything()
        return Audience.member(self.org_id, self.tlp_clearance)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A stored key as ``medisac key list`` shows it, revoked ones included."""

    id: int
    name: str
    org_id: str | None
    scopes: str
    created: int
    expires: int | None
    last_used: int | None
    revoked: bool


class KeyNotFound(MedisacError):
    """No stored key has the given id or value."""


def hash_key(key: str) -> str:
    """Return the hex SHA-256 of ``key``, the form the store keeps."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    conn: Connection,
    name: str,
    scopes: str,
    key: str | None = None,
    *,
    org_id: str | None = None,
    expires: int | None = None,
) -> str:
    """Store a new key called ``name`` with ``scopes``; return the key.

    A random key (``secrets.token_urlsafe(32)``, 256 bits) is generated when
    ``key`` is None. Only its hash is stored, so the caller must show the
    returned key to its owner now. ``expires`` is in µs since the epoch.
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
            org_id=org_id,
            expires=expires,
        )
    )
    return key


def check_scopes(text: str) -> str:
    """Return ``text`` as a normalised scope list, or raise ``ValueError``.

    Scopes are ``read``, ``submit``, ``admin`` and ``tlp:<level>``.
    """
    parts = _split_scopes(text)
    for part in parts:
        if part.startswith("tlp:"):
            if _parse_level(part[4:]) is None:
                raise ValueError(f"invalid TLP level in scope {part!r}")
        elif part not in SCOPES:
            choices = ", ".join(sorted(SCOPES))
            raise ValueError(f"unknown scope {part!r}; use {choices} or tlp:LEVEL")
    if not parts:
        raise ValueError("a key needs at least one scope")
    return ",".join(parts)


def find_key(conn: Connection, key: str, now: int | None = None) -> KeyRow | None:
    """Return the usable key row matching ``key``, or None.

    Revoked and expired keys return None, like unknown ones. The lookup is by
    hash, so its time does not depend on how much of a guessed key is right.
    The final comparison is constant-time as well.
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
            api_keys.c.org_id,
            api_keys.c.expires,
            organisations.c.clearance,
            organisations.c.tier,
        )
        .select_from(api_keys.outerjoin(organisations))
        .where(api_keys.c.key_hash == digest, api_keys.c.revoked.is_(False))
    ).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    if row.expires is not None and row.expires <= (now or now_us()):
        return None
    return KeyRow(
        id=row.id,
        name=row.name,
        scopes=frozenset(_split_scopes(row.scopes)),
        created=row.created,
        org_id=row.org_id,
        org_clearance=None if row.clearance is None else TLP(row.clearance),
        org_tier=row.tier,
        expires=row.expires,
    )


def list_keys(conn: Connection, org_id: str | None = None) -> list[KeyInfo]:
    """Return the stored keys, of one organisation when ``org_id`` is given."""
    statement = sa.select(api_keys).order_by(api_keys.c.id)
    if org_id is not None:
        statement = statement.where(api_keys.c.org_id == org_id)
    return [
        KeyInfo(
            id=row.id,
            name=row.name,
            org_id=row.org_id,
            scopes=row.scopes,
            created=row.created,
            expires=row.expires,
            last_used=row.last_used,
            revoked=bool(row.revoked),
        )
        for row in conn.execute(statement)
    ]


def resolve_key_id(conn: Connection, ref: str) -> int:
    """Return the id of the key that ``ref`` names: its id, or the key itself.

    Accepting the key itself lets an operator revoke a leaked key without
    knowing its id. Raises :class:`KeyNotFound`.
    """
    ref = ref.strip()
    if ref.isdigit():
        found = conn.execute(
            sa.select(api_keys.c.id).where(api_keys.c.id == int(ref))
        ).scalar()
        if found is not None:
            return int(found)
    found = conn.execute(
        sa.select(api_keys.c.id).where(api_keys.c.key_hash == hash_key(ref))
    ).scalar()
    if found is None:
        raise KeyNotFound(
            "no key has that id or value; `medisac key list` shows the key ids"
        )
    return int(found)


def revoke_key(conn: Connection, key_id: int) -> bool:
    """Revoke a key; return False when it was revoked already."""
    result = conn.execute(
        sa.update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked.is_(False))
        .values(revoked=True)
    )
    return result.rowcount > 0


def rotate_key(conn: Connection, key_id: int) -> tuple[int, str]:
    """Replace a key by a new one with the same owner, name and scopes.

    The old key is revoked at once. Returns the new key's id and the key.
    A key that had an expiry gets a new one of the same length from now.
    """
    old = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).one()
    if old.revoked:
        raise KeyNotFound(
            f"key {key_id} is revoked; create a new key with `medisac key create`"
        )
    expires = None
    if old.expires is not None:
        expires = now_us() + (old.expires - old.created)
    key = create_key(conn, old.name, old.scopes, org_id=old.org_id, expires=expires)
    revoke_key(conn, key_id)
    new_id = resolve_key_id(conn, key)
    return new_id, key


def _split_scopes(scopes: str) -> list[str]:
    return [part.strip().lower() for part in scopes.split(",") if part.strip()]


def _parse_level(text: str) -> TLP | None:
    try:
        return TLP.parse(text)
    except ValueError:
        return None
