"""Stored vulnerabilities as read back from the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["DocumentRef", "ProductRow", "VulnRecord"]


@dataclass(frozen=True, slots=True)
class ProductRow:
    """One stored product entry of a vulnerability (a ``vuln_products`` row)."""

    cve: str
    document: str
    vendor: str
    product: str
    vendor_key: str
    product_key: str
    versions: str
    version_range: str | None
    range_error: str | None
    status: str
    cpe: str | None
    purl: str | None
    device: bool
    remediation: str | None

    @classmethod
    def from_row(cls, row: Any) -> ProductRow:
        """Build a :class:`ProductRow` from a ``vuln_products`` row."""
        return cls(
            cve=row.cve,
            document=row.document,
            vendor=row.vendor,
            product=row.product,
            vendor_key=row.vendor_key,
            product_key=row.product_key,
            versions=row.versions,
            version_range=row.version_range,
            range_error=row.range_error,
            status=row.status,
            cpe=row.cpe,
            purl=row.purl,
            device=bool(row.device),
            remediation=row.remediation,
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the entry as JSON-ready data."""
        return {
            "vendor": self.vendor,
            "product": self.product,
            "versions": self.versions,
            "version_range": self.version_range,
            "range_error": self.range_error,
            "status": self.status,
            "cpe": self.cpe,
            "purl": self.purl,
            "medical_device": self.device,
            "remediation": self.remediation,
            "document": self.document,
        }


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """A document that named a CVE: an advisory id, a CVE record or ``KEV``."""

    document: str
    format: str
    title: str | None
    publisher: str | None


@dataclass(frozen=True, slots=True)
class VulnRecord:
    """A stored vulnerability: CVSS base scores 0.0-10.0, times in µs."""

    cve: str
    title: str | None
    description: str | None
    cvss_v3: float | None
    cvss_v3_vector: str | None
    cvss_v4: float | None
    cvss_v4_vector: str | None
    cwes: tuple[str, ...]
    references: tuple[str, ...]
    published: int | None
    kev: bool
    kev_date_added: int | None
    kev_due_date: int | None
    ransomware: bool
    required_action: str | None
    healthcare: bool
    healthcare_reason: str | None
    first_seen: int
    modified: int
    documents: tuple[DocumentRef, ...] = ()
    products: tuple[ProductRow, ...] = field(default=())

    @property
    def cvss(self) -> float | None:
        """The CVSS v4 base score when known, else the v3 one."""
        return self.cvss_v4 if self.cvss_v4 is not None else self.cvss_v3

    @classmethod
    def from_row(
        cls,
        row: Any,
        documents: tuple[DocumentRef, ...] = (),
        products: tuple[ProductRow, ...] = (),
    ) -> VulnRecord:
        """Build a :class:`VulnRecord` from a ``vulnerabilities`` row."""
        healthcare = (
            row.healthcare if row.healthcare_set is None else row.healthcare_set
        )
        reason = row.healthcare_reason
        if row.healthcare_set is not None:
            reason = "set by an analyst"
        return cls(
            cve=row.cve,
            title=row.title,
            description=row.description,
            cvss_v3=None if row.cvss_v3 is None else row.cvss_v3 / 10,
            cvss_v3_vector=row.cvss_v3_vector,
            cvss_v4=None if row.cvss_v4 is None else row.cvss_v4 / 10,
            cvss_v4_vector=row.cvss_v4_vector,
            cwes=tuple(orjson.loads(row.cwes)),
            references=tuple(orjson.loads(row.reference_urls)),
            published=row.published,
            kev=bool(row.kev),
            kev_date_added=row.kev_date_added,
            kev_due_date=row.kev_due_date,
            ransomware=bool(row.kev_ransomware),
            required_action=row.kev_required_action,
            healthcare=bool(healthcare),
            healthcare_reason=reason if healthcare else None,
            first_seen=row.first_seen,
            modified=row.modified,
            documents=documents,
            products=products,
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data (times as µs since the epoch)."""
        return {
            "cve": self.cve,
            "title": self.title,
            "description": self.description,
            "cvss_v3": self.cvss_v3,
            "cvss_v3_vector": self.cvss_v3_vector,
            "cvss_v4": self.cvss_v4,
            "cvss_v4_vector": self.cvss_v4_vector,
            "cwes": list(self.cwes),
            "references": list(self.references),
            "published": self.published,
            "kev": self.kev,
            "kev_date_added": self.kev_date_added,
            "kev_due_date": self.kev_due_date,
            "known_ransomware_use": self.ransomware,
            "healthcare": self.healthcare,
            "healthcare_reason": self.healthcare_reason,
            "documents": [
                {"id": d.document, "format": d.format, "title": d.title}
                for d in self.documents
            ],
            "products": [product.as_dict() for product in self.products],
        }
