"""JSON API: ``/api/v1/contributions``, phishing e-mails and reports for review.

- ``POST /contributions/email`` and ``POST /contributions/report`` take the
  file as the raw request body (``?filename=`` names it) and need the
  ``submit`` scope. A member's key contributes for its organisation; an
  operator key contributes for the exchange's analysts.
- ``GET /contributions`` and ``GET /contributions/{id}`` list and show
  contributions. A member reads only its own, scrubbed. An operator key
  reads every contribution with the analysis as received.
- ``POST /contributions/{id}/review`` applies an analyst's decisions in one
  pass and needs an operator key (the ``admin`` scope, no organisation).

A body over the contribution size limit gets 413 before it is read whole.
"""

# No "from __future__ import annotations": FastAPI reads the Depends() in the
# route signatures at run time, and they name locals of create_contrib_router.
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from medisac.api.params import RowId
from medisac.contrib.errors import (
    ContributionError,
    ContributionNotFound,
    ContributionTooLarge,
    DecisionError,
)
from medisac.contrib.service import (
    ContributionSummary,
    ContributionView,
    ItemDecision,
    decide,
    get_contribution,
    list_contributions,
    max_contribution_bytes,
    submit_email,
    submit_report,
)
from medisac.errors import TaxiiError
from medisac.members.gate import Gate, forbidden
from medisac.model import TLP
from medisac.store.keys import KeyRow


class Contribution(BaseModel):
    """A contribution in a listing."""

    id: int
    organisation: str | None
    kind: str
    filename: str
    format: str
    size: int
    received: int = Field(description="Microseconds since the epoch, UTC.")
    status: str
    proposed: int
    set_aside: int
    pending: int
    redactions: int


class Item(BaseModel):
    """One proposed or set-aside value and its review."""

    id: int
    type: str
    value: str
    proposal: Literal["indicator", "context"]
    confidence: int
    reason: str
    context: str
    section: str
    related: list[str]
    decision: str
    final_type: str | None = None
    final_value: str | None = None
    final_confidence: int | None = None
    context_original: str | None = None


class ContributionDetail(BaseModel):
    """A contribution with its analysis and items."""

    contribution: Contribution
    analysis: dict[str, Any]
    original_analysis: dict[str, Any] | None = None
    items: list[Item]
    warnings: list[str]


class Decision(BaseModel):
    """An analyst's decision on one item."""

    action: Literal["accept", "reject", "edit"]
    value: str | None = None
    type: str | None = None
    confidence: int | None = Field(default=None, ge=0, le=100)


class ReviewBody(BaseModel):
    """Decisions on a contribution's items, keyed by item id."""

    decisions: dict[int, Decision]
    analyst: str = Field(min_length=1, max_length=200)
    tlp: str = "green"


class ReviewResult(BaseModel):
    """The outcome of a review pass."""

    contribution: int
    accepted: int
    edited: int
    rejected: int
    pending: int
    stored: int
    ingest_rejected: int
    status: str
    messages: list[str]


def _contribution(summary: ContributionSummary) -> Contribution:
    return Contribution(
        id=summary.id,
        organisation=summary.org_id,
        kind=summary.kind,
        filename=summary.filename,
        format=summary.format,
        size=summary.size,
        received=summary.received,
        status=summary.status,
        proposed=summary.proposed,
        set_aside=summary.set_aside,
        pending=summary.pending,
        redactions=summary.redactions,
    )


def _detail(view: ContributionView) -> ContributionDetail:
    return ContributionDetail(
        contribution=_contribution(view.summary),
        analysis=view.analysis,
        original_analysis=view.original_analysis,
        items=[
            Item(
                id=item.id,
                type=item.type,
                value=item.value,
                proposal="indicator" if item.proposal == "indicator" else "context",
                confidence=item.confidence,
                reason=item.reason,
                context=item.context,
                section=item.section,
                related=item.related,
                decision=item.decision,
                final_type=item.final_type,
                final_value=item.final_value,
                final_confidence=item.final_confidence,
                context_original=item.context_original if view.restricted else None,
            )
            for item in view.items
        ],
        warnings=view.warnings,
    )


def _bad(description: str, status: int = 400) -> TaxiiError:
    titles = {400: "Bad Request", 404: "Not Found", 413: "Payload Too Large"}
    return TaxiiError(status, titles.get(status, "Bad Request"), description)


