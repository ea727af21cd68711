"""The TAXII API root resource, ``/taxii2/api/``."""

from collections.abc import Callable
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Response

from medisac.store.keys import KeyRow
from medisac.taxii.media import TAXII_MEDIA_TYPE, taxii_response

# Largest request body the API root accepts. It matters only once a collection
# takes submissions. 10 MiB fits roughly ten thousand 1 KB indicators.
MAX_CONTENT_LENGTH = 10 * 1024 * 1024


def api_root_router(require_reader: Callable[..., KeyRow]) -> APIRouter:
    """Build the router for the API root resource."""
    router = APIRouter()

    @router.get("/api/", name="taxii_api_root")
    def api_root(_key: Annotated[KeyRow, Depends(require_reader)]) -> Response:
        body = {
            "title": "medisac",
            "description": "Indicators of compromise for healthcare organisations.",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": MAX_CONTENT_LENGTH,
        }
        return taxii_response(orjson.dumps(body))

    return router
