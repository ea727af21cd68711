"""The TAXII discovery resource, ``/taxii2/``."""

from collections.abc import Callable
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request, Response

from medisac.store.keys import KeyRow
from medisac.taxii.media import taxii_response


def discovery_router(require_reader: Callable[..., KeyRow]) -> APIRouter:
    """Build the router for the discovery resource.

    The API root URL is absolute and built from the request, so it names the
    host and port the client used.
    """
    router = APIRouter()

    @router.get("/", name="taxii_discovery")
    def discovery(
        request: Request, _key: Annotated[KeyRow, Depends(require_reader)]
    ) -> Response:
        api_root = str(request.url_for("taxii_api_root"))
        body = {
            "title": "medisac TAXII 2.1 server",
            "description": "Threat intelligence for healthcare, shared by medisac.",
            "default": api_root,
            "api_roots": [api_root],
        }
        return taxii_response(orjson.dumps(body))

    return router
