"""CVE JSON 5 records (the CVE Program's ``CVE_RECORD`` format, 5.0 and 5.1).

A published record must have ``dataType``, ``dataVersion``,
``cveMetadata.cveId``, ``cveMetadata.state`` and a CNA container with
``providerMetadata.orgId``, ``descriptions``, ``affected`` and
``references``, as the CVE JSON 5 schema requires. A record without one of
them is rejected with the field's path. A ``REJECTED`` record is skipped.

The ``affected`` entries of the CNA and of ADP containers (such as CISA's
vulnrichment, which adds CPE names) are read alike, and equal products merge.
"""

from __future__ import annotations

import re
from typing import Any

from medisac.model.time import parse_rfc3339, to_us
from medisac.vulns.csaf import CVE_ID
from medisac.vulns.fields import (
    FieldError,
    optional_str,
    require,
    require_list,
    require_str,
)
from medisac.vulns.model import (
    AffectedProduct,
    ProductStatus,
    VulnDocument,
    Vulnerability,
)
from medisac.vulns.names import looks_like_device, vendor_info
from medisac.vulns.ranges import (
    ALL_VERSIONS,
    RangeError,
    VersionRange,
    parse_range,
    range_from_bounds,
)

__all__ = ["is_cve_record", "parse_cve_record", "versions_range"]

# Texts CNAs put in "version" to mean "from the first version".
_FROM_START = frozenset({"", "0", "*", "-", "n/a", "unspecified", "all"})
_ICSMA = re.compile(r"icsma-\d{2}-\d{3}-\d{2}", re.IGNORECASE)


def is_cve_record(data: Any) -> bool:
    """Tell whether parsed JSON ``data`` is a CVE JSON 5 record."""
    return isinstance(data, dict) and data.get("dataType") == "CVE_RECORD"


def versions_range(
    entry: dict[str, Any],
) -> tuple[VersionRange | None, str, str | None]:
    """Read one entry of a CVE JSON 5 ``versions`` list.

    Returns the range (None when it cannot be read), the text shown for it,
    and the reason it could not be read.
    """
    version = str(entry.get("version", "")).strip()
    less = entry.get("lessThan")
    less_equal = entry.get("lessThanOrEqual")
    if entry.get("versionType") == "git":
        return None, version, "git commit ranges cannot be compared with versions"
    try:
        if less is None and less_equal is None:
            return parse_range(version), version, None
        start = None if version.lower() in _FROM_START else version
        upper = str(less_equal if less_equal is not None else less).strip()
        if upper == "*":
            text = f">={version}" if start else "*"
            return (
                range_from_bounds(start_including=start) if start else ALL_VERSIONS,
                text,
                None,
            )
        operator = "<=" if less_equal is not None else "<"
        text = f">={start}|{operator}{upper}" if start else f"{operator}{upper}"
        if less_equal is not None:
            found = range_from_bounds(start_including=start, end_including=upper)
        else:
            found = range_from_bounds(start_including=start, end_excluding=upper)
        return found, text, None
    except RangeError as exc:
        return None, version or str(less_equal or less), str(exc)


def _header(origin: str, data: Any) -> tuple[str, str]:
    if not isinstance(data, dict):
        raise FieldError(origin, "(top level)", "must be a JSON object")
    kind = require_str(origin, data, "dataType", "dataType")
    if kind != "CVE_RECORD":
        raise FieldError(origin, "dataType", f"is {kind!r}, not 'CVE_RECORD'")
    require_str(origin, data, "dataVersion", "dataVersion")
    metadata = require(origin, data, "cveMetadata", "cveMetadata")
    cve = require_str(origin, metadata, "cveId", "cveMetadata.cveId").strip().upper()
    if not CVE_ID.match(cve):
        raise FieldError(origin, "cveMetadata.cveId", f"is not a CVE id: {cve!r}")
    state = require_str(origin, metadata, "state", "cveMetadata.state")
    return cve, state


