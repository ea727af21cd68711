"""Adding objects to the submissions collection, and the TAXII status resource.

A member posts a TAXII envelope of STIX objects; they are stored as one
submission (:mod:`medisac.members.submissions`): scrubbed, kept whole for
review, and published at once for trusted members. The response is a
status resource whose id is the submission id, so the member can poll
``status/{id}/`` until an analyst has decided.
"""

import uuid
from collections.abc import Callable
from typing import Annotated, Any

import orjson
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
from medisac.model.time import format_rfc3339
from medisac.store.keys import KeyRow
from medisac.taxii.api_root import MAX_CONTENT_LENGTH
from medisac.taxii.collections import collection_for
from medisac.taxii.media import taxii_response


def submissions_router(
    engine: Engine, require_submitter: Callable[..., KeyRow]
) -> APIRouter:
    """Build the routes that add objects and report their status."""
    router = APIRouter()
    Submitter = Annotated[KeyRow, Depends(require_submitter)]

    @router.post("/api/collections/{collection_id}/objects/", name="taxii_add_objects")
    async def add_objects(
        request: Request, collection_id: str, key: Submitter
    ) -> Response:
        collection_for(collection_id, key, writing=True)
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
