"""Member contributions: scrub, keep the original for review, then publish.

A submission is stored twice in its ``submissions`` row: ``original`` as
received, readable by analysts only, and ``scrubbed``, with personal and
patient data in its free text redacted (:mod:`medisac.members.scrub`). The
values the member declares as indicators are never redacted. Only the
scrubbed form is ever ingested.

Submissions of trusted organisations are published at once; the others wait
in the review queue until an analyst accepts or rejects them. Published
values carry a per-organisation pseudonym as their source
(:func:`source_name`), so other members see that one member reported them,
never which.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from medisac.errors import MedisacError
from medisac.ingest.pipeline import IngestRequest, ingest
from medisac.ingest.submission import FORMAT as SUBMISSION_FORMAT
from medisac.members import audit
from medisac.members.orgs import Org
from medisac.members.scrub import scrub_json, scrub_text
from medisac.model.time import now_us
from medisac.store.engine import begin_write
from medisac.store.tables import submissions

log = logging.getLogger(__name__)


class SubmissionStatus(StrEnum):
    """The review state of a submission."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"


class Kind(StrEnum):
    """The form a submission arrived in, which decides its parser."""

    API = "submission"
    STIX = "stix"


class SubmissionNotFound(MedisacError):
    """No submission has the given id."""


@dataclass(frozen=True, slots=True)
class Submission:
    """A stored submission, with both of its bodies."""

    id: str
    org_id: str
    key_id: int | None
    received: int
    status: SubmissionStatus
    kind: Kind
    original: Any
    scrubbed: Any
    redactions: int
    note: str | None
    published: int
    rejected: int


def source_name(org_id: str) -> str:
    """Return the pseudonymous source name of an organisation's submissions.

    NOTE: the pseudonym is a hash of the organisation id, so anyone with
    an id can confirm a guess; ids are sent only to their own members.
    """
    digest = hashlib.blake2b(org_id.encode(), digest_size=5, person=b"medisac-src")
    return f"member-{digest.hexdigest()}"


# Cyber-observable types whose ``value`` is an indicator value to keep. Other
# objects' values (e-mail addresses, custom types) are scrubbed like text.
_VALUE_TYPES = frozenset({"ipv4-addr", "ipv6-addr", "domain-name", "url"})


def declared_values(body: Any, kind: Kind) -> list[str]:
    """Return the indicator values a body declares, which scrubbing keeps."""
    if not isinstance(body, dict):
        return []
    if kind is Kind.API:
        items = body.get("indicators")
        return [
            item["value"]
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict) and isinstance(item.get("value"), str)
        ]
    values = []
    for obj in body.get("objects") or []:
        if not isinstance(obj, dict):
            continue
        if obj.get("type") == "indicator" and isinstance(obj.get("pattern"), str):
            values.append(obj["pattern"])
        elif obj.get("type") in _VALUE_TYPES and isinstance(obj.get("value"), str):
            values.append(obj["value"])
    return values


def scrub_body(body: Any, kind: Kind) -> tuple[Any, int]:
    """Return ``body`` with its free text scrubbed, and the redaction count."""
    keep = declared_values(body, kind)
    scrubbed, count = scrub_json(body, keep)
    count += _scrub_tags(scrubbed, kind, keep)
    if kind is Kind.API and isinstance(scrubbed, dict):
        email = scrubbed.get("email")
        if isinstance(email, dict):
            cleaned = {}
            for field, text in email.items():
                if isinstance(text, str):
                    result = scrub_text(text, keep)
                    cleaned[field] = result.text
                    count += len(result.redactions)
                else:
                    cleaned[field] = text
            scrubbed["email"] = cleaned
    return scrubbed, count


def _scrub_tags(body: Any, kind: Kind, keep: list[str]) -> int:
    """Scrub the tags of submitted indicators, or the labels of STIX objects.

    Tags are published with the values, so a name or number in one would
    reach every member. Returns the number of redactions.
    """
    if not isinstance(body, dict):
        return 0
    key, items = (
        ("tags", body.get("indicators"))
        if kind is Kind.API
        else (
            "labels",
            body.get("objects"),
        )
    )
    count = 0
    for item in items if isinstance(items, list) else []:
        tags = item.get(key) if isinstance(item, dict) else None
        if not isinstance(tags, list):
            continue
        cleaned = []
        for tag in tags:
            if isinstance(tag, str):
                result = scrub_text(tag, keep)
                count += len(result.redactions)
                tag = result.text
            cleaned.append(tag)
        item[key] = cleaned
    return count


