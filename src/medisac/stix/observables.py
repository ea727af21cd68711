"""STIX 2.1 cyber-observable objects for values published as context only.

A value that no source flagged for detection (MISP ``to_ids`` false) is not
an indicator, so a STIX export carries it as the observable it names. Its id
is the deterministic id STIX 2.1 defines for cyber-observables, a uuid5 over
the id-contributing properties, so every export gives one value the same id
as other STIX producers.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from medisac.model import IndicatorType
from medisac.stix.view import IndicatorView

# The namespace that STIX 2.1 defines for deterministic cyber-observable ids.
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

_HASH_NAMES = {
    IndicatorType.MD5: "MD5",
    IndicatorType.SHA1: "SHA-1",
    IndicatorType.SHA256: "SHA-256",
    IndicatorType.SHA512: "SHA-512",
}

_VALUE_TYPES = {
    IndicatorType.DOMAIN: "domain-name",
    IndicatorType.URL: "url",
    IndicatorType.EMAIL: "email-addr",
}


def render_observable(view: IndicatorView) -> dict[str, Any]:
    """Return the cyber-observable object that ``view``'s value names.

    Addresses and networks become ``ipv4-addr`` or ``ipv6-addr`` by their
    family, hashes and file names a ``file``. The object carries the view's
    TLP marking and ``x_medisac_*`` properties that mark it as context.
    """
    kind = view.type
    properties: dict[str, Any]
    if kind in (IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR):
        sco_type = "ipv6-addr" if ":" in view.value else "ipv4-addr"
        properties = {"value": view.value}
    elif kind in _HASH_NAMES:
        sco_type = "file"
        properties = {"hashes": {_HASH_NAMES[kind]: view.value}}
    elif kind is IndicatorType.FILENAME:
        sco_type = "file"
        properties = {"name": view.value}
    else:
        sco_type = _VALUE_TYPES[kind]
        properties = {"value": view.value}
    # A file's id comes from its hashes or, without them, its name. The id of
    # every other type used here comes from its value.
    contributing = orjson.dumps(properties, option=orjson.OPT_SORT_KEYS)
    sco_id = uuid.uuid5(SCO_NAMESPACE, contributing.decode())
    return {
        "type": sco_type,
        "spec_version": "2.1",
        "id": f"{sco_type}--{sco_id}",
        **properties,
        "object_marking_refs": [view.tlp.marking_id],
        "x_medisac_type": kind,
        "x_medisac_to_ids": False,
        "x_medisac_confidence": view.confidence,
    }
