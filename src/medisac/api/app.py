"""The JSON API: lookups, listings, contributions and reports for members.

Every route is admitted by the server's :class:`medisac.members.gate.Gate`,
reads in the ``api`` route group and contributions in ``submit``. Every
read goes through the reader's :class:`medisac.members.access.Audience`,
so a member never receives a record above its clearance, or a RED record
that does not name it, in a body, a count or a cursor.
"""

import logging
from collections.abc import Sequence
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection, Engine

from medisac import __version__
from medisac.api import models
from medisac.api.validation import validation_error
from medisac.contrib.api import create_contrib_router
from medisac.errors import NormalizationError, TaxiiError
from medisac.live.api import create_live_router
from medisac.members import audit
from medisac.members.access import Audience
from medisac.members.gate import Gate, forbidden, tier_of
from medisac.members.lookup import community_counts, find_visible, parse_value
from medisac.members.orgs import Org, OrgNotFound, get_org
from medisac.members.reports import UnknownIndicator, report
from medisac.members.sightings import ReportKind
from medisac.members.submissions import (
    Kind,
    SubmissionNotFound,
    get_submission,
    submit,
)
from medisac.model import TLP, IndicatorType, State
from medisac.model.time import format_rfc3339, parse_rfc3339, to_us
from medisac.report.api import create_reports_router
from medisac.settings import Settings
from medisac.store.keys import KeyRow
from medisac.store.tables import indicators
from medisac.store.views import shown_source_names
from medisac.vulns.api import create_vulns_router

log = logging.getLogger(__name__)

API_MOUNT_PATH = "/api/v1"
MAX_PAGE = 1000

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": models.Problem, "description": text}
    for status, text in (
        (400, "Invalid request"),
        (401, "Missing, unknown, revoked or expired key"),
        (403, "The key's scope or tier does not allow this"),
        (404, "Not found, or not readable with this key"),
        (429, "Over the tier's rate; see Retry-After"),
    )
}