def submit(
    engine: Engine, org: Org, key_id: int | None, body: Any, kind: Kind
) -> Submission:
    """Store a submission, and publish it at once if ``org`` is trusted."""
    scrubbed, count = scrub_body(body, kind)
    submission_id = f"submission--{secrets.token_hex(8)}"
    with begin_write(engine) as conn:
        conn.execute(
            sa.insert(submissions).values(
                id=submission_id,
                org_id=org.id,
                key_id=key_id,
                received=now_us(),
                status=SubmissionStatus.PENDING.value,
                kind=kind.value,
                original=orjson.dumps(body).decode(),
                scrubbed=orjson.dumps(scrubbed).decode(),
                redactions=count,
            )
        )
        audit.record(
            conn,
            "submission.receive",
            submission_id,
            org_id=org.id,
            key_id=key_id,
            detail={"redactions": count, "kind": kind.value},
        )
    log.info("submission %s from %s: %d redactions", submission_id, org.id, count)
    if org.trusted:
        return publish(engine, submission_id)
    with engine.connect() as conn:
        return get_submission(conn, submission_id)


def publish(
    engine: Engine, submission_id: str, reviewer: str | None = None
) -> Submission:
    """Ingest the scrubbed form of a submission and mark it accepted.

    A submission whose every value was rejected by ingest is marked failed,
    with the reasons as its note.
    """
    with engine.connect() as conn:
        submission = get_submission(conn, submission_id)
    with tempfile.TemporaryDirectory(prefix="medisac-submission-") as tmp:
        path = Path(tmp) / f"{submission_id}.json"
        path.write_bytes(orjson.dumps(submission.scrubbed))
        summary = ingest(
            engine,
            IngestRequest(
                inputs=(path,),
                source=source_name(submission.org_id),
                format=SUBMISSION_FORMAT
                if submission.kind is Kind.API
                else submission.kind.value,
            ),
        )
    stored = summary.merge.new + summary.merge.updated + summary.merge.unchanged
    failed = stored == 0 and (summary.rejected or summary.failed)
    status = SubmissionStatus.FAILED if failed else SubmissionStatus.ACCEPTED
    reasons = [f"{item.location}: {item.reason}" for item in summary.rejections[:20]]
    reasons += [f"{item.origin}: {item.reason}" for item in summary.failed]
    with begin_write(engine) as conn:
        conn.execute(
            sa.update(submissions)
            .where(submissions.c.id == submission_id)
            .values(
                status=status.value,
                reviewed_at=now_us(),
                note="; ".join(reasons)[:2000] or None,
                published=stored,
                rejected=summary.rejected,
            )
        )
        audit.record(
            conn,
            "submission.publish",
            submission_id,
            org_id=submission.org_id,
            detail={"status": status.value, "stored": stored, "by": reviewer},
        )
    with engine.connect() as conn:
        return get_submission(conn, submission_id)


def reject(
    engine: Engine, submission_id: str, note: str, reviewer: str | None = None
) -> Submission:
    """Reject a pending submission with the analyst's ``note``."""
    with begin_write(engine) as conn:
        submission = get_submission(conn, submission_id)
        if submission.status is not SubmissionStatus.PENDING:
            raise MedisacError(
                f"submission {submission_id} is {submission.status.value}, not pending"
            )
        conn.execute(
            sa.update(submissions)
            .where(submissions.c.id == submission_id)
            .values(
                status=SubmissionStatus.REJECTED.value,
                reviewed_at=now_us(),
                note=note,
            )
        )
        audit.record(
            conn,
            "submission.reject",
            submission_id,
            org_id=submission.org_id,
            detail={"note": note, "by": reviewer},
        )
    with engine.connect() as conn:
        return get_submission(conn, submission_id)


def get_submission(conn: Connection, submission_id: str) -> Submission:
    """Return one submission; raise :class:`SubmissionNotFound` if none."""
    row = conn.execute(
        sa.select(submissions).where(submissions.c.id == submission_id)
    ).first()
    if row is None:
        raise SubmissionNotFound(
            f"no submission {submission_id!r}; `medisac review list` shows them"
        )
    return Submission(
        id=row.id,
        org_id=row.org_id,
        key_id=row.key_id,
        received=row.received,
        status=SubmissionStatus(row.status),
        kind=Kind(row.kind),
        original=orjson.loads(row.original),
        scrubbed=orjson.loads(row.scrubbed),
        redactions=row.redactions,
        note=row.note,
        published=row.published or 0,
        rejected=row.rejected or 0,
    )


def list_submissions(
    conn: Connection, status: SubmissionStatus | None = SubmissionStatus.PENDING
) -> list[Submission]:
    """Return submissions in one status (every status for None), oldest first."""
    statement = sa.select(submissions.c.id).order_by(submissions.c.received)
    if status is not None:
        statement = statement.where(submissions.c.status == status.value)
    return [get_submission(conn, row.id) for row in conn.execute(statement)]
