"""Reading and writing vulnerabilities in the store.

One ``vulnerabilities`` row per CVE merges the facts of every document:

- title and description: a CSAF advisory or CVE record replaces what is
  stored; the KEV catalogue only fills them when they are empty;
- CVSS scores: the last document that gives a score wins;
- CWE ids and references: the union, in the order first seen;
- KEV fields: only the KEV catalogue writes them;
- healthcare relevance: once any document marks it, it stays marked, and an
  analyst's decision (``healthcare_set``) overrides it.

The products of a vulnerability are kept per document: reading a document
again replaces its own product rows and leaves the others alone. A digest of
the merged row and all its products separates a changed record from a
re-read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.store.tables import vuln_documents, vuln_products, vulnerabilities
from medisac.vulns.model import VulnDocument, Vulnerability
from medisac.vulns.names import product_key, vendor_key
from medisac.vulns.records import DocumentRef, ProductRow, VulnRecord

__all__ = [
    "StoreCounts",
    "get_vulnerabilities",
    "get_vulnerability",
    "list_vulnerabilities",
    "set_healthcare",
    "store_document",
]

_NON_KEV = ("csaf", "cve")
# CVE ids per IN (...) list, well under the bound parameters SQLite allows.
_CHUNK = 500


@dataclass(slots=True)
class StoreCounts:
    """Counts of CVEs that storing documents added, changed and left unchanged."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0

    def add(self, other: StoreCounts) -> None:
        """Add the counts of ``other`` to these."""
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged


def _tenths(score: float | None) -> int | None:
    return None if score is None else round(score * 10)


def _merge_list(stored: str | None, extra: list[str]) -> str:
    items: list[str] = list(orjson.loads(stored)) if stored else []
    for item in extra:
        if item not in items:
            items.append(item)
    return orjson.dumps(items).decode()


def _merged_values(row: Any, vuln: Vulnerability, fmt: str) -> dict[str, Any]:
    """Return the column values of the merged row (without times and digest)."""
    current: dict[str, Any] = dict(row._mapping) if row is not None else {}
    values: dict[str, Any] = {
        "title": current.get("title"),
        "description": current.get("description"),
        "cvss_v3": current.get("cvss_v3"),
        "cvss_v3_vector": current.get("cvss_v3_vector"),
        "cvss_v4": current.get("cvss_v4"),
        "cvss_v4_vector": current.get("cvss_v4_vector"),
        "cwes": _merge_list(current.get("cwes"), vuln.cwes),
        "reference_urls": _merge_list(current.get("reference_urls"), vuln.references),
        "published": current.get("published"),
        "kev": bool(current.get("kev", False)),
        "kev_date_added": current.get("kev_date_added"),
        "kev_due_date": current.get("kev_due_date"),
        "kev_ransomware": bool(current.get("kev_ransomware", False)),
        "kev_required_action": current.get("kev_required_action"),
        "healthcare": bool(current.get("healthcare", False)),
        "healthcare_reason": current.get("healthcare_reason"),
        "healthcare_set": current.get("healthcare_set"),
    }
    for name in ("title", "description"):
        new = getattr(vuln, name)
        if new and (fmt in _NON_KEV or not values[name]):
            values[name] = new
    if vuln.cvss_v3 is not None:
        values["cvss_v3"] = _tenths(vuln.cvss_v3)
        values["cvss_v3_vector"] = vuln.cvss_v3_vector
    if vuln.cvss_v4 is not None:
        values["cvss_v4"] = _tenths(vuln.cvss_v4)
        values["cvss_v4_vector"] = vuln.cvss_v4_vector
    if vuln.published is not None and (
        values["published"] is None or vuln.published < values["published"]
    ):
        values["published"] = vuln.published
    if vuln.kev is not None:
        values["kev"] = True
        values["kev_date_added"] = vuln.kev.date_added
        values["kev_due_date"] = vuln.kev.due_date
        values["kev_ransomware"] = vuln.kev.ransomware
        values["kev_required_action"] = vuln.kev.required_action
    if vuln.healthcare_reason and not values["healthcare"]:
        values["healthcare"] = True
        values["healthcare_reason"] = vuln.healthcare_reason
    return values


def _product_rows(vuln: Vulnerability, document: str) -> list[dict[str, Any]]:
    return [
        {
            "cve": vuln.cve,
            "document": document,
            "vendor": product.vendor,
            "product": product.product,
            "vendor_key": vendor_key(product.vendor),
            "product_key": product_key(product.product, product.vendor),
            "versions": product.versions,
            "version_range": None
            if product.version_range is None
            else product.version_range.canonical(),
            "range_error": product.range_error,
            "status": product.status.value,
            "cpe": product.cpe,
            "purl": product.purl,
            "device": product.device,
            "remediation": product.remediation,
        }
        for product in vuln.products
    ]


