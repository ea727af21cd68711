"""Members' requests for help from the analysts, and the replies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.errors import MedisacError
from medisac.model.time import now_us
from medisac.store.tables import (
    assistance_messages,
    assistance_requests,
    organisations,
    portal_users,
)

MAX_SUBJECT = 200
MAX_BODY = 20_000
STATUSES = ("open", "answered", "closed")


class AssistanceError(MedisacError):
    """A request or message is missing a field or too long."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a request."""

    author: str
    from_analyst: bool
    body: str
    created: int


@dataclass(frozen=True, slots=True)
class Request:
    """A member's request for help and its messages."""

    id: int
    org_id: str
    org_name: str
    subject: str
    status: str
    created: int
    modified: int
    messages: tuple[Message, ...] = ()


def _check(subject: str | None, body: str) -> None:
    if subject is not None and not subject.strip():
        raise AssistanceError("the subject is empty: say in a few words what you need")
    if subject is not None and len(subject) > MAX_SUBJECT:
        raise AssistanceError(f"the subject is longer than {MAX_SUBJECT} characters")
    if not body.strip():
        raise AssistanceError("the message is empty: describe what you need")
    if len(body) > MAX_BODY:
        raise AssistanceError(f"the message is longer than {MAX_BODY:,} characters")


def open_request(
    conn: Connection, org_id: str, user_id: int, subject: str, body: str
) -> int:
    """Store a new request with its first message; return its id."""
    _check(subject, body)
    now = now_us()
    request_id = conn.execute(
        sa.insert(assistance_requests)
        .values(
            org_id=org_id,
            user_id=user_id,
            subject=subject.strip(),
            status="open",
            created=now,
            modified=now,
        )
        .returning(assistance_requests.c.id)
    ).scalar_one()
    add_message(conn, int(request_id), user_id, body, from_analyst=False)
    return int(request_id)


def add_message(
    conn: Connection, request_id: int, user_id: int, body: str, *, from_analyst: bool
) -> None:
    """Add a message to a request.

    A message from an analyst sets the status to "answered", and one from a
    member reopens the request.
    """
    _check(None, body)
    now = now_us()
    conn.execute(
        sa.insert(assistance_messages).values(
            request_id=request_id,
            user_id=user_id,
            from_analyst=from_analyst,
            body=body.strip(),
            created=now,
        )
    )
    conn.execute(
        sa.update(assistance_requests)
        .where(assistance_requests.c.id == request_id)
        .values(status="answered" if from_analyst else "open", modified=now)
    )


def close_request(conn: Connection, request_id: int) -> None:
    """Mark a request as closed."""
    conn.execute(
        sa.update(assistance_requests)
        .where(assistance_requests.c.id == request_id)
        .values(status="closed", modified=now_us())
    )


def list_requests(
    conn: Connection, org_id: str | None = None, status: str | None = None
) -> list[Request]:
    """Return requests, of one organisation when ``org_id`` is given, newest first."""
    rc = assistance_requests.c
    statement = (
        sa.select(assistance_requests, organisations.c.name.label("org_name"))
        .join(organisations, organisations.c.id == rc.org_id)
        .order_by(rc.modified.desc())
    )
    if org_id is not None:
        statement = statement.where(rc.org_id == org_id)
    if status is not None:
        statement = statement.where(rc.status == status)
    return [_request(row) for row in conn.execute(statement)]


def get_request(
    conn: Connection, request_id: int, org_id: str | None
) -> Request | None:
    """Return one request with its messages; another organisation's is None.

    ``org_id`` None reads any organisation's request, as analysts do.
    """
    rc = assistance_requests.c
    statement = (
        sa.select(assistance_requests, organisations.c.name.label("org_name"))
        .join(organisations, organisations.c.id == rc.org_id)
        .where(rc.id == request_id)
    )
    if org_id is not None:
        statement = statement.where(rc.org_id == org_id)
    row = conn.execute(statement).first()
    if row is None:
        return None
    mc, uc = assistance_messages.c, portal_users.c
    messages = conn.execute(
        sa.select(mc.body, mc.from_analyst, mc.created, uc.name)
        .join(portal_users, uc.id == mc.user_id)
        .where(mc.request_id == request_id)
        .order_by(mc.id)
    )
    return _request(
        row,
        tuple(
            Message(
                author="Exchange analyst" if item.from_analyst else item.name,
                from_analyst=bool(item.from_analyst),
                body=item.body,
                created=item.created,
            )
            for item in messages
        ),
    )


def _request(row: Any, messages: tuple[Message, ...] = ()) -> Request:
    return Request(
        id=row.id,
        org_id=row.org_id,
        org_name=row.org_name,
        subject=row.subject,
        status=row.status,
        created=row.created,
        modified=row.modified,
        messages=messages,
    )
