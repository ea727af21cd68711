"""CSAF 2.0 advisories: the product tree, product status, scores and remediations.

A product can be described three ways in one advisory: a branch path
``vendor → product_name → product_version`` (or ``product_version_range``),
a ``full_product_names`` entry whose name repeats vendor, product and
version, possibly with a CPE, and a relationship that names a component of
another product. All three must give the same vendor, product and version,
or de-duplication would depend on the advisory's shape. :func:`parse_csaf`
resolves each product id to its vendor, its product name without the
version, and its versions, so that equal entries merge.

A product tree that breaks the CSAF schema (a branch without ``category``, a
product without ``product_id``, an id defined twice) rejects the whole
advisory with the path of the field. A vulnerability that refers to an id
the tree does not define loses that reference only, and the rejection names
the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from medisac.model.time import parse_rfc3339, to_us
from medisac.vulns.cpe import CpeError, parse_cpe
from medisac.vulns.fields import (
    FieldError,
    optional_str,
    require,
    require_list,
    require_str,
)
from medisac.vulns.model import (
    AffectedProduct,
    DocumentRejection,
    ProductStatus,
    VulnDocument,
    Vulnerability,
    read_versions,
)
from medisac.vulns.names import looks_like_device, normalise, product_key, vendor_info

__all__ = ["is_csaf", "parse_csaf"]

CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")
_BRANCH_CATEGORIES = frozenset(
    {
        "architecture",
        "host_name",
        "language",
        "legacy",
        "patch_level",
        "product_family",
        "product_name",
        "product_version",
        "product_version_range",
        "service_pack",
        "specification",
        "vendor",
    }
)
# CSAF product_status lists and the status each gives its products.
_STATUS = {
    "known_affected": ProductStatus.AFFECTED,
    "first_affected": ProductStatus.AFFECTED,
    "last_affected": ProductStatus.AFFECTED,
    "fixed": ProductStatus.FIXED,
    "first_fixed": ProductStatus.FIXED,
    "known_not_affected": ProductStatus.NOT_AFFECTED,
}
# For these lists a single version stands for every version after it
# (first_*) or up to it (last_affected).
_OPEN_ENDED = {"first_affected": ">=", "first_fixed": ">=", "last_affected": "<="}


def is_csaf(data: Any) -> bool:
    """Tell whether parsed JSON ``data`` is a CSAF document."""
    document = data.get("document") if isinstance(data, dict) else None
    return isinstance(document, dict) and "csaf_version" in document


@dataclass(frozen=True, slots=True)
class _Product:
    """A product id resolved from the product tree."""

    vendor: str
    product: str
    versions: str | None
    cpe: str | None
    purl: str | None


class _Tree:
    """The product ids of one advisory's product tree."""

    def __init__(self, origin: str, publisher: str | None) -> None:
        self.origin = origin
        self.publisher = publisher
        self.products: dict[str, _Product] = {}
        self.groups: dict[str, list[str]] = {}

    def define(self, product_id: str, product: _Product, path: str) -> None:
        if product_id in self.products:
            raise FieldError(
                self.origin, path, f"defines product id {product_id!r} a second time"
            )
        self.products[product_id] = product

    def read(self, tree: Any) -> None:
        if not isinstance(tree, dict):
            raise FieldError(self.origin, "product_tree", "must be an object")
        if "branches" in tree:
            self._branches(tree["branches"], "product_tree.branches", {})
        for index, entry in enumerate(_list(self.origin, tree, "full_product_names")):
            path = f"product_tree.full_product_names[{index}]"
            product_id, product = self._full_name(entry, path)
            self.define(product_id, product, f"{path}.product_id")
        for index, entry in enumerate(_list(self.origin, tree, "relationships")):
            self._relationship(entry, f"product_tree.relationships[{index}]")
        for index, entry in enumerate(_list(self.origin, tree, "product_groups")):
            path = f"product_tree.product_groups[{index}]"
            group_id = require_str(self.origin, entry, "group_id", f"{path}.group_id")
            ids = require_list(self.origin, entry, "product_ids", f"{path}.product_ids")
            self.groups[group_id] = [str(item) for item in ids]

    def _branches(self, branches: Any, path: str, context: dict[str, str]) -> None:
        if not isinstance(branches, list) or not branches:
            raise FieldError(self.origin, path, "must be a non-empty list")
        for index, branch in enumerate(branches):
            where = f"{path}[{index}]"
            category = require_str(self.origin, branch, "category", f"{where}.category")
            if category not in _BRANCH_CATEGORIES:
                raise FieldError(
                    self.origin, f"{where}.category", f"has unknown value {category!r}"
                )
            name = require_str(self.origin, branch, "name", f"{where}.name").strip()
            inner = {**context, category: name}
            if ("branches" in branch) == ("product" in branch):
                raise FieldError(
                    self.origin, where, "must have either 'branches' or 'product'"
                )
            if "branches" in branch:
                self._branches(branch["branches"], f"{where}.branches", inner)
                continue
            product = branch["product"]
            product_id = require_str(
                self.origin, product, "product_id", f"{where}.product.product_id"
            )
            full_name = require_str(
                self.origin, product, "name", f"{where}.product.name"
            )
            helper = _helper(product)
            versions = inner.get("product_version") or inner.get(
                "product_version_range"
            )
            self.define(
                product_id,
                _Product(
                    vendor=inner.get("vendor") or self.publisher or "",
                    product=inner.get("product_name")
                    or inner.get("product_family")
                    or full_name,
                    versions=versions,
                    cpe=helper.get("cpe"),
                    purl=helper.get("purl"),
                ),
                f"{where}.product.product_id",
            )

    def _full_name(self, entry: Any, path: str) -> tuple[str, _Product]:
        product_id = require_str(self.origin, entry, "product_id", f"{path}.product_id")
        name = require_str(self.origin, entry, "name", f"{path}.name").strip()
        helper = _helper(entry)
        cpe_text = helper.get("cpe")
        if cpe_text:
            try:
                cpe = parse_cpe(cpe_text)
            except CpeError as exc:
                raise FieldError(
                    self.origin, f"{path}.product_identification_helper.cpe", str(exc)
                ) from None
            known = self._known(cpe.display_vendor, cpe.display_product)
            vendor, product = known or (cpe.display_vendor, cpe.display_product)
            versions = cpe.version if cpe.has_version else None
            return product_id, _Product(vendor, product, versions, cpe_text, None)
        vendor, product, versions = self._split_name(name)
        return product_id, _Product(vendor, product, versions, None, helper.get("purl"))

    def _known(self, vendor: str, product: str) -> tuple[str, str] | None:
        """Return the branch spelling of a vendor and product given another way."""
        wanted = (vendor_info(vendor).key, product_key(product, vendor))
        for known in self.products.values():
            pair = (
                vendor_info(known.vendor).key,
                product_key(known.product, known.vendor),
            )
            if pair == wanted:
                return known.vendor, known.product
        return None

    def _split_name(self, name: str) -> tuple[str, str, str | None]:
        """Split a full product name into a known vendor and product and the rest."""
        words = normalise(name)
        for known in self.products.values():
            for prefix in (f"{known.vendor} {known.product}", known.product):
                start = normalise(prefix)
                if start and (words == start or words.startswith(start + " ")):
                    rest = _tail(name, len(start.split()))
                    return known.vendor, known.product, rest or None
        return self.publisher or "", name, None

    def _relationship(self, entry: Any, path: str) -> None:
        full = require(
            self.origin, entry, "full_product_name", f"{path}.full_product_name"
        )
        product_id = require_str(
            self.origin, full, "product_id", f"{path}.full_product_name.product_id"
        )
        reference = require_str(
            self.origin, entry, "product_reference", f"{path}.product_reference"
        )
        # The affected part of "X default_component_of Y" is X. Only an
        # invalid document defines X after the relationship, so X must be
        # known here.
        component = self.products.get(reference)
        if component is None:
            raise FieldError(
                self.origin,
                f"{path}.product_reference",
                f"names product id {reference!r}, which the product tree "
                "does not define",
            )
        self.define(product_id, component, f"{path}.full_product_name.product_id")

    def expand(self, ids: list[str]) -> list[str]:
        out: list[str] = []
        for item in ids:
            out.extend(self.groups.get(item, [item]))
        return out


