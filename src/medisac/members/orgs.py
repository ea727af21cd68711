"""Member organisations: create, find by id or name, and change.

An organisation's id (``org-`` and 12 hex digits) is the user name its keys
use with HTTP Basic authentication, so it is random and never reused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from medisac.errors import MedisacError
from medisac.members.access import Audience
from medisac.model import TLP
from medisac.model.time import now_us
from medisac.store.tables import organisations


class OrgKind(StrEnum):
    """The kind of member organisation."""

    HOSPITAL_SYSTEM = "hospital-system"
    CLINIC = "clinic"
    PAYER = "payer"
    DEVICE_MAKER = "device-maker"
    OTHER = "other"


class OrgNotFound(MedisacError):
    """No organisation has the given id or name."""

    def __init__(self, ref: str) -> None:
        super().__init__(
            f"no organisation has the id or name {ref!r}; "
            "`medisac org list` shows the organisations"
        )
        self.ref = ref


class OrgExists(MedisacError):
    """An organisation with the name already exists."""


@dataclass(frozen=True, slots=True)
class Org:
    """A member organisation as stored."""

    id: str
    name: str
    kind: OrgKind
    tier: str
    clearance: TLP
    trusted: bool
    contacts: tuple[dict[str, str], ...]
    created: int
    modified: int

    @property
    def audience(self) -> Audience:
        """The records this organisation may read at its own clearance."""
        return Audience.member(self.id, self.clearance)

    @classmethod
    def from_row(cls, row: Row[Any]) -> Org:
        """Build an :class:`Org` from a row of the ``organisations`` table."""
        return cls(
            id=row.id,
            name=row.name,
            kind=OrgKind(row.kind),
            tier=row.tier,
            clearance=TLP(row.clearance),
            trusted=bool(row.trusted),
            contacts=tuple(orjson.loads(row.contacts)),
            created=row.created,
            modified=row.modified,
        )


def new_org_id() -> str:
    """Return a fresh random organisation id."""
    return f"org-{secrets.token_hex(6)}"


def add_org(
    conn: Connection,
    name: str,
    *,
    tier: str = "standard",
    clearance: TLP = TLP.GREEN,
    kind: OrgKind = OrgKind.OTHER,
    trusted: bool = False,
    contacts: list[dict[str, str]] | None = None,
) -> Org:
    """Insert a new organisation and return it.

    Raises :class:`OrgExists` when the name is taken (names are compared
    without regard to case and surrounding spaces).
    """
    name = name.strip()
    if not name:
        raise MedisacError("an organisation name must not be empty")
    if _find_by_name(conn, name) is not None:
        raise OrgExists(f"an organisation called {name!r} already exists")
    now = now_us()
    org_id = new_org_id()
    conn.execute(
        sa.insert(organisations).values(
            id=org_id,
            name=name,
            kind=OrgKind(kind).value,
            tier=tier,
            clearance=int(clearance),
            trusted=trusted,
            contacts=orjson.dumps(contacts or []).decode(),
            created=now,
            modified=now,
        )
    )
    return get_org(conn, org_id)


def get_org(conn: Connection, ref: str) -> Org:
    """Return the organisation whose id or name is ``ref``.

    Raises :class:`OrgNotFound` when none matches.
    """
    ref = ref.strip()
    row = conn.execute(
        sa.select(organisations).where(organisations.c.id == ref)
    ).first()
    if row is None:
        row = _find_by_name(conn, ref)
    if row is None:
        raise OrgNotFound(ref)
    return Org.from_row(row)


def list_orgs(conn: Connection) -> list[Org]:
    """Return every organisation, ordered by name."""
    rows = conn.execute(sa.select(organisations).order_by(organisations.c.name))
    return [Org.from_row(row) for row in rows]


def update_org(conn: Connection, ref: str, **changes: Any) -> Org:
    """Change the named fields of an organisation and return it.

    Accepts ``name``, ``tier``, ``clearance``, ``kind``, ``trusted`` and
    ``contacts``. Raises :class:`OrgNotFound` or :class:`OrgExists`.
    """
    org = get_org(conn, ref)
    values: dict[str, Any] = {}
    for field, value in changes.items():
        if value is None:
            continue
        if field == "name":
            other = _find_by_name(conn, value)
            if other is not None and other.id != org.id:
                raise OrgExists(f"an organisation called {value!r} already exists")
            values["name"] = value.strip()
        elif field == "clearance":
            values["clearance"] = int(value)
        elif field == "kind":
            values["kind"] = OrgKind(value).value
        elif field == "contacts":
            values["contacts"] = orjson.dumps(value).decode()
        elif field in ("tier", "trusted"):
            values[field] = value
        else:
            raise ValueError(f"organisations have no field {field!r}")
    if values:
        values["modified"] = now_us()
        conn.execute(
            sa.update(organisations)
            .where(organisations.c.id == org.id)
            .values(**values)
        )
    return get_org(conn, org.id)


def _find_by_name(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(
        sa.select(organisations).where(
            sa.func.lower(organisations.c.name) == name.strip().lower()
        )
    ).first()