def parse_cve_record(origin: str, data: Any) -> VulnDocument:
    """Read a CVE JSON 5 record.

    Raises :class:`FieldError` naming the first missing or invalid required
    field.
    """
    cve, state = _header(origin, data)
    doc = VulnDocument("cve", cve)
    if state.upper() == "REJECTED":
        doc.skip("rejected CVE record")
        return doc
    containers = require(origin, data, "containers", "containers")
    cna = require(origin, containers, "cna", "containers.cna")
    provider = require(
        origin, cna, "providerMetadata", "containers.cna.providerMetadata"
    )
    require_str(origin, provider, "orgId", "containers.cna.providerMetadata.orgId")
    descriptions = require_list(
        origin, cna, "descriptions", "containers.cna.descriptions"
    )
    if not descriptions:
        raise FieldError(origin, "containers.cna.descriptions", "is empty")
    affected = require_list(origin, cna, "affected", "containers.cna.affected")
    references = require_list(origin, cna, "references", "containers.cna.references")
    doc.title = optional_str(cna, "title")
    doc.publisher = optional_str(provider, "shortName")
    vulnerability = Vulnerability(
        cve=cve,
        title=doc.title,
        description=_english(descriptions),
        references=[
            str(ref["url"])
            for ref in references
            if isinstance(ref, dict) and "url" in ref
        ],
        published=_time(data["cveMetadata"].get("datePublished")),
    )
    containers_all = [
        cna,
        *(adp for adp in containers.get("adp") or [] if isinstance(adp, dict)),
    ]
    for container in containers_all:
        _metrics(vulnerability, container.get("metrics"))
        _cwes(vulnerability, container.get("problemTypes"))
    for index, entry in enumerate(affected):
        _affected(origin, vulnerability, entry, f"containers.cna.affected[{index}]")
    for container in containers_all[1:]:
        for entry in container.get("affected") or []:
            if isinstance(entry, dict):
                _affected(origin, vulnerability, entry, "containers.adp.affected")
    vulnerability.healthcare_reason = _healthcare_reason(cna, vulnerability)
    doc.vulnerabilities.append(vulnerability)
    return doc


def _english(descriptions: list[Any]) -> str | None:
    texts = [
        d
        for d in descriptions
        if isinstance(d, dict) and isinstance(d.get("value"), str)
    ]
    for item in texts:
        if str(item.get("lang", "")).lower().startswith("en"):
            return str(item["value"]).strip()
    return str(texts[0]["value"]).strip() if texts else None


def _time(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        return to_us(parse_rfc3339(text, assume_utc=True))
    except ValueError:
        return None


def _metrics(vulnerability: Vulnerability, metrics: Any) -> None:
    for metric in metrics or []:
        if not isinstance(metric, dict):
            continue
        for key, version in (("cvssV3_1", 3), ("cvssV3_0", 3), ("cvssV4_0", 4)):
            cvss = metric.get(key)
            if not isinstance(cvss, dict) or not isinstance(
                cvss.get("baseScore"), int | float
            ):
                continue
            base = float(cvss["baseScore"])
            vector = cvss.get("vectorString")
            vector = vector if isinstance(vector, str) else None
            if version == 3 and (
                vulnerability.cvss_v3 is None or base > vulnerability.cvss_v3
            ):
                vulnerability.cvss_v3, vulnerability.cvss_v3_vector = base, vector
            if version == 4 and (
                vulnerability.cvss_v4 is None or base > vulnerability.cvss_v4
            ):
                vulnerability.cvss_v4, vulnerability.cvss_v4_vector = base, vector


def _cwes(vulnerability: Vulnerability, problem_types: Any) -> None:
    for problem in problem_types or []:
        for description in (problem or {}).get("descriptions") or []:
            cwe = description.get("cweId") if isinstance(description, dict) else None
            if isinstance(cwe, str) and cwe not in vulnerability.cwes:
                vulnerability.cwes.append(cwe)


def _affected(origin: str, vulnerability: Vulnerability, entry: Any, path: str) -> None:
    if not isinstance(entry, dict):
        raise FieldError(origin, path, "must be an object")
    vendor = optional_str(entry, "vendor") or ""
    product = optional_str(entry, "product") or optional_str(entry, "packageName")
    if product is None:
        raise FieldError(origin, f"{path}.product", "is missing")
    cpes = [cpe for cpe in entry.get("cpes") or [] if isinstance(cpe, str)]
    device = looks_like_device(vendor, product)
    versions = [item for item in entry.get("versions") or [] if isinstance(item, dict)]
    if not versions and entry.get("defaultStatus") == "affected":
        vulnerability.add_product(
            AffectedProduct(
                vendor, product, "", ProductStatus.AFFECTED, ALL_VERSIONS, device=device
            )
        )
    for item in versions:
        status = {
            "affected": ProductStatus.AFFECTED,
            "unaffected": ProductStatus.NOT_AFFECTED,
        }.get(str(item.get("status")))
        if status is None:
            continue
        found, text, error = versions_range(item)
        vulnerability.add_product(
            AffectedProduct(
                vendor=vendor,
                product=product,
                versions=text,
                status=status,
                version_range=found,
                range_error=error,
                cpe=cpes[0] if cpes else None,
                device=device,
            )
        )


def _healthcare_reason(cna: dict[str, Any], vulnerability: Vulnerability) -> str | None:
    source = cna.get("source")
    advisory = source.get("advisory") if isinstance(source, dict) else None
    if isinstance(advisory, str) and advisory.upper().startswith("ICSMA"):
        return f"medical device advisory {advisory.strip().upper()}"
    for url in vulnerability.references:
        found = _ICSMA.search(url)
        if found:
            return f"medical device advisory {found.group().upper()}"
    for product in vulnerability.products:
        kind = vendor_info(product.vendor).kind
        if kind is not None:
            label = "medical device" if kind == "device" else "clinical-system"
            return f"{label} vendor {product.vendor}"
    return None