def _tail(name: str, words: int) -> str:
    """Return ``name`` after its first ``words`` words, as written."""
    parts = re.split(r"([^0-9A-Za-z\u00c0-\uffff]+)", name)
    seen = 0
    for index, part in enumerate(parts):
        if part and re.match(r"[0-9A-Za-z\u00c0-\uffff]", part):
            seen += 1
            if seen == words:
                return "".join(parts[index + 1 :]).strip(" :-,")
    return ""


def _helper(product: Any) -> dict[str, str]:
    helper = (
        product.get("product_identification_helper")
        if isinstance(product, dict)
        else None
    )
    if not isinstance(helper, dict):
        return {}
    return {
        key: value
        for key in ("cpe", "purl")
        if isinstance(value := helper.get(key), str)
    }


def _list(origin: str, data: dict[str, Any], key: str) -> list[Any]:
    if key not in data:
        return []
    return require_list(origin, data, key, f"product_tree.{key}")


def _header(origin: str, data: Any) -> tuple[str, str, str | None, str]:
    """Check the required ``document`` fields; return id, title, publisher, release."""
    if not isinstance(data, dict):
        raise FieldError(origin, "(top level)", "must be a JSON object")
    document = require(origin, data, "document", "document")
    version = require_str(origin, document, "csaf_version", "document.csaf_version")
    if not version.startswith("2."):
        raise FieldError(
            origin, "document.csaf_version", f"is {version!r}; only CSAF 2.x is read"
        )
    require_str(origin, document, "category", "document.category")
    title = require_str(origin, document, "title", "document.title")
    publisher = require(origin, document, "publisher", "document.publisher")
    publisher_name = require_str(origin, publisher, "name", "document.publisher.name")
    category = require_str(origin, publisher, "category", "document.publisher.category")
    tracking = require(origin, document, "tracking", "document.tracking")
    tracking_id = require_str(origin, tracking, "id", "document.tracking.id").strip()
    release = require_str(
        origin,
        tracking,
        "initial_release_date",
        "document.tracking.initial_release_date",
    )
    for key in ("current_release_date", "status", "version"):
        require_str(origin, tracking, key, f"document.tracking.{key}")
    vendor = publisher_name if category == "vendor" else None
    return tracking_id, title.strip(), vendor, release


