"""Vulnerability records as the parsers read them, before they are stored."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from medisac.vulns.names import product_key, vendor_key
from medisac.vulns.ranges import RangeError, VersionRange, parse_range

__all__ = [
    "AffectedProduct",
    "DocumentRejection",
    "KevEntry",
    "ProductStatus",
    "VulnDocument",
    "Vulnerability",
]


class ProductStatus(StrEnum):
    """The status a document gives a product's versions (CSAF product_status)."""

    AFFECTED = "affected"
    FIXED = "fixed"
    NOT_AFFECTED = "not_affected"


@dataclass(frozen=True, slots=True)
class AffectedProduct:
    """One product and the versions a document gives a status for.

    ``versions`` is the text as written. ``version_range`` is None when that
    text could not be read, and ``range_error`` then gives the reason. Such a product
    is reported as a possible match, never as a certain one.
    """

    vendor: str
    product: str
    versions: str
    status: ProductStatus
    version_range: VersionRange | None
    range_error: str | None = None
    cpe: str | None = None
    purl: str | None = None
    device: bool = False
    remediation: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity within one vulnerability: vendor, product, range and status."""
        versions = (
            self.version_range.canonical()
            if self.version_range is not None
            else self.versions.strip()
        )
        return (
            vendor_key(self.vendor),
            product_key(self.product, self.vendor),
            versions,
            self.status.value,
        )


def read_versions(text: str) -> tuple[VersionRange | None, str | None]:
    """Parse ``text`` as a range; return (range, None) or (None, the reason)."""
    try:
        return parse_range(text), None
    except RangeError as exc:
        return None, str(exc)


@dataclass(frozen=True, slots=True)
class KevEntry:
    """A CVE's entry in CISA's Known Exploited Vulnerabilities catalogue.

    Dates are µs since the epoch (midnight UTC of the catalogue's date).
    """

    date_added: int
    due_date: int | None
    ransomware: bool
    name: str | None
    required_action: str | None


@dataclass(slots=True)
class Vulnerability:
    """The facts one document gives about one CVE.

    CVSS scores are base scores (0.0 to 10.0); ``published`` is µs since the
    epoch. ``healthcare_reason`` is set when the document marks the CVE as
    relevant to healthcare.
    """

    cve: str
    title: str | None = None
    description: str | None = None
    cvss_v3: float | None = None
    cvss_v3_vector: str | None = None
    cvss_v4: float | None = None
    cvss_v4_vector: str | None = None
    cwes: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    published: int | None = None
    kev: KevEntry | None = None
    products: list[AffectedProduct] = field(default_factory=list)
    healthcare_reason: str | None = None

    def add_product(self, product: AffectedProduct) -> None:
        """Add ``product``, or merge it into an equal entry already listed.

        Merging fills the CPE, package URL and remediation that the listed
        entry lacks.
        """
        for index, existing in enumerate(self.products):
            if existing.key == product.key:
                self.products[index] = replace(
                    existing,
                    cpe=existing.cpe or product.cpe,
                    purl=existing.purl or product.purl,
                    remediation=existing.remediation or product.remediation,
                    device=existing.device or product.device,
                )
                return
        self.products.append(product)


@dataclass(frozen=True, slots=True)
class DocumentRejection:
    """One record of a document that was not read, with where and why."""

    location: str
    reason: str


@dataclass(slots=True)
class VulnDocument:
    """One parsed CSAF advisory, CVE record or KEV catalogue.

    ``document_id`` is the CSAF tracking id, the CVE id of a CVE record or
    ``KEV``. ``skipped`` counts records left out on purpose, by kind.
    """

    format: str
    document_id: str
    title: str | None = None
    publisher: str | None = None
    vulnerabilities: list[Vulnerability] = field(default_factory=list)
    rejections: list[DocumentRejection] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, kind: str) -> None:
        """Count one record of ``kind`` left out on purpose."""
        self.skipped[kind] = self.skipped.get(kind, 0) + 1
