"""The objects, object, versions and manifest endpoints of a collection.

The objects envelope is assembled from the stored JSON ``body`` strings
without parsing them, which keeps a full page-through cheap. An empty page is
``{"more": false}``, which TAXII 2.1 allows (``objects`` is optional), and it
carries no ``X-TAXII-Date-Added-*`` headers.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.engine import Engine

from medisac.errors import TaxiiError
from medisac.gcpause import collector_paused
from medisac.members import audit
from medisac.model import TLP
from medisac.model.time import format_rfc3339
from medisac.settings import Settings
from medisac.store.keys import KeyRow
from medisac.store.tables import stix_objects
from medisac.store.views import render_body, view_from_columns
from medisac.taxii.collections import collection_for
from medisac.taxii.filters import MatchFilter, parse_match
from medisac.taxii.media import STIX_MEDIA_TYPE, taxii_response
from medisac.taxii.paging import (
    PageParams,
    date_added_headers,
    encode_next,
    parse_page_params,
)
from medisac.taxii.query import (
    Page,
    Scope,
    object_exists,
    read_object_page,
    read_page,
)

so = stix_objects.c
_MANIFEST_COLUMNS = (so.seq, so.stix_id, so.date_added, so.modified)
_VERSION_COLUMNS = (so.seq, so.date_added, so.modified)


@dataclass(frozen=True, slots=True)
class _Request:
    """One parsed objects-style request."""

    scope: Scope
    match: MatchFilter
    page: PageParams
    key_id: int


def objects_router(
    engine: Engine, settings: Settings, require_reader: Callable[..., KeyRow]
) -> APIRouter:
    """Build the router for a collection's objects, versions and manifest."""
    router = APIRouter()
    base = "/api/collections/{collection_id}"

    def parse(
        request: Request,
        collection_id: str,
        key: KeyRow,
        object_id: str | None = None,
        allow_version: bool = True,
    ) -> _Request:
        scope = Scope(collection_for(collection_id, key), key.audience, object_id)
        params = request.query_params
        return _Request(
            scope=scope,
            match=parse_match(params, allow_version=allow_version),
            page=parse_page_params(
                params, settings.taxii_default_page, settings.taxii_max_page
            ),
            key_id=key.id,
        )

    def fetch(parsed: _Request, columns: Sequence[Any] | None = None) -> Page:
        """Read one page of ``columns``, or of object versions without them."""
        with engine.connect() as conn:
            if columns is None:
                page = read_object_page(conn, parsed.scope, parsed.match, parsed.page)
            else:
                page = read_page(conn, columns, parsed.scope, parsed.match, parsed.page)
            if (
                parsed.scope.object_id is not None
                and not page.rows
                and not object_exists(conn, parsed.scope)
            ):
                raise TaxiiError(
                    404,
                    "Not Found",
                    f"no object {parsed.scope.object_id!r} in collection "
                    f"{parsed.scope.collection.id} that this key may read",
                )
        _audit_read(engine, parsed, page)
        return page

    def serve_objects(parsed: _Request) -> Response:
        with collector_paused():
            return _objects_response(fetch(parsed))

    @router.get(f"{base}/objects/", name="taxii_objects")
    def get_objects(
        request: Request,
        collection_id: str,
        key: Annotated[KeyRow, Depends(require_reader)],
    ) -> Response:
        return serve_objects(parse(request, collection_id, key))

    @router.get(f"{base}/objects/{{object_id}}/", name="taxii_object")
    def get_object(
        request: Request,
        collection_id: str,
        object_id: str,
        key: Annotated[KeyRow, Depends(require_reader)],
    ) -> Response:
        return serve_objects(parse(request, collection_id, key, object_id))

    @router.get(f"{base}/objects/{{object_id}}/versions/", name="taxii_versions")
    def get_versions(
        request: Request,
        collection_id: str,
        object_id: str,
        key: Annotated[KeyRow, Depends(require_reader)],
    ) -> Response:
        parsed = parse(request, collection_id, key, object_id, allow_version=False)
        # The publisher appends each id's versions with increasing modified,
        # so seq order is the ascending modified order TAXII expects.
        page = fetch(parsed, _VERSION_COLUMNS)
        versions = [format_rfc3339(row.modified) for row in page.rows]
        return _json_page(page, "versions", versions)

    @router.get(f"{base}/manifest/", name="taxii_manifest")
    def get_manifest(
        request: Request,
        collection_id: str,
        key: Annotated[KeyRow, Depends(require_reader)],
    ) -> Response:
        page = fetch(parse(request, collection_id, key), _MANIFEST_COLUMNS)
        entries = [
            {
                "id": row.stix_id,
                "date_added": format_rfc3339(row.date_added),
                "version": format_rfc3339(row.modified),
                "media_type": STIX_MEDIA_TYPE,
            }
            for row in page.rows
        ]
        return _json_page(page, "objects", entries)

    return router


def _audit_read(engine: Engine, parsed: _Request, page: Page) -> None:
    """Record a page read with AMBER or RED clearance in the audit log.

    NOTE: the entry records that the page could hold AMBER or RED objects,
    not that it did, so that paging costs no extra query.
    """
    audience = parsed.scope.audience
    if not page.rows or audience.clearance < TLP.AMBER:
        return
    with engine.begin() as conn:
        audit.record(
            conn,
            "read.amber",
            f"taxii collection {parsed.scope.collection.alias}",
            org_id=audience.org_id,
            key_id=parsed.key_id,
            detail={"objects": len(page.rows), "object": parsed.scope.object_id},
        )


def _page_headers(page: Page) -> dict[str, str]:
    if not page.rows:
        return {}
    return date_added_headers(page.rows[0].date_added, page.rows[-1].date_added)


def _envelope_head(page: Page) -> bytes:
    if not page.more:
        return b'{"more":false'
    token = encode_next(page.rows[-1].seq)
    return b'{"more":true,"next":"' + token.encode("ascii") + b'"'


def _objects_response(page: Page) -> Response:
    parts = [_envelope_head(page)]
    if page.rows:
        # The bodies are JSON objects written by orjson, so joining them
        # inside brackets is a valid JSON array.
        parts.append(b',"objects":[')
        parts.append(",".join(_body(row) for row in page.rows).encode("utf-8"))
        parts.append(b"]")
    parts.append(b"}")
    return taxii_response(b"".join(parts), headers=_page_headers(page))


def _body(row: Any) -> str:
    if row.body is not None:
        return str(row.body)
    # The view columns follow seq, date_added and body (see ObjectRow).
    return render_body(view_from_columns(row[3:]))


def _json_page(page: Page, name: str, items: list[Any]) -> Response:
    parts = [_envelope_head(page)]
    if items:
        parts.append(b',"' + name.encode("ascii") + b'":' + orjson.dumps(items))
    parts.append(b"}")
    return taxii_response(b"".join(parts), headers=_page_headers(page))