def parse_csaf(origin: str, data: Any) -> VulnDocument:
    """Read a CSAF 2.0 advisory.

    Raises :class:`FieldError` (an :class:`medisac.errors.IngestError`) naming
    the field when the document header or the product tree is invalid.
    """
    tracking_id, title, vendor, release = _header(origin, data)
    publisher = data["document"]["publisher"]["name"]
    doc = VulnDocument("csaf", tracking_id, title, publisher)
    tree = _Tree(origin, vendor)
    if "product_tree" in data:
        tree.read(data["product_tree"])
    context = _Context(
        tracking_id=tracking_id,
        title=title,
        published=_time(release),
        medical=tracking_id.upper().startswith("ICSMA"),
        healthcare_sector=_healthcare_sector(data["document"]),
    )
    entries = data.get("vulnerabilities", [])
    if not isinstance(entries, list):
        raise FieldError(origin, "vulnerabilities", "must be a list")
    for index, entry in enumerate(entries):
        vulnerability = _vulnerability(doc, tree, context, entry, index)
        if vulnerability is not None:
            doc.vulnerabilities.append(vulnerability)
    return doc


@dataclass(frozen=True, slots=True)
class _Context:
    tracking_id: str
    title: str
    published: int | None
    medical: bool
    healthcare_sector: bool


def _time(text: str) -> int | None:
    try:
        return to_us(parse_rfc3339(text, assume_utc=True))
    except ValueError:
        return None


def _healthcare_sector(document: dict[str, Any]) -> bool:
    for note in document.get("notes") or []:
        if not isinstance(note, dict):
            continue
        if "sector" in str(note.get("title", "")).lower():
            return "healthcare" in str(note.get("text", "")).lower()
    return False


def _vulnerability(
    doc: VulnDocument, tree: _Tree, context: _Context, entry: Any, index: int
) -> Vulnerability | None:
    path = f"vulnerabilities[{index}]"
    if not isinstance(entry, dict):
        doc.rejections.append(DocumentRejection(path, "must be an object"))
        return None
    cve = optional_str(entry, "cve")
    if cve is None:
        doc.skip("vulnerability without a CVE id")
        return None
    cve = cve.upper()
    if not CVE_ID.match(cve):
        doc.rejections.append(
            DocumentRejection(f"{path}.cve", f"invalid CVE id {cve!r}")
        )
        return None
    vulnerability = Vulnerability(
        cve=cve,
        title=optional_str(entry, "title") or context.title,
        description=_description(entry),
        references=_references(entry),
        published=context.published,
    )
    cwe = entry.get("cwe")
    if isinstance(cwe, dict) and isinstance(cwe.get("id"), str):
        vulnerability.cwes.append(cwe["id"])
    _scores(vulnerability, entry)
    remediations = _remediations(tree, entry)
    _products(doc, tree, context, vulnerability, entry, path, remediations)
    vulnerability.healthcare_reason = _healthcare_reason(context, vulnerability)
    return vulnerability


