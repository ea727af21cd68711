"""Render stored vulnerabilities as STIX 2.1 ``vulnerability`` objects.

The CVE id goes where STIX 2.1 (section 4.17) puts it: an external
reference with ``source_name`` ``cve`` and the id as ``external_id``. The
advisories that name the CVE are external references too. KEV status,
ransomware use and healthcare relevance are ``labels``. Only what the
specification has no property for is custom, with the ``x_medisac_`` prefix:
the CVSS scores and vectors, the KEV dates and the affected products.

Public advisories are TLP:CLEAR, so every object carries that marking.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.engine import Connection

from medisac.model import TLP
from medisac.model.time import format_rfc3339
from medisac.stix.static import IDENTITY, IDENTITY_ID, TLP2_MARKINGS
from medisac.store.merge import PublishedObject, append_objects
from medisac.vulns.records import VulnRecord
from medisac.vulns.store import get_vulnerabilities

__all__ = [
    "VULNERABILITY_NAMESPACE",
    "render_bundle",
    "render_vulnerability",
    "vulnerability_id",
]

# Namespace of the uuid5 vulnerability ids; changing it re-keys every object.
VULNERABILITY_NAMESPACE = uuid.UUID("2f0c4b7e-6a53-4d0f-9b8e-5c1d3e7a9f21")
_CVE_URL = "https://www.cve.org/CVERecord?id="


def vulnerability_id(cve: str) -> str:
    """Return the STIX id of a CVE: a uuid5 of the id, the same everywhere."""
    return f"vulnerability--{uuid.uuid5(VULNERABILITY_NAMESPACE, cve.upper())}"


def _labels(record: VulnRecord) -> list[str]:
    labels = []
    if record.kev:
        labels.append("known-exploited")
    if record.ransomware:
        labels.append("ransomware")
    if record.healthcare:
        labels.append("healthcare")
    if any(product.device for product in record.products):
        labels.append("medical-device")
    return labels


def _references(record: VulnRecord) -> list[dict[str, str]]:
    references = [
        {"source_name": "cve", "external_id": record.cve, "url": _CVE_URL + record.cve}
    ]
    for document in record.documents:
        if document.format == "csaf":
            entry = {"source_name": "csaf", "external_id": document.document}
            if document.title:
                entry["description"] = document.title
            references.append(entry)
        elif document.format == "kev":
            # No external_id: validators take a CVE id there for a CVE reference.
            references.append(
                {
                    "source_name": "cisa-kev",
                    "url": "https://www.cisa.gov/known-exploited-vulnerabilities-catalog",
                    "description": "CISA Known Exploited Vulnerabilities catalogue",
                }
            )
    seen = set()
    for url in record.references:
        if url in seen:
            continue
        seen.add(url)
        references.append({"source_name": "reference", "url": url})
    return references


def _custom(record: VulnRecord) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    if record.cvss_v3 is not None:
        custom["x_medisac_cvss_v3_score"] = record.cvss_v3
        if record.cvss_v3_vector:
            custom["x_medisac_cvss_v3_vector"] = record.cvss_v3_vector
    if record.cvss_v4 is not None:
        custom["x_medisac_cvss_v4_score"] = record.cvss_v4
        if record.cvss_v4_vector:
            custom["x_medisac_cvss_v4_vector"] = record.cvss_v4_vector
    if record.kev_date_added is not None:
        custom["x_medisac_kev_date_added"] = format_rfc3339(
            record.kev_date_added, digits=3
        )
    affected = [
        {
            key: value
            for key, value in product.as_dict().items()
            if value not in (None, "")
        }
        for product in record.products
        if product.status == "affected"
    ]
    if affected:
        custom["x_medisac_affected_products"] = affected
    return custom


def render_vulnerability(record: VulnRecord) -> dict[str, Any]:
    """Return ``record`` as a JSON-ready STIX 2.1 vulnerability object."""
    body: dict[str, Any] = {
        "type": "vulnerability",
        "spec_version": "2.1",
        "id": vulnerability_id(record.cve),
        "created_by_ref": IDENTITY_ID,
        "created": format_rfc3339(record.first_seen, digits=3),
        "modified": format_rfc3339(record.modified, digits=3),
        "name": record.cve,
        "external_references": _references(record),
        "object_marking_refs": [TLP.CLEAR.marking_id],
    }
    if record.description:
        body["description"] = record.description
    labels = _labels(record)
    if labels:
        body["labels"] = labels
    body.update(_custom(record))
    return body


def render_bundle(records: list[VulnRecord]) -> dict[str, Any]:
    """Return a STIX 2.1 bundle of ``records`` with the identity and marking."""
    objects = [IDENTITY, TLP2_MARKINGS[TLP.CLEAR]]
    objects += [render_vulnerability(record) for record in records]
    return {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": objects,
    }


def publish_vulnerabilities(conn: Connection, cves: list[str]) -> int:
    """Publish the current version of each CVE to the TAXII collections.

    The caller holds the publish lock (``begin_write``). Vulnerability
    records are TLP:CLEAR, so every reader of the vulnerabilities collection
    receives them. Returns the number of objects published.
    """
    records = get_vulnerabilities(conn, sorted(set(cves)))
    objects = [
        PublishedObject(
            body=render_vulnerability(record),
            modified=record.modified,
            healthcare=record.healthcare,
            tlp=TLP.CLEAR,
        )
        for record in records.values()
    ]
    append_objects(conn, objects)
    return len(objects)
