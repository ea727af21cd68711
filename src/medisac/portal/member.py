"""Member pages: dashboard, search, indicators, feeds, keys, inventory, hunts, help."""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from medisac.advisories import get_advisory, list_advisories
from medisac.api.params import RowId
from medisac.errors import MedisacError, NormalizationError
from medisac.members import audit
from medisac.members.orgs import get_org
from medisac.members.reports import UnknownIndicator, report
from medisac.members.sightings import ReportKind
from medisac.model.time import now_us
from medisac.portal import assistance, charts
from medisac.portal.feedhelp import allowed_links, feed_url
from medisac.portal.hunts import MAX_UPLOAD_BYTES, get_hunt, list_hunts
from medisac.portal.indicators import (
    active_counts,
    get_detail,
    recent,
    search,
)
from medisac.portal.sessions import Session
from medisac.portal.web import (
    bad_request,
    csrf_checked,
    member,
    member_admin,
    not_found,
    portal_of,
    redirect,
    signed_in,
)
from medisac.store.engine import begin_write
from medisac.store.keys import (
    check_scopes,
    create_key,
    list_keys,
    resolve_key_id,
    revoke_key,
)
from medisac.vulns.inventory import (
    InventoryError,
    list_inventory,
    read_inventory,
    store_inventory,
)
from medisac.vulns.match import matches_for_org

log = logging.getLogger(__name__)

SignedIn = Annotated[Session, Depends(signed_in)]
Member = Annotated[Session, Depends(member)]
MemberPost = Annotated[Session, Depends(csrf_checked(member))]
AdminPost = Annotated[Session, Depends(csrf_checked(member_admin))]
Admin = Annotated[Session, Depends(member_admin)]

# Largest inventory file the inventory page reads.
MAX_INVENTORY_BYTES = 20 * 1024 * 1024
_KEY_DAYS = (30, 90, 365)


def add_routes(app: FastAPI) -> None:
    """Add the member pages (and the pages every signed-in user shares) to ``app``."""
    _add_reading(app)
    _add_feeds_and_keys(app)
    _add_inventory_and_hunts(app)
    _add_assistance(app)