async def _read_body(request: Request, filename: str) -> bytes:
    limit = max_contribution_bytes()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _bad(str(ContributionTooLarge(filename, int(declared), limit)), 413)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _bad(str(ContributionTooLarge(filename, size, limit)), 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _raw_body(*media_types: str) -> dict[str, Any]:
    """Return the OpenAPI request body of a route that reads the raw file."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    content = {media_type: binary for media_type in media_types}
    content["application/octet-stream"] = binary
    return {"requestBody": {"required": True, "content": content}}


def create_contrib_router(engine: Engine, gate: Gate) -> APIRouter:
    """Build the contribution routes of the JSON API."""
    router = APIRouter(tags=["contributions"])
    Submitter = Annotated[KeyRow, Depends(gate.require("submit", "submit"))]
    Reader = Annotated[KeyRow, Depends(gate.require("api", "read"))]
    Filename = Annotated[
        str, Query(min_length=1, max_length=300, description="The file's name.")
    ]

    def owner(key: KeyRow) -> str | None:
        if key.org_id is None and not key.has_scope("admin"):
            raise forbidden(
                "this key belongs to no organisation and lacks the admin scope; "
                "use a member's key or the operator key"
            )
        return key.org_id

    def created(contribution_id: int, key: KeyRow) -> ContributionDetail:
        view = get_contribution(engine, contribution_id, org_id=key.org_id)
        assert view is not None
        return _detail(view)

    @router.post(
        "/contributions/email",
        response_model=ContributionDetail,
        status_code=201,
        openapi_extra=_raw_body("message/rfc822"),
    )
    async def post_email(
        key: Submitter, request: Request, filename: Filename = "message.eml"
    ) -> ContributionDetail:
        """Send a phishing e-mail (RFC 822, as a forwarded .eml or attached)."""
        org_id = owner(key)
        data = await _read_body(request, filename)
        try:
            contribution_id = submit_email(
                engine, data, filename=filename, org_id=org_id
            )
        except ContributionError as exc:
            raise _bad(str(exc)) from None
        return created(contribution_id, key)

    @router.post(
        "/contributions/report",
        response_model=ContributionDetail,
        status_code=201,
        openapi_extra=_raw_body(
            "application/pdf", "text/html", "text/markdown", "text/plain"
        ),
    )
    async def post_report(
        key: Submitter,
        request: Request,
        filename: Filename = "report.txt",
        publisher: Annotated[
            list[str] | None,
            Query(description="Domains of the publisher, set aside as context."),
        ] = None,
    ) -> ContributionDetail:
        """Send a research report: PDF, HTML, Markdown or plain text."""
        org_id = owner(key)
        data = await _read_body(request, filename)
        try:
            contribution_id = submit_report(
                engine,
                data,
                filename=filename,
                org_id=org_id,
                publisher=publisher or (),
            )
        except ContributionError as exc:
            raise _bad(str(exc)) from None
        return created(contribution_id, key)

    @router.get("/contributions", response_model=list[Contribution])
    def get_contributions(
        key: Reader,
        status: Annotated[Literal["pending", "reviewed"] | None, Query()] = None,
    ) -> list[Contribution]:
        """List the caller's contributions, or every one for an operator key."""
        org_id = owner(key)
        found = list_contributions(engine, org_id=org_id, status=status)
        return [_contribution(item) for item in found]

    @router.get("/contributions/{contribution_id}", response_model=ContributionDetail)
    def get_one(key: Reader, contribution_id: RowId) -> ContributionDetail:
        """Return one contribution with its proposals."""
        org_id = owner(key)
        view = get_contribution(engine, contribution_id, org_id=org_id)
        if view is None:
            raise _bad(f"no contribution {contribution_id} of this organisation", 404)
        return _detail(view)

    @router.post("/contributions/{contribution_id}/review", response_model=ReviewResult)
    def post_review(
        key: Submitter, contribution_id: RowId, body: Annotated[ReviewBody, Body()]
    ) -> ReviewResult:
        """Accept, edit or reject a contribution's items in one pass."""
        if not key.is_operator:
            raise forbidden("only the exchange's analysts review contributions")
        try:
            level = TLP.parse(body.tlp)
        except ValueError as exc:
            raise _bad(f"tlp: {exc}") from None
        decisions = {
            item_id: ItemDecision(
                decision.action,
                value=decision.value,
                type=decision.type,
                confidence=decision.confidence,
            )
            for item_id, decision in body.decisions.items()
        }
        try:
            result = decide(
                engine, contribution_id, decisions, analyst=body.analyst, tlp=level
            )
        except ContributionNotFound as exc:
            raise _bad(str(exc), 404) from None
        except DecisionError as exc:
            raise _bad(str(exc)) from None
        return ReviewResult(
            contribution=result.contribution_id,
            accepted=result.accepted,
            edited=result.edited,
            rejected=result.rejected,
            pending=result.pending,
            stored=result.stored,
            ingest_rejected=result.ingest_rejected,
            status=result.status,
            messages=result.messages,
        )

    return router