def _digest(conn: Connection, cve: str, values: dict[str, Any]) -> str:
    vp = vuln_products.c
    rows = conn.execute(
        sa.select(
            vp.document,
            vp.vendor_key,
            vp.product_key,
            vp.versions,
            vp.status,
            vp.version_range,
            vp.remediation,
        ).where(vp.cve == cve)
    ).all()
    products = sorted([[str(part) for part in row] for row in rows])
    payload = orjson.dumps([values, products], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


def _store_one(
    conn: Connection, doc: VulnDocument, vuln: Vulnerability, now: int
) -> str:
    """Merge one vulnerability; return ``new``, ``changed`` or ``unchanged``."""
    v = vulnerabilities.c
    row = conn.execute(sa.select(vulnerabilities).where(v.cve == vuln.cve)).first()
    values = _merged_values(row, vuln, doc.format)
    if row is None:
        conn.execute(
            vulnerabilities.insert().values(
                cve=vuln.cve, first_seen=now, modified=now, digest="", **values
            )
        )
    conn.execute(
        vuln_products.delete().where(
            vuln_products.c.cve == vuln.cve,
            vuln_products.c.document == doc.document_id,
        )
    )
    products = _product_rows(vuln, doc.document_id)
    if products:
        conn.execute(vuln_products.insert(), products)
    _link_document(conn, doc, vuln.cve, now)
    digest = _digest(conn, vuln.cve, values)
    if row is not None and row.digest == digest:
        return "unchanged"
    conn.execute(
        vulnerabilities.update()
        .where(v.cve == vuln.cve)
        .values(modified=now, digest=digest, **values)
    )
    return "new" if row is None else "changed"


def _link_document(conn: Connection, doc: VulnDocument, cve: str, now: int) -> None:
    d = vuln_documents.c
    found = conn.execute(
        sa.select(d.cve).where(d.cve == cve, d.document == doc.document_id)
    ).first()
    values = {
        "format": doc.format,
        "title": doc.title,
        "publisher": doc.publisher,
        "ingested": now,
    }
    if found is None:
        conn.execute(
            vuln_documents.insert().values(cve=cve, document=doc.document_id, **values)
        )
    else:
        conn.execute(
            vuln_documents.update()
            .where(d.cve == cve, d.document == doc.document_id)
            .values(**values)
        )


def store_document(
    conn: Connection, doc: VulnDocument, now: int
) -> tuple[StoreCounts, list[str]]:
    """Merge every vulnerability of ``doc`` into the store at time ``now`` (µs).

    Returns the counts and the CVE ids that are new or changed.
    """
    counts = StoreCounts()
    touched: list[str] = []
    for vuln in doc.vulnerabilities:
        outcome = _store_one(conn, doc, vuln, now)
        if outcome == "unchanged":
            counts.unchanged += 1
            continue
        touched.append(vuln.cve)
        if outcome == "new":
            counts.new += 1
        else:
            counts.changed += 1
    return counts, touched


def _products_of(conn: Connection, cves: list[str]) -> dict[str, list[ProductRow]]:
    found: dict[str, list[ProductRow]] = {cve: [] for cve in cves}
    for start in range(0, len(cves), _CHUNK):
        chunk = cves[start : start + _CHUNK]
        rows = conn.execute(
            sa.select(vuln_products)
            .where(vuln_products.c.cve.in_(chunk))
            .order_by(vuln_products.c.id)
        )
        for row in rows:
            found[row.cve].append(ProductRow.from_row(row))
    return found


def get_vulnerability(conn: Connection, cve: str) -> VulnRecord | None:
    """Return the stored vulnerability ``cve`` with its documents and products."""
    cve = cve.strip().upper()
    return get_vulnerabilities(conn, [cve]).get(cve)


def get_vulnerabilities(conn: Connection, cves: list[str]) -> dict[str, VulnRecord]:
    """Return the stored vulnerabilities among ``cves``, by CVE id.

    Each comes with its documents and products, read in a few queries for
    the whole list.
    """
    wanted = sorted(set(cves))
    rows: list[Any] = []
    documents: dict[str, list[DocumentRef]] = {cve: [] for cve in wanted}
    d = vuln_documents.c
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows.extend(
            conn.execute(
                sa.select(vulnerabilities).where(vulnerabilities.c.cve.in_(chunk))
            )
        )
        query = sa.select(vuln_documents).where(d.cve.in_(chunk)).order_by(d.document)
        for doc in conn.execute(query):
            documents[doc.cve].append(
                DocumentRef(doc.document, doc.format, doc.title, doc.publisher)
            )
    products = _products_of(conn, [row.cve for row in rows])
    return {
        row.cve: VulnRecord.from_row(
            row, tuple(documents[row.cve]), tuple(products[row.cve])
        )
        for row in rows
    }


def list_vulnerabilities(
    conn: Connection,
    *,
    kev: bool | None = None,
    healthcare: bool | None = None,
    limit: int | None = None,
    with_products: bool = False,
) -> list[VulnRecord]:
    """Return stored vulnerabilities, most recently changed first, with filters."""
    v = vulnerabilities.c
    query = sa.select(vulnerabilities).order_by(v.modified.desc(), v.cve)
    if kev is not None:
        query = query.where(v.kev.is_(kev))
    if healthcare is not None:
        effective = sa.func.coalesce(v.healthcare_set, v.healthcare)
        query = query.where(effective.is_(healthcare))
    if limit is not None:
        query = query.limit(limit)
    rows = conn.execute(query).all()
    products = _products_of(conn, [row.cve for row in rows]) if with_products else {}
    return [
        VulnRecord.from_row(row, (), tuple(products.get(row.cve, ()))) for row in rows
    ]


def set_healthcare(conn: Connection, cve: str, value: bool | None) -> bool:
    """Record an analyst's healthcare decision (None clears it).

    Returns False when the CVE is not stored.
    """
    result = conn.execute(
        vulnerabilities.update()
        .where(vulnerabilities.c.cve == cve.strip().upper())
        .values(healthcare_set=value)
    )
    return bool(result.rowcount)