def _add_reading(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse)
    def dashboard(request: Request, session: SignedIn) -> Response:
        portal = portal_of(request)
        audience = session.user.audience
        now = now_us()
        with portal.engine.connect() as conn:
            total, health = active_counts(conn, audience)
            context: dict[str, Any] = {
                "total": total,
                "healthcare_total": health,
                "newest": recent(conn, audience),
                "newest_healthcare": recent(conn, audience, healthcare=True),
                "charts": [
                    (title, series.total, charts.bar_chart(series, title))
                    for title, series in (
                        (
                            "New indicators per day",
                            charts.new_indicators(conn, audience, now),
                        ),
                        (
                            "New healthcare indicators per day",
                            charts.healthcare_indicators(conn, audience, now),
                        ),
                        (
                            "Sightings reported by members per day",
                            charts.member_sightings(conn, audience, now),
                        ),
                    )
                ],
            }
        context["advisories"] = list_advisories(portal.engine, audience)[:5]
        return portal.render(request, "dashboard.html", session, **context)

    @app.get("/search", response_class=HTMLResponse)
    def search_page(
        request: Request,
        session: SignedIn,
        q: Annotated[str, Query(max_length=4096)] = "",
    ) -> Response:
        portal = portal_of(request)
        with portal.engine.connect() as conn:
            result = search(conn, q, session.user.audience)
        return portal.render(request, "search.html", session, q=q, result=result)

    @app.get("/indicators/{stix_id}", response_class=HTMLResponse)
    def indicator_page(request: Request, session: SignedIn, stix_id: str) -> Response:
        portal = portal_of(request)
        with portal.engine.connect() as conn:
            detail = get_detail(conn, stix_id, session.user.audience)
        if detail is None:
            raise not_found(f"no indicator {stix_id} that you may read")
        notice = request.query_params.get("reported")
        return portal.render(
            request, "indicator.html", session, detail=detail, notice=notice
        )

    @app.post("/indicators/{stix_id}/report")
    def report_indicator(
        request: Request,
        session: AdminPost,
        stix_id: str,
        kind: Annotated[str, Form()],
        count: Annotated[int, Form(ge=1, le=1_000_000)] = 1,
    ) -> Response:
        portal = portal_of(request)
        choices = {
            "sighting": ReportKind.SIGHTING,
            "false-positive": ReportKind.FALSE_POSITIVE,
        }
        if kind not in choices:
            raise bad_request(
                f"unknown report kind {kind!r}; use sighting or false-positive"
            )
        with portal.engine.connect() as conn:
            detail = get_detail(conn, stix_id, session.user.audience)
            org = get_org(conn, str(session.user.org_id))
        if detail is None:
            raise not_found(f"no indicator {stix_id} that you may read")
        try:
            report(
                portal.engine,
                org,
                None,
                detail.row.value,
                choices[kind],
                type_name=detail.row.type,
                count=count,
                origin="portal",
            )
        except (UnknownIndicator, NormalizationError) as exc:
            raise bad_request(str(exc)) from None
        return redirect(f"/indicators/{stix_id}?reported={kind}")

    @app.get("/advisories", response_class=HTMLResponse)
    def advisories_page(request: Request, session: SignedIn) -> Response:
        portal = portal_of(request)
        items = list_advisories(portal.engine, session.user.audience)
        return portal.render(request, "advisories.html", session, advisories=items)

    @app.get("/advisories/{stix_id}", response_class=HTMLResponse)
    def advisory_page(request: Request, session: SignedIn, stix_id: str) -> Response:
        portal = portal_of(request)
        item = get_advisory(portal.engine, stix_id, session.user.audience)
        if item is None:
            raise not_found(f"no advisory {stix_id} that you may read")
        return portal.render(request, "advisory.html", session, advisory=item)


def _add_feeds_and_keys(app: FastAPI) -> None:
    def feeds_page(
        request: Request, session: Session, key: str | None, status: int = 200
    ) -> Response:
        portal = portal_of(request)
        org_id = str(session.user.org_id)
        with portal.engine.connect() as conn:
            org = get_org(conn, org_id)
        base = str(request.base_url)
        links = [
            (link, feed_url(base, link, org_id, key))
            for link in allowed_links(org.tier)
        ]
        return portal.render(
            request,
            "feeds.html",
            session,
            status=status,
            org=org,
            links=links,
            key=key,
        )

    @app.get("/blocklists", response_class=HTMLResponse)
    def blocklists(request: Request, session: Member) -> Response:
        return feeds_page(request, session, None)

    @app.post("/blocklists", response_class=HTMLResponse)
    def blocklists_with_key(request: Request, session: AdminPost) -> Response:
        key = _create_key(
            request, session, f"feeds key of {session.user.email}", "read", 365
        )
        return feeds_page(request, session, key)

    @app.get("/keys", response_class=HTMLResponse)
    def keys_page(request: Request, session: Admin) -> Response:
        return _keys(request, session, None)

    @app.post("/keys", response_class=HTMLResponse)
    def keys_create(
        request: Request,
        session: AdminPost,
        name: Annotated[str, Form(max_length=100)] = "",
        submit_scope: Annotated[bool, Form()] = False,
        days: Annotated[int, Form()] = 90,
    ) -> Response:
        if days not in _KEY_DAYS:
            raise bad_request(f"a key lasts one of {_KEY_DAYS} days, not {days}")
        scopes = "read,submit" if submit_scope else "read"
        label = name.strip() or f"portal key of {session.user.email}"
        key = _create_key(request, session, label, scopes, days)
        return _keys(request, session, key)

    @app.post("/keys/{key_id}/revoke")
    def keys_revoke(request: Request, session: AdminPost, key_id: RowId) -> Response:
        portal = portal_of(request)
        org_id = session.user.org_id
        with begin_write(portal.engine) as conn:
            owned = {key.id for key in list_keys(conn, org_id)}
            if key_id not in owned:
                raise not_found(f"no key {key_id} of your organisation")
            revoke_key(conn, key_id)
            audit.record(
                conn,
                "key.revoke",
                f"key {key_id}",
                org_id=org_id,
                detail={"by": f"portal user {session.user.id}"},
            )
        return redirect("/keys")


