"""Submissions pages: a member's own submissions, e-mails and reports, and their review.

Members forward a phishing e-mail or upload a research report; the values
found in it wait for an analyst (:mod:`medisac.contrib.service`). A member
can read only its own contributions, scrubbed of personal data; analysts see
the file as received and decide on each proposed value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

import anyio
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Engine

from medisac.api.params import RowId
from medisac.contrib.errors import ContributionNotFound, DecisionError
from medisac.contrib.service import (
    ItemDecision,
    decide,
    get_contribution,
    list_contributions,
    max_contribution_bytes,
    submit_email,
    submit_report,
)
from medisac.errors import MedisacError
from medisac.members.submissions import get_submission
from medisac.model import TLP
from medisac.portal.sessions import Session
from medisac.portal.web import (
    bad_request,
    csrf_checked,
    member,
    member_admin,
    not_found,
    portal_of,
    redirect,
    staff,
)
from medisac.store.tables import submissions

Member = Annotated[Session, Depends(member)]
AdminPost = Annotated[Session, Depends(csrf_checked(member_admin))]
Staff = Annotated[Session, Depends(staff)]
StaffPost = Annotated[Session, Depends(csrf_checked(staff))]

_ACTIONS = ("accept", "reject", "edit")


def add_routes(app: FastAPI) -> None:
    """Add the submission pages of members and analysts to ``app``."""

    @app.get("/submissions", response_class=HTMLResponse)
    def submissions_page(request: Request, session: Member) -> Response:
        portal = portal_of(request)
        org_id = str(session.user.org_id)
        return portal.render(
            request,
            "submissions.html",
            session,
            api_submissions=_api_submissions(portal.engine, org_id),
            contributions=list_contributions(portal.engine, org_id=org_id),
            max_bytes=max_contribution_bytes(),
        )

    @app.post("/submissions/{kind}")
    async def contribute(
        request: Request, session: AdminPost, kind: str, file: UploadFile
    ) -> Response:
        if kind not in ("email", "report"):
            raise not_found("contributions are e-mails or reports")
        limit = max_contribution_bytes()
        data = await file.read(limit + 1)
        name = file.filename or f"{kind}.bin"
        submit = submit_email if kind == "email" else submit_report
        engine = portal_of(request).engine

        def store() -> int:
            return submit(engine, data, filename=name, org_id=session.user.org_id)

        try:
            contribution_id = await anyio.to_thread.run_sync(store)
        except MedisacError as exc:
            raise bad_request(str(exc)) from None
        return redirect(f"/submissions/contributions/{contribution_id}")

    @app.get(
        "/submissions/contributions/{contribution_id}", response_class=HTMLResponse
    )
    def contribution_page(
        request: Request, session: Member, contribution_id: RowId
    ) -> Response:
        portal = portal_of(request)
        view = get_contribution(
            portal.engine, contribution_id, org_id=str(session.user.org_id)
        )
        if view is None:
            raise not_found(f"no contribution {contribution_id} of your organisation")
        return portal.render(request, "contribution.html", session, view=view)

    @app.get("/submissions/api/{submission_id}", response_class=HTMLResponse)
    def api_submission_page(
        request: Request, session: Member, submission_id: str
    ) -> Response:
        portal = portal_of(request)
        with portal.engine.connect() as conn:
            found = conn.execute(
                sa.select(submissions.c.id).where(
                    submissions.c.id == submission_id,
                    submissions.c.org_id == session.user.org_id,
                )
            ).first()
            if found is None:
                raise not_found(f"no submission {submission_id} of your organisation")
            item = get_submission(conn, submission_id)
        return portal.render(request, "api_submission.html", session, item=item)

    @app.get("/analyst/contributions/{contribution_id}", response_class=HTMLResponse)
    def contribution_review(
        request: Request, session: Staff, contribution_id: RowId
    ) -> Response:
        portal = portal_of(request)
        view = get_contribution(portal.engine, contribution_id, org_id=None)
        if view is None:
            raise not_found(f"no contribution {contribution_id}")
        original = None
        if view.original is not None:
            original = view.original[:200_000].decode("utf-8", errors="replace")
        return portal.render(
            request,
            "analyst/contribution.html",
            session,
            view=view,
            original=original,
            result=request.query_params.get("result"),
            levels=SHARED_LEVELS,
        )

    @app.post("/analyst/contributions/{contribution_id}")
    async def contribution_decide(
        request: Request, session: StaffPost, contribution_id: RowId
    ) -> Response:
        form = await request.form()
        fields = {key: str(value) for key, value in form.items()}
        decisions = _decisions(fields)
        if not decisions:
            raise bad_request("choose accept, reject or edit for at least one value")
        tlp = _shared_level(fields.get("tlp", "GREEN"))
        engine = portal_of(request).engine

        def apply() -> Any:
            return decide(
                engine,
                contribution_id,
                decisions,
                analyst=session.user.email,
                tlp=tlp,
            )

        try:
            result = await anyio.to_thread.run_sync(apply)
        except ContributionNotFound:
            raise not_found(f"no contribution {contribution_id}") from None
        except (DecisionError, MedisacError) as exc:
            raise bad_request(str(exc)) from None
        summary = (
            f"{result.accepted} accepted, {result.edited} edited, "
            f"{result.rejected} rejected, {result.stored} stored"
        )
        return redirect(f"/analyst/contributions/{contribution_id}?result={summary}")


# Levels an analyst may share accepted values at. RED needs named
# recipients, which an analyst sets per indicator on its page.
SHARED_LEVELS = [level for level in TLP if level is not TLP.RED]


def _shared_level(text: str) -> TLP:
    try:
        level = TLP.parse(text)
    except ValueError:
        raise bad_request(f"invalid TLP level {text!r}") from None
    if level not in SHARED_LEVELS:
        raise bad_request(
            "accepted values cannot be shared at TLP:RED from here; accept them "
            "at AMBER+STRICT, then mark each with its recipients"
        )
    return level


def _decisions(fields: dict[str, str]) -> dict[int, ItemDecision]:
    """Read the ``action-<item id>`` fields and the edits beside them."""
    decisions = {}
    for name, action in fields.items():
        if not name.startswith("action-") or not action:
            continue
        suffix = name.removeprefix("action-")
        if not suffix.isdigit():
            raise bad_request(f"invalid field {name!r}")
        if action not in _ACTIONS:
            raise bad_request(f"unknown action {action!r} for item {suffix}")
        confidence_text = fields.get(f"confidence-{suffix}", "").strip()
        confidence = None
        if confidence_text:
            if not confidence_text.isdigit() or int(confidence_text) > 100:
                raise bad_request(
                    f"item {suffix}: confidence {confidence_text!r} is not 0-100"
                )
            confidence = int(confidence_text)
        edit = action == "edit"
        decisions[int(suffix)] = ItemDecision(
            action=cast(Literal["accept", "reject", "edit"], action),
            value=(fields.get(f"value-{suffix}") or None) if edit else None,
            type=(fields.get(f"type-{suffix}") or None) if edit else None,
            confidence=confidence,
        )
    return decisions


def _api_submissions(engine: Engine, org_id: str) -> list[Any]:
    sc = submissions.c
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(sc.id, sc.received, sc.status, sc.kind, sc.published, sc.note)
                .where(sc.org_id == org_id)
                .order_by(sc.received.desc())
                .limit(200)
            ).all()
        )
