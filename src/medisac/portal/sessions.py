"""Signed session cookies with expiry, and CSRF tokens for every form.

The session cookie carries a random token signed with itsdangerous; the
store keeps only the token's SHA-256, the user and two limits. A session
ends after :attr:`SessionPolicy.idle_seconds` without a request, or
:attr:`SessionPolicy.max_seconds` after sign-in, whichever comes first,
and at sign-out. The CSRF token of a form is an HMAC of the session token,
so it changes with every session and cannot be derived without the key.
Before sign-in, the sign-in form uses a random token that is also set as
a signed cookie (the double-submit pattern).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.engine import Connection, Engine

from medisac.model.time import now_us
from medisac.portal.users import User, get_user
from medisac.store.engine import begin_write
from medisac.store.tables import portal_sessions, portal_settings

SESSION_COOKIE = "medisac_session"
LOGIN_COOKIE = "medisac_login"
# The name of the signing key in portal_settings, not the key itself.
_SECRET_NAME = "cookie-secret"  # noqa: S105
_SALT_SESSION = "medisac.portal.session"
_SALT_LOGIN = "medisac.portal.login"
_TOUCH_US = 60 * 1_000_000


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a session lasts without a request, and at most, in seconds.

    Idle time counts from the last request the store recorded, and requests
    are recorded at most once a minute.
    """

    idle_seconds: int = 2 * 3600
    max_seconds: int = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user and the token that names the session."""

    token: str
    user: User
    csrf_token: str


def load_secret(engine: Engine) -> bytes:
    """Return the cookie signing key, creating it in the store the first time.

    Keeping it in the store lets every server process over one store sign
    and check the same cookies, and keeps sessions valid across restarts.
    """
    with begin_write(engine) as conn:
        found = conn.execute(
            sa.select(portal_settings.c.value).where(
                portal_settings.c.name == _SECRET_NAME
            )
        ).scalar()
        if found is None:
            found = secrets.token_hex(32)
            conn.execute(
                sa.insert(portal_settings).values(name=_SECRET_NAME, value=found)
            )
    return bytes.fromhex(str(found))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class SessionManager:
    """Create, read and end portal sessions over one store."""

    def __init__(
        self,
        engine: Engine,
        secret: bytes,
        policy: SessionPolicy | None = None,
        clock: Callable[[], int] = now_us,
    ) -> None:
        self.engine = engine
        self.policy = policy or SessionPolicy()
        self.clock = clock
        self._secret = secret
        self._session_signer = URLSafeSerializer(secret, salt=_SALT_SESSION)
        self._login_signer = URLSafeSerializer(secret, salt=_SALT_LOGIN)

    def csrf_for(self, token: str) -> str:
        """Return the CSRF token of the forms of session ``token``."""
        return hmac.new(self._secret, b"csrf:" + token.encode(), "sha256").hexdigest()

    def start(self, conn: Connection, user: User) -> str:
        """Store a new session of ``user`` and return its signed cookie value."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        conn.execute(
            sa.insert(portal_sessions).values(
                token_hash=_digest(token),
                user_id=user.id,
                created=now,
                last_seen=now,
                expires=now + self.policy.max_seconds * 1_000_000,
            )
        )
        return self._session_signer.dumps(token)

    def read(self, cookie: str | None) -> Session | None:
        """Return the live session a cookie names, or None.

        An unsigned, unknown, idle or expired session, or one of a disabled
        account, is None; an expired one is deleted from the store.
        """
        token = self._unsign(self._session_signer, cookie)
        if token is None:
            return None
        now = self.clock()
        idle_limit = now - self.policy.idle_seconds * 1_000_000
        sc = portal_sessions.c
        digest = _digest(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(portal_sessions).where(sc.token_hash == digest)
            ).first()
            user = None if row is None else get_user(conn, row.user_id)
        if row is None:
            return None
        # Each write is its own short transaction that starts by writing, so
        # it waits for a running ingest instead of failing on a stale read.
        if row.expires <= now or row.last_seen <= idle_limit:
            with self.engine.begin() as conn:
                conn.execute(sa.delete(portal_sessions).where(sc.token_hash == digest))
            return None
        if user is None or user.disabled:
            return None
        # The time of the last request is written at most once a minute.
        if now - row.last_seen >= _TOUCH_US:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(portal_sessions)
                    .where(sc.token_hash == digest)
                    .values(last_seen=now)
                )
        return Session(token=token, user=user, csrf_token=self.csrf_for(token))

    def end(self, token: str) -> None:
        """Delete a session, as signing out does."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(portal_sessions).where(
                    portal_sessions.c.token_hash == _digest(token)
                )
            )

    def end_all(self, conn: Connection, user_id: int) -> None:
        """Delete every session of one user, as disabling the account does."""
        conn.execute(
            sa.delete(portal_sessions).where(portal_sessions.c.user_id == user_id)
        )

    def new_login_token(self) -> tuple[str, str]:
        """Return a sign-in form token and the signed cookie that must match it."""
        token = secrets.token_urlsafe(24)
        return token, self._login_signer.dumps(token)

    def check_login_token(self, cookie: str | None, submitted: str) -> bool:
        """Tell whether a sign-in form's token matches its signed cookie."""
        token = self._unsign(self._login_signer, cookie)
        return token is not None and hmac.compare_digest(token, submitted)

    @staticmethod
    def _unsign(signer: URLSafeSerializer, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            value = signer.loads(cookie)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None