def create_api_app(
    engine: Engine, gate: Gate | None = None, settings: Settings | None = None
) -> FastAPI:
    """Build the JSON API; mount it at :data:`API_MOUNT_PATH`."""
    gate = gate or Gate(engine)
    app = FastAPI(
        title="medisac API",
        version=__version__,
        description="Indicators, contributions and reports for exchange members.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        responses=_ERRORS,
    )
    reader = gate.require("api", "read")
    submitter = gate.require("submit", "submit")
    Reader = Annotated[KeyRow, Depends(reader)]
    Submitter = Annotated[KeyRow, Depends(submitter)]
    app.state.engine = engine

    @app.exception_handler(TaxiiError)
    async def _error(_request: Request, exc: TaxiiError) -> JSONResponse:
        body = {"title": exc.title, "description": exc.description or exc.title}
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    app.add_exception_handler(RequestValidationError, validation_error)

    @app.get("/me", response_model=models.Me)
    def get_me(key: Reader) -> models.Me:
        """Return the caller's key, organisation, tier and clearance."""
        tier = tier_of(key)
        name = None
        if key.org_id is not None:
            with engine.connect() as conn:
                name = get_org(conn, key.org_id).name
        return models.Me(
            key_id=key.id,
            organisation=key.org_id,
            name=name,
            tier=None if tier is None else tier.name,
            clearance=key.audience.clearance.label,
            scopes=sorted(key.scopes),
        )

    @app.get("/indicators", response_model=models.IndicatorPage)
    def list_indicators(
        key: Reader,
        type_: Annotated[list[str] | None, Query(alias="type")] = None,
        min_confidence: Annotated[int, Query(ge=0, le=100)] = 0,
        healthcare: bool = False,
        modified_since: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        after: Annotated[str | None, Query(max_length=200)] = None,
    ) -> models.IndicatorPage:
        """List active indicators the key may read, in a stable order.

        ``after`` is the ``next`` value of the previous page.
        """
        audience = key.audience
        ic = indicators.c
        conditions = [
            ic.state == State.ACTIVE.value,
            ic.confidence >= min_confidence,
            audience.condition(ic.tlp, ic.id),
        ]
        if type_:
            conditions.append(ic.type.in_(_types(type_)))
        if healthcare:
            conditions.append(ic.healthcare.is_(True))
        if modified_since is not None:
            conditions.append(ic.modified > _time(modified_since, "modified_since"))
        with engine.connect() as conn:
            if after is not None:
                conditions.append(ic.id > _cursor_id(conn, after, audience))
            rows = conn.execute(
                sa.select(indicators)
                .where(*conditions)
                .order_by(ic.id)
                .limit(limit + 1)
            ).all()
            more = len(rows) > limit
            rows = rows[:limit]
            items = [_indicator(conn, row, key) for row in rows]
        _audit_reads(engine, key, rows, "indicators")
        return models.IndicatorPage(
            indicators=items, next=items[-1].id if more and items else None
        )

    @app.get("/indicators/lookup", response_model=list[models.Indicator])
    def lookup(
        key: Reader,
        value: Annotated[str, Query(min_length=1, max_length=4096)],
        type_: Annotated[str | None, Query(alias="type")] = None,
    ) -> list[models.Indicator]:
        """Return what the exchange holds on a value, in any spelling."""
        try:
            wanted = parse_value(value, type_)
        except NormalizationError as exc:
            raise _bad(f"{value!r} is not a valid value: {exc.reason}") from None
        with engine.connect() as conn:
            rows = find_visible(conn, wanted, key.audience)
            items = [_indicator(conn, row, key) for row in rows]
        _audit_reads(engine, key, rows, "lookup")
        return items

    @app.get("/indicators/{stix_id}", response_model=models.Indicator)
    def get_indicator(key: Reader, stix_id: str) -> models.Indicator:
        """Return one indicator by its STIX id."""
        ic = indicators.c
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(indicators).where(
                    ic.stix_id == stix_id, key.audience.condition(ic.tlp, ic.id)
                )
            ).first()
            if row is None:
                raise _not_found(f"no indicator {stix_id!r} that this key may read")
            item = _indicator(conn, row, key)
        _audit_reads(engine, key, [row], "indicator")
        return item

    @app.post("/submissions", response_model=models.SubmissionStatus, status_code=202)
    def post_submission(
        key: Submitter, body: Annotated[models.SubmissionBody, Body()]
    ) -> models.SubmissionStatus:
        """Contribute indicators; free text is scrubbed before it is stored.

        Members marked trusted publish at once; others wait for review.
        """
        org = _member(engine, key)
        _check_tlps(body)
        payload = body.model_dump(exclude_none=True)
        try:
            orjson.dumps(payload)
        except TypeError:
            raise _bad(
                "invalid text in the body: it is not valid Unicode (a lone UTF-16 "
                "surrogate); send UTF-8 text"
            ) from None
        stored = submit(engine, org, key.id, payload, Kind.API)
        return _status(stored)

    @app.get("/submissions/{submission_id}", response_model=models.SubmissionStatus)
    def get_submission_status(
        key: Submitter, submission_id: str
    ) -> models.SubmissionStatus:
        """Return the status of one of the caller's submissions."""
        with engine.connect() as conn:
            try:
                stored = get_submission(conn, submission_id)
            except SubmissionNotFound:
                stored = None
        if stored is None or (not key.is_operator and stored.org_id != key.org_id):
            raise _not_found(f"no submission {submission_id!r} of this organisation")
        return _status(stored)

    @app.post("/sightings", response_model=models.ReportResult)
    def post_sighting(
        key: Submitter, body: Annotated[models.ReportBody, Body()]
    ) -> models.ReportResult:
        """Report that an indicator was seen in the member's network."""
        return _report(engine, key, body, ReportKind.SIGHTING)

    @app.post("/false-positives", response_model=models.ReportResult)
    def post_false_positive(
        key: Submitter, body: Annotated[models.ReportBody, Body()]
    ) -> models.ReportResult:
        """Report that an indicator's value is legitimate."""
        return _report(engine, key, body, ReportKind.FALSE_POSITIVE)

    app.include_router(create_vulns_router(engine, gate, prefix=""))
    # -- monthly reports and advisories --
    app.include_router(create_reports_router(engine, gate))
    # -- contributions: e-mails and research reports --
    app.include_router(create_contrib_router(engine, gate))
    # -- sensors and live delivery --
    app.include_router(create_live_router(engine, gate, settings or Settings()))
    return app


