"""Objects every collection serves besides indicators: identity and TLP markings."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.model.time import parse_rfc3339, to_us
from medisac.stix import STATIC_OBJECTS
from medisac.store.merge import PublishedObject, append_objects
from medisac.store.tables import stix_objects


def publish_static(conn: Connection) -> int:
    """Publish the static objects the store does not hold yet; return how many.

    The caller holds the publish lock.
    """
    held = set(
        conn.execute(
            sa.select(stix_objects.c.stix_id).where(
                stix_objects.c.stix_id.in_([obj["id"] for obj in STATIC_OBJECTS])
            )
        ).scalars()
    )
    missing = [
        PublishedObject(
            body=obj,
            modified=to_us(parse_rfc3339(obj.get("modified", obj["created"]))),
        )
        for obj in STATIC_OBJECTS
        if obj["id"] not in held
    ]
    append_objects(conn, missing)
    return len(missing)
