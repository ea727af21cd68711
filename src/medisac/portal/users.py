"""People who sign in to the portal: accounts, roles and argon2 password hashes.

A member user belongs to one organisation and reads what that organisation
may read, through the same :class:`medisac.members.access.Audience` rule
as its API keys. Analysts and operators belong to no organisation and
read every record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from medisac.errors import MedisacError
from medisac.members.access import Audience
from medisac.members.orgs import get_org
from medisac.model.time import now_us
from medisac.store.tables import portal_users

log = logging.getLogger(__name__)

# Shorter passwords are rejected when an account is created or changed.
MIN_PASSWORD_LENGTH = 12

# argon2id with argon2-cffi's defaults (RFC 9106's second recommended
# profile: 3 passes over 64 MiB).
_hasher = PasswordHasher()
_dummy_hashes: dict[int, str] = {}


def _dummy_hash() -> str:
    """Return a hash to verify against when no account has the address.

    Verifying something either way makes a failed sign-in take about as
    long whether or not the account exists.
    """
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash("no account has this address")
    return _dummy_hashes[key]


class Role(StrEnum):
    """The role of a portal account, which sets the pages it may use."""

    MEMBER_READER = "member-reader"
    MEMBER_ADMIN = "member-admin"
    ANALYST = "analyst"
    OPERATOR = "operator"

    @property
    def is_member(self) -> bool:
        """Whether the role belongs to a member organisation."""
        return self in (Role.MEMBER_READER, Role.MEMBER_ADMIN)

    @property
    def is_staff(self) -> bool:
        """Whether the role is the exchange's own: analyst or operator."""
        return not self.is_member


class UserError(MedisacError):
    """An account cannot be created, found or changed as asked."""


@dataclass(frozen=True, slots=True)
class User:
    """A portal account, without its password hash."""

    id: int
    email: str
    name: str
    role: Role
    org_id: str | None
    disabled: bool
    created: int
    last_login: int | None
    # The records the user may read: the organisation's, or every record.
    audience: Audience

    @property
    def can_write(self) -> bool:
        """Whether the user may act for the organisation (reports, keys, uploads)."""
        return self.role is not Role.MEMBER_READER


def _audience(conn: Connection, role: Role, org_id: str | None) -> Audience:
    if role.is_staff or org_id is None:
        return Audience.everything()
    return get_org(conn, org_id).audience


def _user(conn: Connection, row: Any) -> User:
    role = Role(row.role)
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        role=role,
        org_id=row.org_id,
        disabled=bool(row.disabled),
        created=row.created,
        last_login=row.last_login,
        audience=_audience(conn, role, row.org_id),
    )


def check_password(password: str) -> None:
    """Raise :class:`UserError` when ``password`` is too short to accept."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )


def add_user(
    conn: Connection,
    email: str,
    password: str,
    *,
    name: str,
    role: Role,
    org_id: str | None = None,
) -> User:
    """Create an account and return it.

    Member roles need ``org_id`` (an organisation id or name); analysts and
    operators must have none. Raises :class:`UserError`.
    """
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise UserError(f"invalid e-mail address {email!r}: give name@domain")
    check_password(password)
    if role.is_member and org_id is None:
        raise UserError(f"a {role.value} belongs to an organisation: give --org")
    if role.is_staff and org_id is not None:
        raise UserError(f"an {role.value} belongs to no organisation: drop --org")
    org = None if org_id is None else get_org(conn, org_id)
    exists = conn.execute(
        sa.select(portal_users.c.id).where(portal_users.c.email == email)
    ).first()
    if exists is not None:
        raise UserError(f"an account for {email} already exists")
    conn.execute(
        sa.insert(portal_users).values(
            email=email,
            name=name.strip() or email,
            org_id=None if org is None else org.id,
            role=role.value,
            password_hash=_hasher.hash(password),
            disabled=False,
            created=now_us(),
        )
    )
    return get_user_by_email(conn, email)


def get_user(conn: Connection, user_id: int) -> User | None:
    """Return the account with id ``user_id``, or None."""
    row = conn.execute(
        sa.select(portal_users).where(portal_users.c.id == user_id)
    ).first()
    return None if row is None else _user(conn, row)


def get_user_by_email(conn: Connection, email: str) -> User:
    """Return the account of ``email``; raise :class:`UserError` if none."""
    row = conn.execute(
        sa.select(portal_users).where(portal_users.c.email == email.strip().lower())
    ).first()
    if row is None:
        raise UserError(
            f"no account for {email}; `medisac user list` shows the accounts"
        )
    return _user(conn, row)


def list_users(conn: Connection, org_id: str | None = None) -> list[User]:
    """Return the accounts, of one organisation when ``org_id`` is given."""
    statement = sa.select(portal_users).order_by(portal_users.c.email)
    if org_id is not None:
        statement = statement.where(portal_users.c.org_id == org_id)
    return [_user(conn, row) for row in conn.execute(statement)]


def verify_login(conn: Connection, email: str, password: str) -> User | None:
    """Return the enabled account whose password is ``password``, or None.

    A successful sign-in records its time, and rehashes the password when
    the argon2 parameters have changed since it was hashed.
    """
    row = conn.execute(
        sa.select(portal_users).where(portal_users.c.email == email.strip().lower())
    ).first()
    stored = _dummy_hash() if row is None else row.password_hash
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    values: dict[str, Any] = {"last_login": now_us()}
    if _hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = _hasher.hash(password)
    conn.execute(
        sa.update(portal_users).where(portal_users.c.id == row.id).values(**values)
    )
    return _user(conn, row)


def set_password(conn: Connection, email: str, password: str) -> None:
    """Replace the password of ``email``'s account; raise :class:`UserError`."""
    check_password(password)
    user = get_user_by_email(conn, email)
    conn.execute(
        sa.update(portal_users)
        .where(portal_users.c.id == user.id)
        .values(password_hash=_hasher.hash(password))
    )


def set_disabled(conn: Connection, email: str, disabled: bool) -> User:
    """Disable or enable ``email``'s account; a disabled one cannot sign in."""
    user = get_user_by_email(conn, email)
    conn.execute(
        sa.update(portal_users)
        .where(portal_users.c.id == user.id)
        .values(disabled=disabled)
    )
    return get_user_by_email(conn, email)
