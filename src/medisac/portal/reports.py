"""The monthly reports page: the community editions and the member's own."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from medisac.portal.sessions import Session
from medisac.portal.web import bad_request, not_found, portal_of, signed_in
from medisac.report import ReportError, list_reports, load_report
from medisac.report.api import REPORT_CONTENT_SECURITY_POLICY

SignedIn = Annotated[Session, Depends(signed_in)]

COMMUNITY = "community"
_MEDIA_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}
# A stored report is the exchange's own HTML, but it is shown sandboxed, with
# no scripts and nothing loaded from elsewhere, like any other document.


def add_routes(app: FastAPI) -> None:
    """Add the monthly report pages to ``app``."""

    @app.get("/reports", response_class=HTMLResponse)
    def reports_page(request: Request, session: SignedIn) -> Response:
        portal = portal_of(request)
        user = session.user
        items = list_reports(
            portal.engine, org_id=user.org_id, everything=user.role.is_staff
        )
        return portal.render(
            request, "reports.html", session, reports=items, community=COMMUNITY
        )

    @app.get("/reports/{month}/{edition}/{kind}")
    def report_file(
        request: Request, session: SignedIn, month: str, edition: str, kind: str
    ) -> Response:
        portal = portal_of(request)
        user = session.user
        if kind not in _MEDIA_TYPES:
            raise not_found("a report is served as html or pdf")
        org_id = None if edition == COMMUNITY else edition
        if org_id is not None and not user.role.is_staff and org_id != user.org_id:
            raise not_found(f"no {month} report of your organisation")
        try:
            data = load_report(
                portal.engine,
                month,
                org_id=org_id,
                kind="html" if kind == "html" else "pdf",
            )
        except ReportError as exc:
            raise bad_request(str(exc)) from None
        if data is None:
            raise not_found(f"no {kind} report for {month}")
        headers = {
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": REPORT_CONTENT_SECURITY_POLICY,
        }
        if kind == "pdf":
            headers["Content-Disposition"] = (
                f'attachment; filename="medisac-report-{month}.pdf"'
            )
        return Response(data, media_type=_MEDIA_TYPES[kind], headers=headers)
