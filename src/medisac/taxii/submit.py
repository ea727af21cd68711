"""Adding objects to the writable collections, and the TAXII status resource.

A member posts a TAXII envelope of STIX objects to ``submissions``; they are
stored as one submission (:mod:`medisac.members.submissions`): scrubbed,
kept whole for review, and published at once for trusted members. The
response is a status resource whose id is the submission id, so the member
can poll ``status/{id}/`` until an analyst has decided.

A sensor posts STIX sighting objects to ``sightings``; they become one
sensor batch (:mod:`medisac.sensors.stix`), queued or applied like a batch
posted to the JSON API. The status id is the batch id, and the status is
pending until a worker has applied the batch.
"""

import uuid
from collections.abc import Callable
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from medisac.errors import TaxiiError
from medisac.members.gate import forbidden
from medisac.members.orgs import get_org
from medisac.members.submissions import (
    Kind,
    Submission,
    SubmissionNotFound,
    SubmissionStatus,
    get_submission,
    submit,
)
from medisac.model.time import format_rfc3339, now_us
from medisac.sensors.batch import InvalidBatch, parse_batch, sender_of
from medisac.sensors.intake import QueueUnavailable, SensorIntake
from medisac.sensors.stix import batch_body
from medisac.store.keys import KeyRow
from medisac.store.tables import indicators, sensor_batches
from medisac.taxii.api_root import MAX_CONTENT_LENGTH
from medisac.taxii.collections import collection_for
from medisac.taxii.media import taxii_response


def submissions_router(
    engine: Engine, require_submitter: Callable[..., KeyRow], intake: SensorIntake
) -> APIRouter:
    """Build the routes that add objects and report their status.

    ``require_submitter`` admits keys with the ``submit`` or the ``sensor``
    scope. Only ``sensor`` keys add to the ``sightings`` collection, and only
    ``submit`` keys to ``submissions``.
    """
    router = APIRouter()
    Submitter = Annotated[KeyRow, Depends(require_submitter)]

    @router.post("/api/collections/{collection_id}/objects/", name="taxii_add_objects")
    async def add_objects(
        request: Request, collection_id: str, key: Submitter
    ) -> Response:
        collection = collection_for(collection_id, key, writing=True)
        if collection.alias == SIGHTINGS:
            if not key.has_scope("sensor"):
                raise forbidden(
                    f"API key {key.id} has no 'sensor' scope; the exchange "
                    "operator gives it to the keys of sensor devices"
                )
            envelope = _envelope(await _read_body(request))
            status = await run_in_threadpool(
                _add_sightings, engine, intake, key, envelope["objects"]
            )
            return taxii_response(orjson.dumps(status), status_code=202)
        if not key.has_scope("submit"):
            raise forbidden(
                f"API key {key.id} has no 'submit' scope; a sensor key adds "
                "sighting objects to the sightings collection only"
            )
        if key.org_id is None:
            raise forbidden(
                "objects are added with member keys; the operator ingests with "
                "`medisac ingest`"
            )
        envelope = _envelope(await _read_body(request))
        bundle = {
            "type": "bundle",
            "id": f"bundle--{uuid.uuid4()}",
            "objects": envelope["objects"],
        }
        org_id = key.org_id

        def store() -> Submission:
            with engine.connect() as conn:
                org = get_org(conn, org_id)
            return submit(engine, org, key.id, bundle, Kind.STIX)

        # Scrubbing and storing block, so they run off the event loop.
        stored = await run_in_threadpool(store)
        return taxii_response(orjson.dumps(status_resource(stored)), status_code=202)

    @router.get("/api/status/{status_id}/", name="taxii_status")
    def get_status(status_id: str, key: Submitter) -> Response:
        if status_id.startswith(_BATCH_STATUS_PREFIX):
            return taxii_response(orjson.dumps(_batch_status(engine, key, status_id)))
        with engine.connect() as conn:
            try:
                stored = get_submission(conn, status_id)
            except SubmissionNotFound:
                stored = None
        if stored is None or (not key.is_operator and stored.org_id != key.org_id):
            raise TaxiiError(
                404, "Not Found", f"no status {status_id!r} for this key's organisation"
            )
        return taxii_response(orjson.dumps(status_resource(stored)))

    return router


SIGHTINGS = "sightings"
# Status ids of sensor batches: the prefix, the sender, ":" and the batch id.
# Senders (organisation ids, "key-<id>") have no ":".
_BATCH_STATUS_PREFIX = "batch:"


