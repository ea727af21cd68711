"""Analyst pages: feed health, review queue, curation, members, advisories."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.engine import Engine

from medisac.advisories import AdvisoryError, publish_advisory
from medisac.contrib.service import ContributionSummary, list_contributions
from medisac.errors import MedisacError
from medisac.feeds.registry import (
    Feed,
    RunRecord,
    format_duration,
    last_runs,
    list_feeds,
)
from medisac.feeds.runner import FAILED, PARTIAL
from medisac.members.orgs import OrgNotFound, get_org, list_orgs, update_org
from medisac.members.submissions import (
    SubmissionNotFound,
    SubmissionStatus,
    get_submission,
    list_submissions,
    publish,
    reject,
)
from medisac.members.tiers import TIERS
from medisac.model import TLP
from medisac.model.time import now_us
from medisac.portal.curation import CurationError, apply_decision
from medisac.portal.sessions import Session
from medisac.portal.users import Role, UserError, add_user, list_users
from medisac.portal.web import (
    bad_request,
    csrf_checked,
    not_found,
    operator,
    portal_of,
    redirect,
    staff,
)
from medisac.store.engine import begin_write

log = logging.getLogger(__name__)

Staff = Annotated[Session, Depends(staff)]
StaffPost = Annotated[Session, Depends(csrf_checked(staff))]
OperatorPost = Annotated[Session, Depends(csrf_checked(operator))]

# A feed whose last success is older than this many intervals is stale.
STALE_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """One feed and how its recent runs went."""

    feed: Feed
    last: RunRecord | None
    status: str
    every: str


def _health(feed: Feed, runs: list[RunRecord], now: int) -> FeedHealth:
    last = runs[0] if runs else None
    if not feed.enabled:
        status = "disabled"
    elif last is None:
        status = "never run"
    elif last.outcome == FAILED:
        status = "failing"
    elif last.outcome == PARTIAL:
        status = "partly failing"
    elif (
        feed.every_seconds
        and feed.last_success is not None
        and now - feed.last_success > STALE_INTERVALS * feed.every_seconds * 1_000_000
    ):
        status = "stale"
    else:
        status = "healthy"
    return FeedHealth(feed, last, status, format_duration(feed.every_seconds))


def add_routes(app: FastAPI) -> None:
    """Add the analyst and operator pages to ``app``."""
    _add_feeds_and_review(app)
    _add_curation(app)
    _add_members(app)
    _add_advisories(app)


def _add_feeds_and_review(app: FastAPI) -> None:
    @app.get("/analyst/feeds", response_class=HTMLResponse)
    def feeds_health(request: Request, session: Staff) -> Response:
        portal = portal_of(request)
        now = now_us()
        with portal.engine.connect() as conn:
            health = [
                _health(feed, last_runs(conn, feed.id), now)
                for feed in list_feeds(conn)
            ]
        return portal.render(request, "analyst/feeds.html", session, feeds=health)

    @app.get("/analyst/review", response_class=HTMLResponse)
    def review_queue(request: Request, session: Staff) -> Response:
        portal = portal_of(request)
        with portal.engine.connect() as conn:
            pending = list_submissions(conn, SubmissionStatus.PENDING)
            names = {org.id: org.name for org in list_orgs(conn)}
        contributions = _contributions(portal.engine)
        return portal.render(
            request,
            "analyst/review.html",
            session,
            pending=pending,
            names=names,
            contributions=contributions,
        )

    @app.get("/analyst/review/{submission_id}", response_class=HTMLResponse)
    def review_item(request: Request, session: Staff, submission_id: str) -> Response:
        portal = portal_of(request)
        with portal.engine.connect() as conn:
            try:
                item = get_submission(conn, submission_id)
            except SubmissionNotFound:
                raise not_found(f"no submission {submission_id}") from None
            org = get_org(conn, item.org_id)
        return portal.render(
            request, "analyst/submission.html", session, item=item, org=org
        )

    @app.post("/analyst/review/{submission_id}")
    def review_decide(
        request: Request,
        session: StaffPost,
        submission_id: str,
        decision: Annotated[str, Form()],
        note: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        portal = portal_of(request)
        reviewer = session.user.email
        try:
            if decision == "accept":
                publish(portal.engine, submission_id, reviewer)
            elif decision == "reject":
                if not note.strip():
                    raise bad_request("a rejection needs a note for the member")
                reject(portal.engine, submission_id, note.strip(), reviewer)
            else:
                raise bad_request(
                    f"unknown decision {decision!r}; use accept or reject"
                )
        except SubmissionNotFound:
            raise not_found(f"no submission {submission_id}") from None
        except MedisacError as exc:
            raise bad_request(str(exc)) from None
        return redirect(f"/analyst/review/{submission_id}")


def _contributions(engine: Engine) -> list[ContributionSummary]:
    """Return the contributions waiting for review."""
    return list_contributions(engine, org_id=None, status="pending")


def _add_curation(app: FastAPI) -> None:
    @app.post("/analyst/indicators/{stix_id}")
    def curate(
        request: Request,
        session: StaffPost,
        stix_id: str,
        action: Annotated[str, Form()],
        value: Annotated[str, Form(max_length=40)] = "",
        recipients: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        portal = portal_of(request)
        names = [part.strip() for part in recipients.split(",") if part.strip()]
        try:
            with begin_write(portal.engine) as conn:
                named = [get_org(conn, ref).id for ref in names]
                apply_decision(
                    conn,
                    stix_id,
                    action,
                    value=value,
                    recipients=named,
                    analyst=session.user.email,
                )
        except (CurationError, OrgNotFound) as exc:
            raise bad_request(str(exc)) from None
        return redirect(f"/indicators/{stix_id}?curated={action}")


def _add_members(app: FastAPI) -> None:
    @app.get("/analyst/members", response_class=HTMLResponse)
    def members_page(request: Request, session: Staff) -> Response:
        portal = portal_of(request)
        with portal.engine.connect() as conn:
            orgs = list_orgs(conn)
            users = list_users(conn)
        return portal.render(
            request,
            "analyst/members.html",
            session,
            orgs=orgs,
            users=users,
            tiers=list(TIERS),
            levels=[level for level in TLP if level is not TLP.RED],
            roles=list(Role),
        )

    @app.post("/analyst/members/{org_id}")
    def members_update(
        request: Request,
        session: StaffPost,
        org_id: str,
        tier: Annotated[str, Form()],
        clearance: Annotated[str, Form()],
        trusted: Annotated[bool, Form()] = False,
    ) -> Response:
        portal = portal_of(request)
        if tier not in TIERS:
            raise bad_request(f"unknown tier {tier!r}; use one of {', '.join(TIERS)}")
        try:
            level = TLP.parse(clearance)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        if level is TLP.RED:
            raise bad_request("a clearance is at most AMBER+STRICT")
        try:
            with begin_write(portal.engine) as conn:
                update_org(conn, org_id, tier=tier, clearance=level, trusted=trusted)
        except OrgNotFound:
            raise not_found(f"no organisation {org_id}") from None
        log.info("organisation %s changed by user %d", org_id, session.user.id)
        return redirect("/analyst/members")

    @app.post("/analyst/users")
    def users_add(
        request: Request,
        session: OperatorPost,
        email: Annotated[str, Form(max_length=254)],
        name: Annotated[str, Form(max_length=200)],
        role: Annotated[str, Form()],
        password: Annotated[str, Form(max_length=1024)],
        org_id: Annotated[str, Form()] = "",
    ) -> Response:
        portal = portal_of(request)
        try:
            chosen = Role(role)
        except ValueError:
            raise bad_request(f"unknown role {role!r}") from None
        try:
            with begin_write(portal.engine) as conn:
                add_user(
                    conn,
                    email,
                    password,
                    name=name,
                    role=chosen,
                    org_id=org_id or None,
                )
        except (UserError, OrgNotFound) as exc:
            raise bad_request(str(exc)) from None
        return redirect("/analyst/members")


def _add_advisories(app: FastAPI) -> None:
    @app.get("/analyst/advisories/new", response_class=HTMLResponse)
    def advisory_form(request: Request, session: Staff) -> Response:
        portal = portal_of(request)
        return portal.render(
            request, "analyst/advisory_form.html", session, levels=list(TLP), form={}
        )

    @app.post("/analyst/advisories", response_model=None)
    def advisory_publish(
        request: Request,
        session: StaffPost,
        title: Annotated[str, Form(max_length=300)],
        summary: Annotated[str, Form(max_length=20_000)],
        tlp: Annotated[str, Form()],
        indicators: Annotated[str, Form(max_length=100_000)] = "",
        cves: Annotated[str, Form(max_length=20_000)] = "",
        recipients: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        portal = portal_of(request)
        form = {
            "title": title,
            "summary": summary,
            "tlp": tlp,
            "indicators": indicators,
            "cves": cves,
            "recipients": recipients,
        }
        try:
            level = TLP.parse(tlp)
            stix_id = publish_advisory(
                portal.engine,
                title=title,
                summary=summary,
                indicator_ids=indicators.split(),
                cves=cves.replace(",", " ").split(),
                tlp=level,
                author=session.user.name,
                red_recipients=[
                    part.strip() for part in recipients.split(",") if part.strip()
                ],
            )
        except (AdvisoryError, OrgNotFound, ValueError) as exc:
            return portal.render(
                request,
                "analyst/advisory_form.html",
                session,
                status=400,
                levels=list(TLP),
                form=form,
                error=str(exc),
            )
        return redirect(f"/advisories/{stix_id}")