def _create_key(
    request: Request, session: Session, label: str, scopes: str, days: int
) -> str:
    portal = portal_of(request)
    org_id = session.user.org_id
    expires = now_us() + days * 86_400 * 1_000_000
    with begin_write(portal.engine) as conn:
        key = create_key(
            conn, label, check_scopes(scopes), org_id=org_id, expires=expires
        )
        key_id = resolve_key_id(conn, key)
        audit.record(
            conn,
            "key.create",
            f"key {key_id}",
            org_id=org_id,
            detail={
                "org": org_id,
                "scopes": scopes,
                "expires": expires,
                "by": f"portal user {session.user.id}",
            },
        )
    return key


def _keys(request: Request, session: Session, new_key: str | None) -> Response:
    portal = portal_of(request)
    with portal.engine.connect() as conn:
        keys = list_keys(conn, session.user.org_id)
    return portal.render(
        request,
        "keys.html",
        session,
        keys=keys,
        new_key=new_key,
        now=now_us(),
        key_days=_KEY_DAYS,
    )


async def _read_capped(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise bad_request(
            f"{upload.filename or 'the file'} is larger than {limit:,} bytes"
        )
    return data


def _add_inventory_and_hunts(app: FastAPI) -> None:
    @app.get("/inventory", response_class=HTMLResponse)
    def inventory_page(request: Request, session: Member) -> Response:
        return _inventory(request, session)

    @app.post("/inventory", response_class=HTMLResponse)
    async def inventory_upload(
        request: Request,
        session: AdminPost,
        file: UploadFile,
        replace: Annotated[bool, Form()] = False,
    ) -> Response:
        data = await _read_capped(file, MAX_INVENTORY_BYTES)
        name = file.filename or "inventory"
        return await anyio.to_thread.run_sync(
            _store_inventory, request, session, name, data, replace
        )

    @app.get("/hunts", response_class=HTMLResponse)
    def hunts_page(request: Request, session: Member) -> Response:
        portal = portal_of(request)
        with portal.engine.connect() as conn:
            hunts = list_hunts(conn, str(session.user.org_id))
        return portal.render(
            request, "hunts.html", session, hunts=hunts, max_bytes=MAX_UPLOAD_BYTES
        )

    @app.post("/hunts")
    async def hunts_start(
        request: Request, session: MemberPost, file: UploadFile
    ) -> Response:
        portal = portal_of(request)
        # Starlette keeps a large upload in a temporary file; it is copied
        # from there in pieces, off the event loop.
        pieces = iter(partial(file.file.read, 1024 * 1024), b"")
        start = partial(
            portal.hunt_runner.start,
            pieces,
            filename=file.filename or "log",
            org_id=str(session.user.org_id),
            user_id=session.user.id,
            audience=session.user.audience,
        )
        try:
            hunt_id, _future = await anyio.to_thread.run_sync(start)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        return redirect(f"/hunts/{hunt_id}")

    @app.get("/hunts/{hunt_id}", response_class=HTMLResponse)
    def hunt_page(request: Request, session: Member, hunt_id: str) -> Response:
        portal = portal_of(request)
        with portal.engine.connect() as conn:
            hunt = get_hunt(conn, hunt_id, str(session.user.org_id))
        if hunt is None:
            raise not_found(f"no hunt {hunt_id} of your organisation")
        return portal.render(request, "hunt.html", session, hunt=hunt)


def _store_inventory(
    request: Request, session: Session, name: str, data: bytes, replace: bool
) -> Response:
    org_id = str(session.user.org_id)
    try:
        read = read_inventory(name, data)
    except InventoryError as exc:
        return _inventory(request, session, error=str(exc), status=400)
    portal = portal_of(request)
    now = now_us()
    with begin_write(portal.engine) as conn:
        added, known = store_inventory(
            conn, org_id, read.items, read.kind, now, replace=replace
        )
        audit.record(
            conn,
            "inventory.store",
            org_id,
            org_id=org_id,
            detail={"added": added, "known": known, "rejected": len(read.rejected)},
        )
    message = (
        f"{name}: {added} products added, {known} already listed, "
        f"{len(read.rejected)} rejected"
    )
    return _inventory(request, session, message=message, rejected=read.rejected)


def _inventory(
    request: Request,
    session: Session,
    *,
    message: str | None = None,
    error: str | None = None,
    rejected: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> Response:
    portal = portal_of(request)
    org_id = str(session.user.org_id)
    with portal.engine.connect() as conn:
        items = list_inventory(conn, org_id)
        matches = matches_for_org(conn, org_id)
    return portal.render(
        request,
        "inventory.html",
        session,
        status=status,
        items=items,
        matches=matches,
        message=message,
        error=error,
        rejected=(rejected or [])[:50],
    )


def _add_assistance(app: FastAPI) -> None:
    @app.get("/assistance", response_class=HTMLResponse)
    def assistance_page(request: Request, session: SignedIn) -> Response:
        portal = portal_of(request)
        org_id = None if session.user.role.is_staff else session.user.org_id
        with portal.engine.connect() as conn:
            requests = assistance.list_requests(conn, org_id)
        return portal.render(request, "assistance.html", session, requests=requests)

    @app.post("/assistance")
    def assistance_open(
        request: Request,
        session: MemberPost,
        subject: Annotated[str, Form(max_length=assistance.MAX_SUBJECT)],
        body: Annotated[str, Form(max_length=assistance.MAX_BODY)],
    ) -> Response:
        portal = portal_of(request)
        try:
            with begin_write(portal.engine) as conn:
                request_id = assistance.open_request(
                    conn, str(session.user.org_id), session.user.id, subject, body
                )
        except assistance.AssistanceError as exc:
            raise bad_request(str(exc)) from None
        return redirect(f"/assistance/{request_id}")

    @app.get("/assistance/{request_id}", response_class=HTMLResponse)
    def assistance_thread(
        request: Request, session: SignedIn, request_id: RowId
    ) -> Response:
        portal = portal_of(request)
        org_id = None if session.user.role.is_staff else session.user.org_id
        with portal.engine.connect() as conn:
            item = assistance.get_request(conn, request_id, org_id)
        if item is None:
            raise not_found(f"no request {request_id} of your organisation")
        return portal.render(request, "assistance_thread.html", session, item=item)

    @app.post("/assistance/{request_id}")
    def assistance_reply(
        request: Request,
        session: Annotated[Session, Depends(csrf_checked(signed_in))],
        request_id: RowId,
        body: Annotated[str, Form(max_length=assistance.MAX_BODY)] = "",
        close: Annotated[bool, Form()] = False,
    ) -> Response:
        portal = portal_of(request)
        staff = session.user.role.is_staff
        org_id = None if staff else session.user.org_id
        try:
            with begin_write(portal.engine) as conn:
                item = assistance.get_request(conn, request_id, org_id)
                if item is None:
                    raise not_found(f"no request {request_id} of your organisation")
                if body.strip():
                    assistance.add_message(
                        conn, request_id, session.user.id, body, from_analyst=staff
                    )
                if close:
                    assistance.close_request(conn, request_id)
        except (assistance.AssistanceError, MedisacError) as exc:
            raise bad_request(str(exc)) from None
        return redirect(f"/assistance/{request_id}")
