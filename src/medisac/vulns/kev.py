"""CISA's Known Exploited Vulnerabilities catalogue, as JSON and as CSV.

Each entry names a CVE, a vendor and a product (without versions), the date
CISA added it, the due date for federal agencies and whether it is known to
be used in ransomware campaigns. An entry without ``cveID``,
``vendorProject``, ``product`` or a valid ``dateAdded`` is rejected on its
own, naming the field; the rest of the catalogue is read.

The catalogue gives no versions, so its products carry no range. A member
that runs such a product gets a possible match, for a person to check.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from medisac.vulns.csaf import CVE_ID
from medisac.vulns.fields import FieldError, require_list
from medisac.vulns.model import (
    AffectedProduct,
    DocumentRejection,
    KevEntry,
    ProductStatus,
    VulnDocument,
    Vulnerability,
)
from medisac.vulns.names import looks_like_device, vendor_info

__all__ = ["KEV_COLUMNS", "is_kev", "is_kev_header", "parse_kev_csv", "parse_kev_json"]

KEV_DOCUMENT = "KEV"
KEV_COLUMNS = (
    "cveID",
    "vendorProject",
    "product",
    "vulnerabilityName",
    "dateAdded",
    "shortDescription",
    "requiredAction",
    "dueDate",
    "knownRansomwareCampaignUse",
)
_REQUIRED = ("cveID", "vendorProject", "product", "dateAdded")
NO_VERSIONS = "the KEV catalogue gives no versions"


def is_kev(data: Any) -> bool:
    """Tell whether parsed JSON ``data`` is a KEV catalogue."""
    return (
        isinstance(data, dict)
        and "catalogVersion" in data
        and isinstance(data.get("vulnerabilities"), list)
    )


def is_kev_header(fields: Iterable[str]) -> bool:
    """Tell whether a CSV header row is the KEV catalogue's."""
    names = {field.strip().lstrip("\ufeff") for field in fields}
    return set(_REQUIRED) <= names and "knownRansomwareCampaignUse" in names


def _date(text: str) -> int:
    """Return midnight UTC of a ``YYYY-MM-DD`` date in µs since the epoch."""
    moment = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000


def _entry(doc: VulnDocument, entry: Any, location: str) -> None:
    if not isinstance(entry, dict):
        doc.rejections.append(DocumentRejection(location, "must be an object"))
        return
    values = {key: str(entry.get(key) or "").strip() for key in (*KEV_COLUMNS, "notes")}
    cve = values["cveID"].upper()
    where = f"{location} ({cve})" if cve else location
    missing = [key for key in _REQUIRED if not values[key]]
    if missing:
        doc.rejections.append(
            DocumentRejection(where, f"field {missing[0]} is missing or empty")
        )
        return
    if not CVE_ID.match(cve):
        doc.rejections.append(
            DocumentRejection(where, f"field cveID is not a CVE id: {cve!r}")
        )
        return
    try:
        added = _date(values["dateAdded"])
        due = _date(values["dueDate"]) if values["dueDate"] else None
    except ValueError:
        doc.rejections.append(
            DocumentRejection(
                where, "field dateAdded or dueDate is not a YYYY-MM-DD date"
            )
        )
        return
    vendor, product = values["vendorProject"], values["product"]
    cwes = entry.get("cwes")
    if isinstance(cwes, str):
        cwes = [part.strip() for part in cwes.split(",") if part.strip()]
    vulnerability = Vulnerability(
        cve=cve,
        title=values["vulnerabilityName"] or None,
        description=values["shortDescription"] or None,
        cwes=[str(cwe) for cwe in cwes or []],
        references=_urls(values["notes"]),
        kev=KevEntry(
            date_added=added,
            due_date=due,
            ransomware=values["knownRansomwareCampaignUse"].lower() == "known",
            name=values["vulnerabilityName"] or None,
            required_action=values["requiredAction"] or None,
        ),
    )
    vulnerability.add_product(
        AffectedProduct(
            vendor=vendor,
            product=product,
            versions="",
            status=ProductStatus.AFFECTED,
            version_range=None,
            range_error=NO_VERSIONS,
            device=looks_like_device(vendor, product),
        )
    )
    kind = vendor_info(vendor).kind
    if kind is not None:
        label = "medical device" if kind == "device" else "clinical-system"
        vulnerability.healthcare_reason = f"{label} vendor {vendor}"
    doc.vulnerabilities.append(vulnerability)


def _urls(notes: str) -> list[str]:
    return [
        part.strip() for part in notes.split(" ; ") if part.strip().startswith("http")
    ]


def parse_kev_json(origin: str, data: Any) -> VulnDocument:
    """Read the KEV catalogue in CISA's JSON form.

    Raises :class:`FieldError` when ``vulnerabilities`` is not a list.
    """
    if not isinstance(data, dict):
        raise FieldError(origin, "(top level)", "must be a JSON object")
    entries = require_list(origin, data, "vulnerabilities", "vulnerabilities")
    version = data.get("catalogVersion")
    doc = VulnDocument("kev", KEV_DOCUMENT, f"CISA KEV catalogue {version}", "CISA")
    for index, entry in enumerate(entries):
        _entry(doc, entry, f"vulnerabilities[{index}]")
    return doc


def parse_kev_csv(origin: str, text: str) -> VulnDocument:
    """Read the KEV catalogue in CISA's CSV form (header row first).

    Raises :class:`FieldError` when the header lacks a required column.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = reader.fieldnames or []
    for column in _REQUIRED:
        if column not in header:
            raise FieldError(
                origin, f"column {column}", "is missing from the header row"
            )
    doc = VulnDocument("kev", KEV_DOCUMENT, "CISA KEV catalogue (CSV)", "CISA")
    for row in reader:
        _entry(doc, row, f"line {reader.line_num}")
    return doc