def _report(
    engine: Engine, key: KeyRow, body: models.ReportBody, kind: ReportKind
) -> models.ReportResult:
    org = _member(engine, key)
    first = None if body.first_seen is None else _time(body.first_seen, "first_seen")
    last = None if body.last_seen is None else _time(body.last_seen, "last_seen")
    try:
        outcome = report(
            engine,
            org,
            key.id,
            body.value,
            kind,
            type_name=body.type,
            count=body.count,
            first_seen=first,
            last_seen=last,
        )
    except NormalizationError as exc:
        raise _bad(f"{body.value!r} is not a valid value: {exc.reason}") from None
    except UnknownIndicator as exc:
        raise _not_found(str(exc)) from None
    return models.ReportResult(indicator=outcome.stix_id, withdrawn=outcome.withdrawn)


def _member(engine: Engine, key: KeyRow) -> Org:
    """Return the organisation a contributing key belongs to."""
    if key.org_id is None:
        raise forbidden(
            "contributions come from member keys; the operator ingests with "
            "`medisac ingest`"
        )
    with engine.connect() as conn:
        try:
            return get_org(conn, key.org_id)
        except OrgNotFound:
            raise forbidden("the key's organisation no longer exists") from None


def _check_tlps(body: models.SubmissionBody) -> None:
    for where, text in [("tlp", body.tlp)] + [
        (f"indicators[{n}].tlp", item.tlp) for n, item in enumerate(body.indicators)
    ]:
        if text is None:
            continue
        try:
            TLP.parse(text)
        except ValueError as exc:
            raise _bad(f"{where}: {exc}") from None


def _status(stored: Any) -> models.SubmissionStatus:
    return models.SubmissionStatus(
        id=stored.id,
        status=stored.status.value,
        received=format_rfc3339(stored.received),
        redactions=stored.redactions,
        published=stored.published,
        rejected=stored.rejected,
        note=stored.note,
    )


def _indicator(conn: Connection, row: Any, key: KeyRow) -> models.Indicator:
    all_counts = community_counts(conn, row.id)
    counts = all_counts if key.is_operator else all_counts.for_members()
    return models.Indicator(
        id=row.stix_id,
        type=row.type,
        value=row.value,
        state=row.state,
        confidence=row.confidence,
        tlp=TLP(row.tlp).label,
        first_seen=format_rfc3339(row.first_seen),
        last_seen=format_rfc3339(row.last_seen),
        valid_until=None
        if row.valid_until is None
        else format_rfc3339(row.valid_until),
        tags=orjson.loads(row.tags),
        healthcare=bool(row.healthcare),
        sources=shown_source_names(row.sources, row.tlp),
        community=models.Community(
            sightings=counts.sightings,
            sighting_organisations=counts.sighting_organisations,
            false_positive_organisations=counts.false_positive_organisations,
        ),
    )


def _audit_reads(engine: Engine, key: KeyRow, rows: Sequence[Any], what: str) -> None:
    """Record a read of AMBER or RED records in the audit log."""
    levels = [TLP(row.tlp) for row in rows]
    if not levels or max(levels) < TLP.AMBER:
        return
    top = max(levels)
    action = "read.red" if top == TLP.RED else "read.amber"
    with engine.begin() as conn:
        audit.record(
            conn,
            action,
            f"api {what}",
            org_id=key.org_id,
            key_id=key.id,
            detail={
                "records": len(rows),
                "amber_or_red": sum(level >= TLP.AMBER for level in levels),
                "ids": [row.stix_id for row in rows if row.tlp >= TLP.AMBER][:50],
            },
        )


def _cursor_id(conn: Connection, after: str, audience: Audience) -> int:
    ic = indicators.c
    found = conn.execute(
        sa.select(ic.id).where(ic.stix_id == after, audience.condition(ic.tlp, ic.id))
    ).scalar()
    if found is None:
        raise _bad("invalid 'after': give the 'next' value of the previous page")
    return int(found)


def _types(names: list[str]) -> list[str]:
    found = []
    for name in names:
        try:
            found.append(IndicatorType(name).value)
        except ValueError:
            choices = ", ".join(t.value for t in IndicatorType)
            raise _bad(f"unknown type {name!r}; use one of {choices}") from None
    return found


def _time(text: str, field: str) -> int:
    try:
        return to_us(parse_rfc3339(text, assume_utc=True))
    except ValueError as exc:
        raise _bad(f"invalid {field}: {exc}; give an RFC 3339 time") from None


def _bad(description: str) -> TaxiiError:
    return TaxiiError(400, "Bad Request", description)


def _not_found(description: str) -> TaxiiError:
    return TaxiiError(404, "Not Found", description)
