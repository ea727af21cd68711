"""The objects every published indicator refers to: medisac's identity and TLP 2.0.

The marking definitions are the ones OASIS publishes with the TLP 2.0
extension (cti-stix-common-objects, ``extension-definition-specifications/
tlp-2.0``): no ``created_by_ref``, ``created`` 2022-10-01, a ``name`` and the
property extension that carries the level. Consumers compare these bodies with
their own copies, so they are reproduced exactly, property for property.
"""

from __future__ import annotations

from typing import Any

from medisac.model.tlp import TLP, TLP2_MARKING_IDS

IDENTITY_ID = "identity--8f452a30-b649-458f-9345-e986cbac227d"
TLP2_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

# Changing this body needs a new ``modified``, or consumers keep the old one.
IDENTITY: dict[str, Any] = {
    "type": "identity",
    "spec_version": "2.1",
    "id": IDENTITY_ID,
    "created": "2024-01-01T00:00:00.000Z",
    "modified": "2024-01-01T00:00:00.000Z",
    "name": "medisac exchange",
    "description": "Threat intelligence exchange for healthcare organisations.",
    "identity_class": "organization",
    "sectors": ["healthcare"],
}


def _tlp2_marking(level: TLP) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2_MARKING_IDS[level],
        "created": "2022-10-01T00:00:00.000Z",
        "name": f"TLP:{level.label}",
        "extensions": {
            TLP2_EXTENSION_ID: {
                "extension_type": "property-extension",
                "tlp_2_0": level.label.lower(),
            }
        },
    }


TLP2_MARKINGS: dict[TLP, dict[str, Any]] = {
    level: _tlp2_marking(level) for level in TLP
}

STATIC_OBJECTS: list[dict[str, Any]] = [IDENTITY, *TLP2_MARKINGS.values()]
STATIC_IDS: frozenset[str] = frozenset(obj["id"] for obj in STATIC_OBJECTS)
