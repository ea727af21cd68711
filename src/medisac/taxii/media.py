"""TAXII 2.1 media types, content negotiation and raw-bytes responses."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response

from medisac.errors import TaxiiError

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"

# Responses carry TLP-marked intelligence for one key holder; no shared cache
# may keep them.
_NO_STORE = {"Cache-Control": "no-store"}


def taxii_response(
    content: bytes, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """Wrap already-serialised JSON in a response with the TAXII media type."""
    merged = dict(_NO_STORE)
    if headers:
        merged.update(headers)
    return Response(
        content=content,
        status_code=status_code,
        headers=merged,
        media_type=TAXII_MEDIA_TYPE,
    )


def accepts_taxii(accept: str | None) -> bool:
    """Tell whether an ``Accept`` header admits TAXII 2.1 JSON.

    ``application/taxii+json`` without a version means the latest version,
    which is 2.1 here. The wildcards ``*/*`` and ``application/*`` and a
    missing header admit it too, as in any HTTP content negotiation. A range
    with ``q=0`` is a refusal.
    """
    if accept is None or not accept.strip():
        return True
    for item in accept.split(","):
        media, params = _parse_media_range(item)
        if params.get("q") in ("0", "0.0", "0.00", "0.000"):
            continue
        if media in ("*/*", "application/*"):
            return True
        if media == "application/taxii+json" and params.get("version", "2.1") == "2.1":
            return True
    return False


def check_accept(accept: str | None) -> None:
    """Raise a 406 :class:`TaxiiError` unless ``accept`` admits TAXII 2.1 JSON."""
    if not accepts_taxii(accept):
        raise TaxiiError(
            406,
            "Not Acceptable",
            f"this server returns only {TAXII_MEDIA_TYPE}; send it in the "
            f"Accept header (the request sent {accept!r})",
        )


def _parse_media_range(item: str) -> tuple[str, dict[str, str]]:
    media, *raw_params = item.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        name, _, value = raw.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return media.strip().lower(), params
