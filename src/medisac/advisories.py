"""Advisories: analysts' plain-language warnings, published as STIX 2.1 reports.

An advisory links indicators (by STIX id) and vulnerabilities (by CVE id)
and carries a TLP level. It is stored in the ``advisories`` table and
published to the TAXII collection ``advisories``, where the same
:class:`~medisac.members.access.Audience` rule as for indicators decides who
reads it. A TLP:RED advisory goes only to the organisations it names.

An advisory may not be less restricted than what it links, because its
``object_refs`` would tell readers that those indicators exist. So each
linked indicator's TLP must be at or below the advisory's. A TLP:RED
indicator must already be shared with every recipient of the advisory.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from medisac.errors import MedisacError
from medisac.members import audit
from medisac.members.access import Audience
from medisac.members.orgs import get_org
from medisac.model import TLP
from medisac.model.time import format_rfc3339, now_us, to_us
from medisac.stix.static import IDENTITY_ID
from medisac.store.engine import begin_write
from medisac.store.merge import PublishedObject, append_objects
from medisac.store.tables import (
    advisories,
    advisory_recipients,
    indicators,
    red_recipients,
    stix_objects,
)
from medisac.vulns.csaf import CVE_ID
from medisac.vulns.stix import vulnerability_id

__all__ = [
    "AdvisoryError",
    "AdvisoryView",
    "get_advisory",
    "list_advisories",
    "publish_advisory",
]

log = logging.getLogger(__name__)

MAX_TITLE_LENGTH = 300


class AdvisoryError(MedisacError):
    """An advisory cannot be published as requested; the message gives the reason."""


@dataclass(frozen=True, slots=True)
class AdvisoryView:
    """An advisory as one reader may see it.

    ``recipients`` lists the organisations a TLP:RED advisory names, and is
    empty for every reader but the operator. ``body`` is the published STIX
    2.1 ``report`` object.
    """

    stix_id: str
    kind: str
    title: str
    summary: str
    tlp: TLP
    author: str
    indicator_refs: tuple[str, ...]
    cves: tuple[str, ...]
    created: int
    modified: int
    recipients: tuple[str, ...]
    body: dict[str, Any]


def publish_advisory(
    engine: Engine,
    *,
    title: str,
    summary: str,
    indicator_ids: Sequence[str],
    cves: Sequence[str],
    tlp: TLP,
    author: str,
    red_recipients: Sequence[str] = (),
    now: datetime | None = None,
) -> str:
    """Store and publish an advisory; return the STIX id of its ``report`` object.

    ``indicator_ids`` are STIX ids of stored indicators, ``cves`` CVE ids,
    and ``red_recipients`` organisation ids or names (for TLP:RED only).
    Raises :class:`AdvisoryError` (or ``OrgNotFound``) naming the field that
    is wrong; nothing is stored then.
    """
    title, summary, author = _text_fields(title, summary, author)
    tlp = TLP(tlp)
    cve_ids = _cve_ids(cves)
    refs = list(dict.fromkeys(ref.strip() for ref in indicator_ids))
    created = now_us() if now is None else to_us(now)
    stix_id = f"report--{uuid.uuid4()}"
    with begin_write(engine) as conn:
        recipients = _recipients(conn, tlp, red_recipients)
        _check_indicators(conn, refs, tlp, recipients)
        store_report_object(
            conn,
            stix_id=stix_id,
            kind="advisory",
            title=title,
            summary=summary,
            tlp=tlp,
            author=author,
            indicator_refs=refs,
            cves=cve_ids,
            recipients=recipients,
            created=created,
            report_types=("threat-report",),
        )
        audit.record(
            conn,
            "advisory.publish",
            stix_id,
            detail={
                "tlp": tlp.label,
                "indicators": len(refs),
                "cves": len(cve_ids),
                "recipients": list(recipients),
            },
        )
    log.info(
        "published advisory %s at TLP:%s with %d indicators and %d CVEs",
        stix_id,
        tlp.label,
        len(refs),
        len(cve_ids),
    )
    return stix_id


def store_report_object(
    conn: Connection,
    *,
    stix_id: str,
    kind: str,
    title: str,
    summary: str,
    tlp: TLP,
    author: str,
    indicator_refs: Sequence[str],
    cves: Sequence[str],
    recipients: Sequence[str],
    created: int,
    report_types: Sequence[str],
) -> bool:
    """Store an advisory row and publish its ``report`` object as a new version.

    The caller holds the publish lock. When a row with ``stix_id`` exists
    with the same content, nothing is written and False is returned.
    Otherwise the row is replaced and keeps its ``created`` time.
    """
    ac = advisories.c
    old = conn.execute(sa.select(advisories).where(ac.stix_id == stix_id)).first()
    values = {
        "title": title,
        "summary": summary,
        "tlp": int(tlp),
        "author": author,
        "indicator_refs": orjson.dumps(list(indicator_refs)).decode(),
        "cves": orjson.dumps(list(cves)).decode(),
        "kind": kind,
    }
    if old is not None:
        same = all(getattr(old, name) == value for name, value in values.items())
        if same and _recipient_ids(conn, stix_id) == tuple(sorted(recipients)):
            return False
        modified = max(created, old.modified + 1)
        created = old.created
        conn.execute(
            sa.update(advisories)
            .where(ac.stix_id == stix_id)
            .values(modified=modified, **values)
        )
        conn.execute(
            sa.delete(advisory_recipients).where(
                advisory_recipients.c.stix_id == stix_id
            )
        )
    else:
        modified = created
        conn.execute(
            sa.insert(advisories).values(
                stix_id=stix_id, created=created, modified=modified, **values
            )
        )
    if recipients:
        conn.execute(
            sa.insert(advisory_recipients),
            [{"stix_id": stix_id, "org_id": org_id} for org_id in sorted(recipients)],
        )
    object_refs = [*indicator_refs, *(vulnerability_id(cve) for cve in cves)]
    body: dict[str, Any] = {
        "type": "report",
        "spec_version": "2.1",
        "id": stix_id,
        "created_by_ref": IDENTITY_ID,
        "created": format_rfc3339(created, digits=3),
        "modified": format_rfc3339(modified, digits=3),
        "name": title,
        "description": summary,
        "report_types": list(report_types),
        "published": format_rfc3339(modified, digits=3),
        # STIX 2.1 requires at least one reference; an advisory of text
        # alone refers to the exchange that wrote it.
        "object_refs": object_refs or [IDENTITY_ID],
        "labels": ["healthcare"],
        "object_marking_refs": [tlp.marking_id],
    }
    append_objects(
        conn,
        [PublishedObject(body=body, modified=modified, healthcare=True, tlp=tlp)],
    )
    return True


def list_advisories(
    engine: Engine, audience: Audience, *, kind: str | None = None
) -> list[AdvisoryView]:
    """Return the advisories ``audience`` may read, newest first.

    ``kind`` keeps only ``advisory`` (analysts') or ``monthly`` (reports).
    """
    ac = advisories.c
    conditions = [audience.advisory_condition(ac.tlp, ac.stix_id)]
    if kind is not None:
        conditions.append(ac.kind == kind)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(advisories)
            .where(*conditions)
            .order_by(ac.created.desc(), ac.stix_id)
        ).all()
        return [_view(conn, row, audience) for row in rows]


def get_advisory(
    engine: Engine, stix_id: str, audience: Audience
) -> AdvisoryView | None:
    """Return one advisory if ``audience`` may read it, else None."""
    ac = advisories.c
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(advisories).where(
                ac.stix_id == stix_id.strip(),
                audience.advisory_condition(ac.tlp, ac.stix_id),
            )
        ).first()
        return None if row is None else _view(conn, row, audience)


def _view(conn: Connection, row: Any, audience: Audience) -> AdvisoryView:
    so = stix_objects.c
    body = conn.execute(
        sa.select(so.body).where(so.stix_id == row.stix_id, so.is_latest.is_(True))
    ).scalar_one()
    return AdvisoryView(
        stix_id=row.stix_id,
        kind=row.kind,
        title=row.title,
        summary=row.summary,
        tlp=TLP(row.tlp),
        author=row.author,
        indicator_refs=tuple(orjson.loads(row.indicator_refs)),
        cves=tuple(orjson.loads(row.cves)),
        created=row.created,
        modified=row.modified,
        recipients=_recipient_ids(conn, row.stix_id) if audience.operator else (),
        body=orjson.loads(body),
    )


def _recipient_ids(conn: Connection, stix_id: str) -> tuple[str, ...]:
    rc = advisory_recipients.c
    found = conn.execute(
        sa.select(rc.org_id).where(rc.stix_id == stix_id).order_by(rc.org_id)
    ).scalars()
    return tuple(found)


def _text_fields(title: str, summary: str, author: str) -> tuple[str, str, str]:
    title = title.strip()
    if not title:
        raise AdvisoryError("title is empty; give the advisory a title")
    if len(title) > MAX_TITLE_LENGTH:
        raise AdvisoryError(
            f"title is {len(title)} characters long; shorten it to at most "
            f"{MAX_TITLE_LENGTH} and put the detail in the summary"
        )
    summary = summary.strip()
    if not summary:
        raise AdvisoryError("summary is empty; say what happened and what to do")
    author = author.strip()
    if not author:
        raise AdvisoryError("author is empty; name the analyst who wrote it")
    return title, summary, author


def _cve_ids(cves: Sequence[str]) -> list[str]:
    found: list[str] = []
    for cve in cves:
        cve_id = cve.strip().upper()
        if not CVE_ID.match(cve_id):
            raise AdvisoryError(
                f"cves: {cve!r} is not a CVE id; write it as CVE-YYYY-NNNN"
            )
        if cve_id not in found:
            found.append(cve_id)
    return found


def _recipients(conn: Connection, tlp: TLP, refs: Sequence[str]) -> tuple[str, ...]:
    if tlp != TLP.RED:
        if refs:
            raise AdvisoryError(
                f"red_recipients are named but the advisory is TLP:{tlp.label}; "
                "name recipients only for a TLP:RED advisory"
            )
        return ()
    if not refs:
        raise AdvisoryError(
            "a TLP:RED advisory needs red_recipients: the organisations that "
            "may read it"
        )
    return tuple(sorted({get_org(conn, ref).id for ref in refs}))


def _check_indicators(
    conn: Connection, refs: list[str], tlp: TLP, recipients: tuple[str, ...]
) -> None:
    """Raise :class:`AdvisoryError` for an unknown or more restricted indicator."""
    if not refs:
        return
    ic = indicators.c
    rows = {
        row.stix_id: row
        for row in conn.execute(
            sa.select(ic.id, ic.stix_id, ic.tlp).where(ic.stix_id.in_(refs))
        )
    }
    missing = [ref for ref in refs if ref not in rows]
    if missing:
        raise AdvisoryError(
            f"indicator_ids: {', '.join(missing[:5])} "
            f"{'is' if len(missing) == 1 else 'are'} not stored; link only "
            "indicators the exchange holds (their STIX ids, indicator--...)"
        )
    for ref in refs:
        level = TLP(rows[ref].tlp)
        if level > tlp:
            raise AdvisoryError(
                f"indicator_ids: {ref} is TLP:{level.label}, more restricted "
                f"than the advisory's TLP:{tlp.label}; raise the advisory's TLP "
                "or leave the indicator out"
            )
        if level == TLP.RED:
            named = set(
                conn.execute(
                    sa.select(red_recipients.c.org_id).where(
                        red_recipients.c.indicator_id == rows[ref].id
                    )
                ).scalars()
            )
            unshared = sorted(set(recipients) - named)
            if unshared:
                raise AdvisoryError(
                    f"indicator_ids: {ref} is TLP:RED and not shared with "
                    f"{', '.join(unshared)}; share it first (medisac mark "
                    "--tlp red --for ORG) or leave it out"
                )
