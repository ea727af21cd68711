"""The 422 response for invalid requests, shared by the JSON API and the exports."""

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError

# Errors listed in one response; the rest are left out.
MAX_ERRORS = 50


async def validation_error(_request: Request, exc: Exception) -> Response:
    """Return FastAPI's 422 body without the ``input`` of each error.

    The errors name each field, but never echo the input: a body can be
    megabytes long or hold text that JSON cannot encode.
    """
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [
        {
            "loc": list(error.get("loc", ())),
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in errors[:MAX_ERRORS]
    ]
    return Response(
        orjson.dumps({"detail": detail}, default=str),
        status_code=422,
        media_type="application/json",
    )
