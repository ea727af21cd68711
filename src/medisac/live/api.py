"""JSON API routes for sensors and live delivery, included in the API app.

- ``POST /sightings:batch``: a sensor batch (``sensor`` or ``submit`` scope).
  With Redis it is queued for the workers (202); without, applied at once (200).
- ``GET /stream``: server-sent events of new, updated and withdrawn
  indicators the key may read, after ``Last-Event-ID`` when given.
- ``GET``/``PUT /subscription``: the organisation's stream and webhook filters.
- ``/webhooks``: register, list and remove HTTPS endpoints.
- ``PUT /digest``: where and how often e-mail digests go.
"""

import logging
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from medisac.api.params import RowId
from medisac.errors import TaxiiError
from medisac.live import digests
from medisac.live.events import (
    ChangeEvent,
    Subscription,
    load_subscription,
    save_subscription,
)
from medisac.live.stream import ChangeFeed, event_stream
from medisac.live.webhooks import (
    WebhookError,
    create_webhook,
    list_webhooks,
    parse_allow,
    remove_webhook,
)
from medisac.members import audit
from medisac.members.gate import Gate, forbidden
from medisac.model import TLP, IndicatorType
from medisac.model.time import format_rfc3339
from medisac.sensors.batch import InvalidBatch, parse_batch
from medisac.sensors.intake import QueueUnavailable, SensorIntake
from medisac.settings import Settings
from medisac.store.keys import KeyRow

log = logging.getLogger(__name__)

_TYPES = frozenset(kind.value for kind in IndicatorType)


class RejectedSighting(BaseModel):
    """A sighting left out of a batch."""

    index: int
    field: str
    reason: str


class BatchResult(BaseModel):
    """The outcome of a sensor batch."""

    batch_id: str
    queued: bool
    duplicate: bool
    accepted: int
    rejected: list[RejectedSighting]


class LiveSubscription(BaseModel):
    """Filters on the stream and webhooks, on top of the key's clearance."""

    model_config = ConfigDict(extra="forbid")

    types: list[str] = Field(default_factory=list, max_length=20)
    min_confidence: int = Field(default=0, ge=0, le=100)
    healthcare_only: bool = False


