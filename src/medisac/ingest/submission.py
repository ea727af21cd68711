"""Member submissions: the JSON body of ``POST /api/v1/submissions``.

The body is ``{"description", "tlp", "indicators": [...], "email"}``; each
indicator is ``{"value", "type", "description", "confidence", "tlp",
"tags", "first_seen", "last_seen", "to_ids"}`` and only ``value`` is
required. The submission's ``tlp`` applies to indicators without their own.
Free text has been scrubbed before this parser reads it, and goes into each
indicator's context: its own ``description``, and the submission's as
``report``. The format is never detected; ingest names it (``submission``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from medisac.errors import IngestError
from medisac.ingest.document import Document
from medisac.ingest.jsonload import load_json
from medisac.ingest.options import ParseOptions
from medisac.ingest.times import parse_time
from medisac.model import TLP, Observation, ParseItem, Rejection

FORMAT = "submission"
_MAX_TAGS = 50


def parse_submission(document: Document, _options: ParseOptions) -> Iterator[ParseItem]:
    """Yield one observation per submitted indicator, or a rejection naming it."""
    data = load_json(document)
    if not isinstance(data, dict) or not isinstance(data.get("indicators"), list):
        raise IngestError(
            document.origin,
            "a submission is a JSON object with an 'indicators' list",
        )
    default_tlp = _tlp(data.get("tlp"))
    report = data.get("description")
    for number, item in enumerate(data["indicators"], start=1):
        location = f"indicators[{number - 1}]"
        if not isinstance(item, dict):
            yield Rejection(location, "an indicator is a JSON object with a 'value'")
            continue
        value = item.get("value")
        if not isinstance(value, str) or not value.strip():
            yield Rejection(location, "field 'value' is missing or not a string")
            continue
        yield _observation(item, value, location, default_tlp, report)


def _observation(
    item: dict[str, Any],
    value: str,
    location: str,
    default_tlp: TLP | None,
    report: Any,
) -> Observation:
    context: dict[str, Any] = {}
    if isinstance(item.get("description"), str) and item["description"]:
        context["description"] = item["description"]
    if isinstance(report, str) and report:
        context["report"] = report
    confidence = _confidence(item.get("confidence"))
    tags = item.get("tags")
    kind = item.get("type")
    return Observation(
        value=value,
        location=location,
        type=kind if isinstance(kind, str) and kind else None,
        first_seen=_time(item.get("first_seen")),
        last_seen=_time(item.get("last_seen")),
        confidence=confidence,
        tlp=_tlp(item.get("tlp")) or default_tlp,
        tags=tuple(
            tag
            for tag in (tags if isinstance(tags, list) else [])[:_MAX_TAGS]
            if isinstance(tag, str) and tag
        ),
        context=context,
        to_ids=item.get("to_ids") is not False,
    )


def _confidence(value: Any) -> int | None:
    # bool is an int in Python; a confidence is an integer from 0 to 100.
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= 100 else None


def _tlp(value: Any) -> TLP | None:
    if not isinstance(value, str):
        return None
    try:
        return TLP.parse(value)
    except ValueError:
        return None


def _time(value: Any) -> Any:
    return parse_time(value) if isinstance(value, str) else None