def _description(entry: dict[str, Any]) -> str | None:
    notes = [note for note in entry.get("notes") or [] if isinstance(note, dict)]
    for category in ("description", "summary", "details"):
        for note in notes:
            if note.get("category") == category and isinstance(note.get("text"), str):
                return str(note["text"]).strip()
    return None


def _references(entry: dict[str, Any]) -> list[str]:
    urls = []
    for reference in entry.get("references") or []:
        if isinstance(reference, dict) and isinstance(reference.get("url"), str):
            urls.append(reference["url"])
    return urls


def _scores(vulnerability: Vulnerability, entry: dict[str, Any]) -> None:
    for score in entry.get("scores") or []:
        if not isinstance(score, dict):
            continue
        for key, version in (("cvss_v3", 3), ("cvss_v4", 4)):
            cvss = score.get(key)
            if not isinstance(cvss, dict) or not isinstance(
                cvss.get("baseScore"), int | float
            ):
                continue
            base = float(cvss["baseScore"])
            vector = (
                cvss.get("vectorString")
                if isinstance(cvss.get("vectorString"), str)
                else None
            )
            if version == 3 and (
                vulnerability.cvss_v3 is None or base > vulnerability.cvss_v3
            ):
                vulnerability.cvss_v3, vulnerability.cvss_v3_vector = base, vector
            if version == 4 and (
                vulnerability.cvss_v4 is None or base > vulnerability.cvss_v4
            ):
                vulnerability.cvss_v4, vulnerability.cvss_v4_vector = base, vector


def _remediations(tree: _Tree, entry: dict[str, Any]) -> dict[str, str]:
    """Return the first vendor fix (or else mitigation) per product id."""
    found: dict[str, str] = {}
    ranked = sorted(
        (item for item in entry.get("remediations") or [] if isinstance(item, dict)),
        key=lambda item: item.get("category") != "vendor_fix",
    )
    for remediation in ranked:
        details = optional_str(remediation, "details")
        if details is None:
            continue
        url = optional_str(remediation, "url")
        text = f"{details} ({url})" if url else details
        ids = [str(item) for item in remediation.get("product_ids") or []]
        ids += tree.expand([str(item) for item in remediation.get("group_ids") or []])
        for product_id in ids:
            found.setdefault(product_id, text)
    return found


def _products(
    doc: VulnDocument,
    tree: _Tree,
    context: _Context,
    vulnerability: Vulnerability,
    entry: dict[str, Any],
    path: str,
    remediations: dict[str, str],
) -> None:
    status = entry.get("product_status")
    if not isinstance(status, dict):
        return
    for list_name, meaning in _STATUS.items():
        ids = status.get(list_name)
        if not isinstance(ids, list):
            continue
        for position, product_id in enumerate(ids):
            product = tree.products.get(str(product_id))
            if product is None:
                doc.rejections.append(
                    DocumentRejection(
                        f"{path}.product_status.{list_name}[{position}]",
                        f"product id {product_id!r} is not defined in product_tree",
                    )
                )
                continue
            versions = product.versions or "*"
            if list_name in _OPEN_ENDED and product.versions:
                versions = f"{_OPEN_ENDED[list_name]}{product.versions}"
            version_range, error = read_versions(versions)
            vulnerability.add_product(
                AffectedProduct(
                    vendor=product.vendor,
                    product=product.product,
                    versions=product.versions or "",
                    status=meaning,
                    version_range=version_range,
                    range_error=error,
                    cpe=product.cpe,
                    purl=product.purl,
                    device=context.medical
                    or looks_like_device(product.vendor, product.product),
                    remediation=remediations.get(str(product_id)),
                )
            )


def _healthcare_reason(context: _Context, vulnerability: Vulnerability) -> str | None:
    if context.medical:
        return f"medical device advisory {context.tracking_id}"
    if context.healthcare_sector:
        return f"advisory {context.tracking_id} names the healthcare sector"
    for product in vulnerability.products:
        kind = vendor_info(product.vendor).kind
        if kind is not None:
            label = "medical device" if kind == "device" else "clinical-system"
            return f"{label} vendor {product.vendor}"
    for product in vulnerability.products:
        if product.device:
            return f"medical device {product.vendor} {product.product}"
    return None