class WebhookBody(BaseModel):
    """A webhook to register."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=9, max_length=2000)


class WebhookView(BaseModel):
    """A registered webhook; ``secret`` only in the reply that creates it."""

    id: int
    url: str
    secret: str | None = None
    failures: int = 0
    last_delivered: str | None = None
    last_error: str | None = None


class DigestBody(BaseModel):
    """The recipients and frequency of e-mail digests."""

    model_config = ConfigDict(extra="forbid")

    recipients: list[str] = Field(min_length=1, max_length=20)
    frequency: str = Field(pattern="^(daily|weekly)$")


def create_live_router(engine: Engine, gate: Gate, settings: Settings) -> APIRouter:
    """Build the routes over ``engine``; queue batches on Redis when configured."""
    router = APIRouter()

    # Only keys with the ``sensor`` scope post batches. A batch's new values
    # become published indicators without review, so the operator gives
    # that scope to the keys of sensor devices it trusts, not to every
    # member's ``submit`` key, whose submissions wait for review.
    Sensor = Annotated[KeyRow, Depends(gate.require("submit", "sensor"))]
    Reader = Annotated[KeyRow, Depends(gate.require("api", "read"))]
    Submitter = Annotated[KeyRow, Depends(gate.require("api", "submit"))]
    sensor_intake = SensorIntake(engine, settings)
    feed = ChangeFeed(
        engine,
        redis_url=None if settings.redis is None else settings.redis.reveal(),
        prefix=settings.redis_prefix,
    )
    allow = parse_allow(settings.webhook_allow)

    @router.post("/sightings:batch", response_model=BatchResult)
    def post_batch(
        key: Sensor, response: Response, body: Annotated[dict[str, Any], Body()]
    ) -> BatchResult:
        """Take a batch of sensor sightings; a retried batch id counts once."""
        try:
            batch = parse_batch(body, org_id=key.org_id, key_id=key.id)
        except InvalidBatch as exc:
            raise TaxiiError(400, "Bad Request", str(exc)) from None
        rejected = [
            RejectedSighting(index=r.index, field=r.field, reason=r.reason)
            for r in batch.rejected
        ]
        try:
            intake = sensor_intake.take(batch)
        except QueueUnavailable as exc:
            raise TaxiiError(
                503, "Service Unavailable", str(exc), headers={"Retry-After": "5"}
            ) from None
        if intake.queued:
            response.status_code = 202
        return BatchResult(
            batch_id=batch.batch_id,
            queued=intake.queued,
            duplicate=intake.duplicate,
            accepted=len(batch.sightings),
            rejected=rejected,
        )

    # Left out of the OpenAPI description because the response never ends,
    # which generated clients and schema fuzzers cannot handle; the
    # deployment guide describes it.
    @router.get("/stream", response_class=StreamingResponse, include_in_schema=False)
    async def stream(
        request: Request,
        key: Reader,
        type_: Annotated[list[str] | None, Query(alias="type")] = None,
        min_confidence: Annotated[int, Query(ge=0, le=100)] = 0,
        healthcare: bool = False,
        last_event_id: Annotated[str | None, Header(max_length=40)] = None,
    ) -> StreamingResponse:
        """Stream new, updated and withdrawn indicators as server-sent events."""
        cursor = None
        if last_event_id is not None:
            if not last_event_id.isdigit():
                raise TaxiiError(
                    400, "Bad Request", "Last-Event-ID must be the id of an event"
                )
            cursor = int(last_event_id)
        requested = frozenset(type_ or ())
        unknown = sorted(requested - _TYPES)
        if unknown:
            raise TaxiiError(
                400,
                "Bad Request",
                f"unknown type {unknown[0]!r}; use types such as ipv4 or domain",
            )
        with engine.connect() as conn:
            stored = load_subscription(conn, key.org_id)
        subscription = stored.narrowed(requested, min_confidence, healthcare)
        events = event_stream(
            feed,
            key.audience,
            subscription,
            cursor,
            request.is_disconnected,
            sent=partial(_audit_sent, engine, key),
        )
        return StreamingResponse(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/subscription", response_model=LiveSubscription)
    def get_subscription(key: Reader) -> LiveSubscription:
        """Return the organisation's stream and webhook filters."""
        with engine.connect() as conn:
            stored = load_subscription(conn, key.org_id)
        return LiveSubscription(
            types=sorted(stored.types),
            min_confidence=stored.min_confidence,
            healthcare_only=stored.healthcare_only,
        )

    @router.put("/subscription", response_model=LiveSubscription)
    def put_subscription(
        key: Submitter, body: Annotated[LiveSubscription, Body()]
    ) -> LiveSubscription:
        """Replace the organisation's stream and webhook filters."""
        org_id = _org(key)
        unknown = sorted(set(body.types) - _TYPES)
        if unknown:
            raise TaxiiError(
                400,
                "Bad Request",
                f"types: unknown type {unknown[0]!r}; use ipv4, domain, url, ...",
            )
        with engine.begin() as conn:
            save_subscription(
                conn,
                org_id,
                Subscription(
                    frozenset(body.types), body.min_confidence, body.healthcare_only
                ),
            )
        return body

    @router.post("/webhooks", response_model=WebhookView, status_code=201)
    def post_webhook(
        key: Submitter, body: Annotated[WebhookBody, Body()]
    ) -> WebhookView:
        """Register an HTTPS endpoint; the reply shows its signing secret once."""
        org_id = _org(key)
        try:
            with engine.begin() as conn:
                webhook_id, secret = create_webhook(conn, org_id, body.url, allow)
        except WebhookError as exc:
            raise TaxiiError(400, "Bad Request", str(exc)) from None
        return WebhookView(id=webhook_id, url=body.url, secret=secret)

    @router.get("/webhooks", response_model=list[WebhookView])
    def get_webhooks(key: Submitter) -> list[WebhookView]:
        """List the organisation's webhooks and their delivery state."""
        with engine.connect() as conn:
            rows = list_webhooks(conn, _org(key))
        return [
            WebhookView(
                id=row.id,
                url=row.url,
                failures=row.failures,
                last_delivered=None
                if row.last_delivered is None
                else format_rfc3339(row.last_delivered),
                last_error=row.last_error,
            )
            for row in rows
        ]

    @router.delete("/webhooks/{webhook_id}", status_code=204)
    def delete_webhook(key: Submitter, webhook_id: RowId) -> Response:
        """Remove one of the organisation's webhooks."""
        with engine.begin() as conn:
            found = remove_webhook(conn, webhook_id, _org(key))
        if not found:
            raise TaxiiError(404, "Not Found", f"no webhook {webhook_id} of this key")
        return Response(status_code=204)

    @router.put("/digest", status_code=204)
    def put_digest(key: Submitter, body: Annotated[DigestBody, Body()]) -> Response:
        """Set where and how often the organisation's e-mail digest goes."""
        try:
            with engine.begin() as conn:
                digests.subscribe(conn, _org(key), body.recipients, body.frequency)
        except digests.DigestError as exc:
            raise TaxiiError(400, "Bad Request", str(exc)) from None
        return Response(status_code=204)

    return router


async def _audit_sent(engine: Engine, key: KeyRow, events: list[ChangeEvent]) -> None:
    """Record the AMBER and RED events of one stream write in the audit log.

    A write carries the events of one wake-up of the change feed, so a busy
    stream adds about one audit row per second.
    """
    levels = [event.tlp for event in events if event.tlp >= TLP.AMBER]
    if not levels:
        return
    action = "read.red" if max(levels) == TLP.RED else "read.amber"
    detail = {
        "records": len(events),
        "amber_or_red": len(levels),
        "ids": [e.stix_id for e in events if e.tlp >= TLP.AMBER][:50],
    }

    def record() -> None:
        with engine.begin() as conn:
            audit.record(
                conn,
                action,
                "api stream",
                org_id=key.org_id,
                key_id=key.id,
                detail=detail,
            )

    await run_in_threadpool(record)


def _org(key: KeyRow) -> str:
    if key.org_id is None:
        raise forbidden("subscriptions, webhooks and digests belong to member keys")
    return key.org_id