def _add_sightings(
    engine: Engine, intake: SensorIntake, key: KeyRow, objects: list[Any]
) -> dict[str, Any]:
    """Take the envelope's sightings as one sensor batch; return its status."""
    ic = indicators.c

    def lookup(stix_id: str) -> tuple[str, str] | None:
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(ic.type, ic.value).where(ic.stix_id == stix_id)
            ).first()
        return None if row is None else (row.type, row.value)

    try:
        body = batch_body(objects, lookup)
        batch = parse_batch(body, org_id=key.org_id, key_id=key.id)
    except InvalidBatch as exc:
        raise TaxiiError(400, "Bad Request", str(exc)) from None
    try:
        taken = intake.take(batch)
    except QueueUnavailable as exc:
        raise TaxiiError(
            503, "Service Unavailable", str(exc), headers={"Retry-After": "5"}
        ) from None
    # The counts are of sightings (a sighting object's ``count`` each), as
    # the store keeps them, so that a later poll reports the same numbers.
    counted = batch.total
    return {
        "id": f"{_BATCH_STATUS_PREFIX}{batch.sender}:{batch.batch_id}",
        "status": "pending" if taken.queued else "complete",
        "request_timestamp": format_rfc3339(batch.received),
        "total_count": counted + len(batch.rejected),
        "success_count": 0 if taken.queued else counted,
        "failure_count": len(batch.rejected),
        "pending_count": counted if taken.queued else 0,
    }


def _batch_status(engine: Engine, key: KeyRow, status_id: str) -> dict[str, Any]:
    """Return the status of a sensor batch this key's sender posted."""
    sender, _, batch_id = status_id.removeprefix(_BATCH_STATUS_PREFIX).partition(":")
    if sender != sender_of(key.org_id, key.id) and not key.is_operator:
        raise TaxiiError(
            404, "Not Found", f"no status {status_id!r} for this key's organisation"
        )
    sb = sensor_batches.c
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(sb.received, sb.sightings).where(
                sb.sender == sender, sb.batch_id == batch_id
            )
        ).first()
    if row is None:
        # Not applied yet, or never posted: a worker may still be on it.
        return {
            "id": status_id,
            "status": "pending",
            "request_timestamp": format_rfc3339(now_us()),
            "total_count": 0,
            "success_count": 0,
            "failure_count": 0,
            "pending_count": 0,
        }
    return {
        "id": status_id,
        "status": "complete",
        "request_timestamp": format_rfc3339(row.received),
        "total_count": row.sightings,
        "success_count": row.sightings,
        "failure_count": 0,
        "pending_count": 0,
    }


def status_resource(stored: Submission) -> dict[str, Any]:
    """Return the TAXII 2.1 status resource of a submission."""
    objects = (
        stored.scrubbed.get("objects", []) if isinstance(stored.scrubbed, dict) else []
    )
    total = len(objects) if isinstance(objects, list) else 0
    pending = stored.status is SubmissionStatus.PENDING
    failed = stored.status in (SubmissionStatus.REJECTED, SubmissionStatus.FAILED)
    rejected = min(stored.rejected, total)
    if pending:
        success, failure = 0, 0
    elif failed:
        success, failure = 0, total
    else:
        success, failure = total - rejected, rejected
    return {
        "id": stored.id,
        "status": "pending" if pending else "complete",
        "request_timestamp": format_rfc3339(stored.received),
        "total_count": total,
        "success_count": success,
        "failure_count": failure,
        "pending_count": total if pending else 0,
    }


async def _read_body(request: Request) -> bytes:
    """Read the request body, rejecting more than the API root's maximum."""
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isdigit()
        and int(declared) > MAX_CONTENT_LENGTH
    ):
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_CONTENT_LENGTH:
            raise _too_large()
    return bytes(body)


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TaxiiError(
            400, "Bad Request", f"the body is not valid JSON: {exc}"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise TaxiiError(
            400,
            "Bad Request",
            "the body must be a TAXII envelope: a JSON object with an 'objects' list",
        )
    if not data["objects"]:
        raise TaxiiError(400, "Bad Request", "the envelope's 'objects' list is empty")
    return data


def _too_large() -> TaxiiError:
    return TaxiiError(
        413,
        "Payload Too Large",
        f"the body is over the API root's max_content_length of "
        f"{MAX_CONTENT_LENGTH} bytes; split the objects over several requests",
    )
