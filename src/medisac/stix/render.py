"""Render stored indicators as STIX 2.1 indicator objects.

Rendering is a pure function of the :class:`IndicatorView`: the same view
gives the same dictionary, and with ``orjson.OPT_SORT_KEYS`` the same bytes,
so a version served twice is byte-identical.
"""

from __future__ import annotations

import hashlib
import uuid
from functools import lru_cache
from typing import Any

from medisac.model import TLP, State
from medisac.model.time import format_rfc3339
from medisac.stix.patterns import pattern_for
from medisac.stix.static import IDENTITY_ID
from medisac.stix.view import IndicatorView, SourceClaim

# Namespace of the uuid5 indicator ids. Changing it would re-key every
# indicator that members already have.
INDICATOR_NAMESPACE = uuid.UUID("a8fb11cb-f08d-47e2-acd5-e9940d1d366d")
_NAMESPACE_BYTES = INDICATOR_NAMESPACE.bytes


def stix_id_for(kind: str, value: str) -> str:
    """Return the STIX id an indicator is published under.

    The id is a uuid5 of ``"<type>:<canonical value>"``, so it stays the same
    across versions, stores and installations. ``kind`` is an
    :class:`IndicatorType` or its value. This computes exactly what
    ``uuid.uuid5`` does, without building ``UUID`` objects, because ingest
    calls it once per new value.
    """
    digest = bytearray(
        hashlib.sha1(  # noqa: S324 - uuid5 is defined on SHA-1
            _NAMESPACE_BYTES + f"{kind}:{value}".encode()
        ).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"indicator--{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def render_indicator(view: IndicatorView) -> dict[str, Any]:
    """Return one version of an indicator as a JSON-ready STIX 2.1 object.

    ``indicator_types`` is ``malicious-activity`` for values sources publish
    for detection and ``anomalous-activity`` for values every source marked
    as context only (MISP ``to_ids`` false). An analyst's revocation or false
    positive renders as ``revoked``, which STIX makes final; a value that no
    source reports any more (``expired``) or that a known-benign list holds
    (``benign``) gets ``valid_until`` instead, since a source may report it
    again or the list may drop it. ``x_medisac_state`` names the state. Raises
    :class:`medisac.errors.NormalizationError` if an address value cannot be
    rendered as a pattern.
    """
    body: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": view.stix_id,
        "created": format_rfc3339(view.created),
        "modified": format_rfc3339(view.modified),
        "created_by_ref": IDENTITY_ID,
        "name": view.value,
        "indicator_types": [
            "malicious-activity" if view.to_ids else "anomalous-activity"
        ],
        "pattern": pattern_for(view.type, view.value, view.context),
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": format_rfc3339(view.first_seen),
        "confidence": view.confidence,
        "object_marking_refs": [view.tlp.marking_id],
        # orjson writes an enum member as its value.
        "x_medisac_type": view.type,
        "x_medisac_state": view.state,
        "x_medisac_healthcare": view.healthcare,
        "x_medisac_to_ids": view.to_ids,
        "x_medisac_last_seen": format_rfc3339(view.last_seen),
    }
    valid_until = view.valid_until
    if view.state in _ENDED:
        # No source reports the value any more, or it is known to be benign:
        # it stops being valid now, and may become valid again in a later
        # version, which revocation forbids.
        valid_until = min(valid_until or view.modified, view.modified)
    # STIX requires valid_until to be later than valid_from.
    if valid_until is not None and valid_until > view.first_seen:
        body["valid_until"] = format_rfc3339(valid_until)
    if view.tags:
        body["labels"] = sorted(set(view.tags))
    if view.state in _REVOKED:
        body["revoked"] = True
    # A source that reported above the object's level (an analyst lowered
    # it) is itself information at that higher level, so it is left out.
    sources = [claim for claim in view.sources if claim.tlp <= view.tlp]
    if len(sources) == 1:
        body["external_references"] = [_external_reference(sources[0])]
    elif sources:
        body["external_references"] = [
            _external_reference(claim) for claim in sorted(sources, key=_claim_order)
        ]
    cves = view.context.get("cves") if view.context else None
    if isinstance(cves, list) and cves:
        # The standard reference form joins an indicator to the vulnerability
        # objects of the vulnerabilities collection, which carry the same one.
        references = body.setdefault("external_references", [])
        references.extend(
            {"source_name": "cve", "external_id": cve}
            for cve in cves
            if isinstance(cve, str)
        )
    if view.context:
        body["x_medisac_context"] = dict(view.context)
    return body


# States that end an indicator's validity for now, and states that end it
# for good.
_ENDED = frozenset({State.EXPIRED, State.BENIGN})
_REVOKED = frozenset({State.REVOKED, State.FALSE_POSITIVE})


@lru_cache(maxsize=1024)
def _claim_description(confidence: int, tlp: TLP) -> str:
    return f"reported with confidence {confidence} at TLP:{tlp.label}"


def _claim_order(claim: SourceClaim) -> tuple[str, str]:
    return (claim.source, claim.ref or "")


def _external_reference(claim: SourceClaim) -> dict[str, Any]:
    # STIX needs external_id, description or url beside source_name. The
    # description also records what this source claimed.
    reference: dict[str, Any] = {
        "source_name": claim.source,
        "description": _claim_description(claim.confidence, claim.tlp),
    }
    if claim.ref:
        reference["external_id"] = claim.ref
    return reference
