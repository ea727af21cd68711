"""TAXII error messages: every failure becomes a TAXII 2.1 error resource.

The body is the error message of TAXII 2.1 (``title``, ``description``,
``http_status`` as a string) with the TAXII media type, whatever went wrong:
a :class:`medisac.errors.TaxiiError`, an unknown path or method, or a bug.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from medisac.errors import TaxiiError
from medisac.taxii.media import taxii_response

log = logging.getLogger(__name__)


def error_response(
    status: int,
    title: str,
    description: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build a TAXII error message response."""
    body: dict[str, str] = {"title": title, "http_status": str(status)}
    if description:
        body["description"] = description
    return taxii_response(orjson.dumps(body), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers that turn every error of ``app`` into a TAXII error message."""
    app.add_exception_handler(TaxiiError, _taxii_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)


async def _taxii_error(_request: Request, exc: TaxiiError) -> Response:
    return error_response(exc.status, exc.title, exc.description, exc.headers)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
    title = HTTPStatus(exc.status_code).phrase
    description: str | None = exc.detail if isinstance(exc.detail, str) else None
    if description == title:
        description = None
    if exc.status_code == 404 and description is None:
        description = "no TAXII resource at this path; paths end with a slash"
    return error_response(exc.status_code, title, description, dict(exc.headers or {}))


async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
    return error_response(400, "Bad Request", str(exc))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.error(
        "TAXII request %s %s failed", request.method, request.url.path, exc_info=exc
    )
    return error_response(
        500, "Internal Server Error", "the server failed; the error is logged"
    )
