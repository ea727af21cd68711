"""JSON API routes for monthly reports and advisories.

``GET /reports`` lists the editions the key may read and
``GET /reports/{month}.pdf`` (or ``.html``) downloads one: a member key gets
its own edition when one is stored, else the community edition
(``?edition=community`` selects that one). An operator key reads the
community edition, or a member's edition with ``?org=``.
``GET /advisories`` and ``GET /advisories/{id}`` return advisories through
the key's audience, so TLP and RED recipients apply as on TAXII.
"""

# No "from __future__ import annotations": FastAPI reads the Depends() in the
# route signatures at run time.
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.engine import Engine

from medisac.advisories import AdvisoryView, get_advisory, list_advisories
from medisac.errors import TaxiiError
from medisac.members import audit
from medisac.members.gate import Gate
from medisac.members.orgs import OrgNotFound, get_org
from medisac.model import TLP
from medisac.model.time import format_rfc3339
from medisac.report.period import ReportError
from medisac.report.stored import list_reports, load_report
from medisac.store.keys import KeyRow

_MEDIA_TYPES = {"pdf": "application/pdf", "html": "text/html; charset=utf-8"}
# A served report runs no script and loads nothing: its charts and fonts
# are inline, and the sandbox gives the page an origin of its own.
REPORT_CONTENT_SECURITY_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:"
)


def _not_found(description: str) -> TaxiiError:
    return TaxiiError(404, "Not Found", description)


def _advisory(view: AdvisoryView) -> dict[str, Any]:
    return {
        "id": view.stix_id,
        "kind": view.kind,
        "title": view.title,
        "summary": view.summary,
        "tlp": view.tlp.label,
        "indicators": list(view.indicator_refs),
        "cves": list(view.cves),
        "created": format_rfc3339(view.created, digits=3),
        "modified": format_rfc3339(view.modified, digits=3),
        "stix": view.body,
    }


def create_reports_router(engine: Engine, gate: Gate) -> APIRouter:
    """Build the router for ``/reports`` and ``/advisories`` under the API mount."""
    router = APIRouter()
    Reader = Annotated[KeyRow, Depends(gate.require("api", "read"))]

    def owner_for(key: KeyRow, org: str | None) -> str | None:
        """Return the organisation whose edition the request may read."""
        if org is None:
            return key.org_id
        if "\x00" in org:
            raise _not_found("no organisation has a name with a NUL character")
        if key.org_id is None:
            with engine.connect() as conn:
                try:
                    return get_org(conn, org).id
                except OrgNotFound as exc:
                    raise _not_found(str(exc)) from None
        if org.strip() != key.org_id:
            raise TaxiiError(
                403, "Forbidden", "a member key reads only its own edition"
            )
        return key.org_id

    @router.get("/reports")
    def get_reports(key: Reader) -> list[dict[str, Any]]:
        """List the monthly report editions this key may read."""
        summaries = list_reports(
            engine, org_id=key.org_id, everything=key.org_id is None
        )
        return [
            {
                "month": item.month,
                "edition": "community" if item.org_id is None else "member",
                "organisation": item.org_id,
                "generated": format_rfc3339(item.generated, digits=0),
                "stix_id": item.stix_id,
                "html": f"reports/{item.month}.html",
                "pdf": f"reports/{item.month}.pdf",
            }
            for item in summaries
        ]

    @router.get("/reports/{month}.{kind}")
    def get_report(
        key: Reader,
        month: Annotated[str, Path(pattern=r"^[0-9]{4}-[0-9]{2}$")],
        kind: Literal["pdf", "html"],
        edition: Annotated[Literal["community", "member"] | None, Query()] = None,
        org: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        """Download one edition of a monthly report as PDF or HTML."""
        owner = None if edition == "community" else owner_for(key, org)
        try:
            body = None
            if owner is not None:
                body = load_report(engine, month, org_id=owner, kind=kind)
            if body is None and edition != "member" and org is None:
                owner = None
                body = load_report(engine, month, org_id=None, kind=kind)
        except ReportError as exc:
            raise TaxiiError(400, "Bad Request", str(exc)) from None
        if body is None:
            raise _not_found(
                f"no report for {month} that this key may read; an analyst "
                "builds it with `medisac report --month`"
            )
        if owner is not None:
            with engine.begin() as conn:
                audit.record(
                    conn,
                    "read.report",
                    f"monthly report {month}",
                    org_id=key.org_id,
                    key_id=key.id,
                    detail={"edition": owner, "format": kind},
                )
        filename = f"medisac-report-{month}.{kind}"
        return Response(
            body,
            media_type=_MEDIA_TYPES[kind],
            headers={
                "Content-Disposition": f'inline; filename="{filename}"',
                "Content-Security-Policy": REPORT_CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
            },
        )

    @router.get("/advisories")
    def get_advisories(key: Reader) -> list[dict[str, Any]]:
        """List the advisories and monthly reports this key may read."""
        views = list_advisories(engine, key.audience)
        _audit(key, views)
        return [_advisory(view) for view in views]

    @router.get("/advisories/{stix_id}")
    def get_one_advisory(key: Reader, stix_id: str) -> dict[str, Any]:
        """Return one advisory by its STIX id."""
        view = get_advisory(engine, stix_id, key.audience)
        if view is None:
            raise _not_found(f"no advisory {stix_id!r} that this key may read")
        _audit(key, [view])
        return _advisory(view)

    def _audit(key: KeyRow, views: list[AdvisoryView]) -> None:
        restricted = [view.stix_id for view in views if view.tlp >= TLP.AMBER]
        if not restricted:
            return
        with engine.begin() as conn:
            audit.record(
                conn,
                "read.amber",
                "advisories",
                org_id=key.org_id,
                key_id=key.id,
                detail={"advisories": restricted[:50]},
            )

    return router
