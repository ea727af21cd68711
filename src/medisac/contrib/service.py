"""Contributions: store a draft, list and show it, and apply an analyst's review.

A member or an analyst sends a phishing e-mail (:func:`submit_email`) or a
research report (:func:`submit_report`). Every value in the file becomes a
proposal (:mod:`medisac.contrib.draft`). The contribution is stored in three
forms: the file as received and the full analysis, both for analysts only,
and the scrubbed analysis, the only form the member reads and the only one
shared. An analyst then accepts, edits or rejects each proposal in one pass
(:func:`decide`). Accepted values are ingested through the normal pipeline
with the source ``contribution-<id>``, and their scrubbed context becomes
their description.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from medisac.contrib.draft import (
    CONTEXT,
    INDICATOR,
    Draft,
    draft_email,
    draft_report,
    shared_form,
)
from medisac.contrib.errors import (
    ContributionError,
    ContributionNotFound,
    ContributionTooLarge,
    DecisionError,
)
from medisac.contrib.mail import read_email
from medisac.contrib.reports import read_report
from medisac.enrich.benign import KnownBenign
from medisac.errors import ConfigError, NormalizationError
from medisac.ingest.pipeline import IngestRequest, ingest
from medisac.ingest.submission import FORMAT as SUBMISSION_FORMAT
from medisac.members import audit
from medisac.members.orgs import OrgNotFound, get_org
from medisac.model import TLP
from medisac.model.time import now_us
from medisac.normalize import DECLARED_TYPES, normalize
from medisac.store.engine import begin_write
from medisac.store.tables import contribution_items, contributions

log = logging.getLogger(__name__)

__all__ = [
    "ContributionSummary",
    "ContributionView",
    "DecisionResult",
    "ItemDecision",
    "ItemView",
    "decide",
    "get_contribution",
    "list_contributions",
    "max_contribution_bytes",
    "submit_email",
    "submit_report",
]

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
# The largest id a BIGINT column stores; a larger one names no contribution.
_MAX_ID = 2**63 - 1
PENDING = "pending"
REVIEWED = "reviewed"
_ACTIONS = ("accept", "reject", "edit")
_DECISION_OF = {"accept": "accepted", "reject": "rejected", "edit": "edited"}


def max_contribution_bytes() -> int:
    """Return the size limit of one contributed file, in bytes.

    ``MEDISAC_MAX_CONTRIBUTION_BYTES`` sets it; the default is 25 MiB.
    """
    text = os.environ.get("MEDISAC_MAX_CONTRIBUTION_BYTES", "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        limit = int(text)
    except ValueError:
        raise ConfigError(
            f"MEDISAC_MAX_CONTRIBUTION_BYTES={text!r} is not a whole number of bytes"
        ) from None
    if limit <= 0:
        raise ConfigError("MEDISAC_MAX_CONTRIBUTION_BYTES must be greater than 0")
    return limit


@dataclass(frozen=True, slots=True)
class ContributionSummary:
    """One contribution in a listing."""

    id: int
    org_id: str | None
    kind: str
    filename: str
    format: str
    size: int
    received: int
    status: str
    proposed: int
    set_aside: int
    pending: int
    redactions: int


@dataclass(frozen=True, slots=True)
class ItemView:
    """One proposal of a contribution and the analyst's decision on it.

    ``context_original`` is empty in a member's view.
    """

    id: int
    type: str
    value: str
    proposal: str
    confidence: int
    reason: str
    context: str
    section: str
    related: list[str]
    decision: str
    final_type: str | None
    final_value: str | None
    final_confidence: int | None
    context_original: str = ""


@dataclass(frozen=True, slots=True)
class ContributionView:
    """A contribution with its proposals.

    A member's view (``restricted`` False) has the scrubbed analysis and no
    original. An analyst's view has both analyses and the file as received.
    """

    summary: ContributionSummary
    analysis: dict[str, Any]
    items: list[ItemView]
    warnings: list[str]
    restricted: bool
    original: bytes | None = None
    original_analysis: dict[str, Any] | None = None
    reviewed_by: str | None = None


@dataclass(frozen=True, slots=True)
class ItemDecision:
    """An analyst's decision on one proposal: accept, reject or edit.

    ``edit`` replaces the value, type or confidence given, and publishes the
    result; ``accept`` may change the confidence alone.
    """

    action: Literal["accept", "reject", "edit"]
    value: str | None = None
    type: str | None = None
    confidence: int | None = None


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """The outcome of one review pass: counts of decisions and stored values."""

    contribution_id: int
    accepted: int
    edited: int
    rejected: int
    pending: int
    stored: int
    ingest_rejected: int
    status: str
    messages: list[str] = field(default_factory=list)


# -- submitting --------------------------------------------------------------------


def _check_size(data: bytes, filename: str) -> None:
    limit = max_contribution_bytes()
    if len(data) > limit:
        raise ContributionTooLarge(filename, len(data), limit)
    if not data.strip():
        raise ContributionError(filename, "the file is empty")


def _check_org(engine: Engine, org_id: str | None) -> None:
    if org_id is None:
        return
    with engine.connect() as conn:
        try:
            get_org(conn, org_id)
        except OrgNotFound as exc:
            raise ContributionError(org_id, str(exc)) from exc


def _benign(engine: Engine) -> KnownBenign:
    with engine.connect() as conn:
        return KnownBenign.load(conn)


def submit_email(
    engine: Engine, data: bytes, *, filename: str, org_id: str | None
) -> int:
    """Store a phishing e-mail as a contribution; return its id.

    Raises :class:`ContributionError` for an empty, oversized or unreadable
    file, and stores nothing then.
    """
    _check_size(data, filename)
    _check_org(engine, org_id)
    try:
        analysis = read_email(data)
        draft = draft_email(analysis, _benign(engine))
    except (ValueError, TypeError, LookupError, IndexError, AttributeError) as exc:
        log.exception("e-mail %s could not be parsed", filename)
        raise ContributionError(
            filename, f"not a readable RFC 822 message: {exc}"
        ) from exc
    except RecursionError:
        # The standard library's parser recurses once per nested part.
        log.warning("e-mail %s nests its parts too deeply to read", filename)
        raise ContributionError(
            filename,
            "its parts or attached messages are nested too deeply to read; "
            "send the innermost message on its own",
        ) from None
    return _store(engine, data, filename, org_id, "email", "eml", draft)


def submit_report(
    engine: Engine,
    data: bytes,
    *,
    filename: str,
    org_id: str | None,
    publisher: Sequence[str] = (),
) -> int:
    """Store a research report as a contribution; return its id.

    ``publisher`` names the publisher's domains, whose values are set aside
    as context; more are found in the report's copyright and contact lines.
    Raises :class:`ContributionError` for an empty, oversized, encrypted,
    image-only or unreadable file, and stores nothing then.
    """
    _check_size(data, filename)
    _check_org(engine, org_id)
    report = read_report(data, filename)
    draft = draft_report(report, _benign(engine), publisher)
    return _store(engine, data, filename, org_id, "report", report.format, draft)


def _store(
    engine: Engine,
    data: bytes,
    filename: str,
    org_id: str | None,
    kind: str,
    fmt: str,
    draft: Draft,
) -> int:
    scrubber, scrubbed, shared = shared_form(draft)
    name = Path(filename.replace("\\", "/")).name[:300] or "contribution"
    with begin_write(engine) as conn:
        contribution_id = conn.execute(
            sa.insert(contributions)
            .values(
                org_id=org_id,
                kind=kind,
                filename=name,
                format=fmt,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                received=now_us(),
                status=PENDING,
                original=data,
                analysis=orjson.dumps(draft.analysis).decode(),
                scrubbed=orjson.dumps(scrubbed).decode(),
                redactions=scrubber.count,
                warnings=orjson.dumps(draft.warnings).decode(),
            )
            .returning(contributions.c.id)
        ).scalar_one()
        rows = [
            {
                "contribution_id": contribution_id,
                "type": proposal.type,
                "value": proposal.value,
                "proposal": proposal.proposal,
                "confidence": proposal.confidence,
                "reason": proposal.reason,
                "context": item["context"],
                "context_original": proposal.context,
                "section": item["section"],
                "related": orjson.dumps(proposal.related).decode(),
                "decision": PENDING,
            }
            for proposal, item in zip(draft.proposals, shared, strict=True)
        ]
        if rows:
            conn.execute(sa.insert(contribution_items), rows)
        audit.record(
            conn,
            "contribution.receive",
            f"contribution-{contribution_id}",
            org_id=org_id,
            detail={
                "kind": kind,
                "format": fmt,
                "proposals": len(rows),
                "redactions": scrubber.count,
            },
        )
    log.info(
        "contribution %d (%s, %s): %d proposals, %d redactions",
        contribution_id,
        kind,
        fmt,
        len(rows),
        scrubber.count,
    )
    return int(contribution_id)


# -- reading -------------------------------------------------------------------------


def _counts(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[int, int, int]]:
    if not ids:
        return {}
    table = contribution_items
    rows = conn.execute(
        sa.select(
            table.c.contribution_id,
            sa.func.sum(sa.case((table.c.proposal == INDICATOR, 1), else_=0)),
            sa.func.sum(sa.case((table.c.proposal == CONTEXT, 1), else_=0)),
            sa.func.sum(sa.case((table.c.decision == PENDING, 1), else_=0)),
        )
        .where(table.c.contribution_id.in_(list(ids)))
        .group_by(table.c.contribution_id)
    )
    return {
        int(row[0]): (int(row[1] or 0), int(row[2] or 0), int(row[3] or 0))
        for row in rows
    }


def _summary(row: Any, counts: tuple[int, int, int]) -> ContributionSummary:
    return ContributionSummary(
        id=int(row.id),
        org_id=row.org_id,
        kind=row.kind,
        filename=row.filename,
        format=row.format,
        size=int(row.size),
        received=int(row.received),
        status=row.status,
        proposed=counts[0],
        set_aside=counts[1],
        pending=counts[2],
        redactions=int(row.redactions),
    )


_SUMMARY_COLUMNS = [
    contributions.c.id,
    contributions.c.org_id,
    contributions.c.kind,
    contributions.c.filename,
    contributions.c.format,
    contributions.c.size,
    contributions.c.received,
    contributions.c.status,
    contributions.c.redactions,
]


def list_contributions(
    engine: Engine, *, org_id: str | None = None, status: str | None = None
) -> list[ContributionSummary]:
    """Return contributions, the oldest first.

    ``org_id`` None lists every contribution (for analysts); otherwise only
    that organisation's own. ``status`` is ``pending`` or ``reviewed``.
    """
    statement = sa.select(*_SUMMARY_COLUMNS).order_by(contributions.c.id)
    if org_id is not None:
        statement = statement.where(contributions.c.org_id == org_id)
    if status is not None:
        if status not in (PENDING, REVIEWED):
            raise DecisionError(f"unknown status {status!r}; use pending or reviewed")
        statement = statement.where(contributions.c.status == status)
    with engine.connect() as conn:
        rows = list(conn.execute(statement))
        counts = _counts(conn, [int(row.id) for row in rows])
    return [_summary(row, counts.get(int(row.id), (0, 0, 0))) for row in rows]


def _item(row: Any, restricted: bool) -> ItemView:
    return ItemView(
        id=int(row.id),
        type=row.type,
        value="[REDACTED:email]"
        if (not restricted and row.type == "email" and row.proposal == CONTEXT)
        else row.value,
        proposal=row.proposal,
        confidence=int(row.confidence),
        reason=row.reason,
        context=row.context,
        section=row.section,
        related=list(orjson.loads(row.related)),
        decision=row.decision,
        final_type=row.final_type,
        final_value=row.final_value,
        final_confidence=row.final_confidence,
        context_original=row.context_original if restricted else "",
    )


def get_contribution(
    engine: Engine, contribution_id: int, *, org_id: str | None
) -> ContributionView | None:
    """Return one contribution, or None when it is missing or not the caller's.

    With ``org_id`` the view is that member's, scrubbed, and only of its own
    contributions; with None it is the analyst's view with the original.
    """
    restricted = org_id is None
    if not 0 < contribution_id <= _MAX_ID:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(contributions).where(contributions.c.id == contribution_id)
        ).first()
        if row is None or (org_id is not None and row.org_id != org_id):
            return None
        items = list(
            conn.execute(
                sa.select(contribution_items)
                .where(contribution_items.c.contribution_id == contribution_id)
                .order_by(contribution_items.c.id)
            )
        )
        counts = _counts(conn, [contribution_id]).get(contribution_id, (0, 0, 0))
    return ContributionView(
        summary=_summary(row, counts),
        analysis=orjson.loads(row.scrubbed),
        items=[_item(item, restricted) for item in items],
        warnings=list(orjson.loads(row.warnings)),
        restricted=restricted,
        original=bytes(row.original) if restricted else None,
        original_analysis=orjson.loads(row.analysis) if restricted else None,
        reviewed_by=row.reviewed_by if restricted else None,
    )


# -- review ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Final:
    item_id: int
    decision: str
    type: str | None
    value: str | None
    confidence: int | None
    context: str
    related: list[str]


def _checked(row: Any, decision: ItemDecision) -> _Final:
    where = f"item {row.id}"
    if decision.action not in _ACTIONS:
        raise DecisionError(
            f"{where}: unknown action {decision.action!r}; use accept, reject or edit"
        )
    if row.decision != PENDING:
        raise DecisionError(
            f"{where} was already {row.decision}; each item is decided once"
        )
    confidence = decision.confidence
    if confidence is not None and (
        isinstance(confidence, bool) or not 0 <= confidence <= 100
    ):
        raise DecisionError(
            f"{where}: confidence {confidence!r} is not a whole number from 0 to 100"
        )
    related = list(orjson.loads(row.related))
    if decision.action == "reject":
        return _Final(row.id, "rejected", None, None, None, row.context, related)
    if decision.action == "accept" and (
        decision.value is not None or decision.type is not None
    ):
        raise DecisionError(
            f"{where}: 'accept' takes only a confidence; use 'edit' to change "
            "the value or type"
        )
    value = decision.value if decision.value is not None else row.value
    kind = decision.type if decision.type is not None else row.type
    if kind not in DECLARED_TYPES:
        raise DecisionError(
            f"{where}: unknown type {kind!r}; use one of "
            + ", ".join(sorted(DECLARED_TYPES))
        )
    try:
        normalised = normalize(value, kind)
    except NormalizationError as exc:
        raise DecisionError(
            f"{where}: {value!r} is not a valid {kind}: {exc.reason}"
        ) from None
    final_value = normalised[0].value
    final_type = normalised[0].type.value
    final_confidence = confidence if confidence is not None else int(row.confidence)
    return _Final(
        row.id,
        _DECISION_OF[decision.action],
        final_type,
        final_value,
        final_confidence,
        row.context,
        related,
    )


def decide(
    engine: Engine,
    contribution_id: int,
    decisions: Mapping[int, ItemDecision],
    *,
    analyst: str,
    tlp: TLP = TLP.GREEN,
) -> DecisionResult:
    """Apply an analyst's decisions to a contribution's items in one pass.

    Every decision is checked before anything changes: an unknown item, an
    item decided before or an invalid edited value raises
    :class:`DecisionError` and leaves the contribution as it was. Accepted and
    edited values are then ingested with the source ``contribution-<id>``.
    """
    if not 0 < contribution_id <= _MAX_ID:
        raise ContributionNotFound(f"no contribution {contribution_id}")
    with engine.connect() as conn:
        head = conn.execute(
            sa.select(
                contributions.c.id,
                contributions.c.org_id,
                contributions.c.kind,
                contributions.c.filename,
            ).where(contributions.c.id == contribution_id)
        ).first()
        if head is None:
            raise ContributionNotFound(
                f"no contribution {contribution_id}; "
                "`medisac review contribution list` shows them"
            )
        rows = {
            int(row.id): row
            for row in conn.execute(
                sa.select(contribution_items).where(
                    contribution_items.c.contribution_id == contribution_id
                )
            )
        }
    finals = []
    for item_id, decision in decisions.items():
        row = rows.get(int(item_id))
        if row is None:
            raise DecisionError(f"contribution {contribution_id} has no item {item_id}")
        finals.append(_checked(row, decision))
    published = [final for final in finals if final.decision in ("accepted", "edited")]
    stored, ingest_rejected, messages = _publish(
        engine, contribution_id, head.kind, published, tlp
    )
    at = now_us()
    with begin_write(engine) as conn:
        for final in finals:
            conn.execute(
                sa.update(contribution_items)
                .where(contribution_items.c.id == final.item_id)
                .values(
                    decision=final.decision,
                    final_type=final.type,
                    final_value=final.value,
                    final_confidence=final.confidence,
                    decided_by=analyst,
                    decided_at=at,
                )
            )
        pending = conn.execute(
            sa.select(sa.func.count())
            .select_from(contribution_items)
            .where(
                contribution_items.c.contribution_id == contribution_id,
                contribution_items.c.decision == PENDING,
            )
        ).scalar_one()
        status = PENDING if pending else REVIEWED
        conn.execute(
            sa.update(contributions)
            .where(contributions.c.id == contribution_id)
            .values(status=status, reviewed_by=analyst, reviewed_at=at)
        )
        tally = {
            name: sum(1 for final in finals if final.decision == name)
            for name in ("accepted", "edited", "rejected")
        }
        audit.record(
            conn,
            "contribution.review",
            f"contribution-{contribution_id}",
            org_id=head.org_id,
            detail={**tally, "stored": stored, "by": analyst},
        )
    return DecisionResult(
        contribution_id=contribution_id,
        accepted=tally["accepted"],
        edited=tally["edited"],
        rejected=tally["rejected"],
        pending=int(pending),
        stored=stored,
        ingest_rejected=ingest_rejected,
        status=status,
        messages=messages,
    )


def source_for(contribution_id: int) -> str:
    """Return the source name that accepted values of a contribution carry."""
    return f"contribution-{contribution_id}"


def _publish(
    engine: Engine, contribution_id: int, kind: str, finals: Sequence[_Final], tlp: TLP
) -> tuple[int, int, list[str]]:
    if not finals:
        return 0, 0, []
    origin = "phishing e-mail" if kind == "email" else "research report"
    body = {
        "description": f"Reviewed values from a contributed {origin}.",
        "tlp": tlp.label,
        "indicators": [
            {
                "value": final.value,
                "type": final.type,
                "confidence": final.confidence,
                "description": final.context[:2000],
                "tags": final.related[:10],
            }
            for final in finals
        ],
    }
    with tempfile.TemporaryDirectory(prefix="medisac-contribution-") as tmp:
        path = Path(tmp) / f"contribution-{contribution_id}.json"
        path.write_bytes(orjson.dumps(body))
        summary = ingest(
            engine,
            IngestRequest(
                inputs=(path,),
                source=source_for(contribution_id),
                format=SUBMISSION_FORMAT,
                tlp=tlp,
            ),
        )
    stored = summary.merge.new + summary.merge.updated + summary.merge.unchanged
    messages = [f"{item.location}: {item.reason}" for item in summary.rejections[:20]]
    messages += [f"{item.origin}: {item.reason}" for item in summary.failed]
    return stored, summary.rejected, messages
