"""Members' inventories: what each organisation runs, from CSV, CPE names or SBOMs.

Three inputs are read:

- CSV with a header row naming at least ``vendor`` and ``product``
  (``manufacturer`` and ``model`` are accepted too), and optionally
  ``version``, ``cpe``, ``purl`` and ``device`` (yes/no). A row that gives
  only a ``cpe`` takes vendor, product and version from it.
- a list of CPE 2.3 names, one per line, ``#`` starting a comment;
- a CycloneDX SBOM in JSON or XML, read with ``cyclonedx-python-lib``:
  every component, nested ones included, with its vendor from the
  manufacturer, supplier, publisher, group or package URL namespace.

A row or component that cannot be read is rejected with its line or
``bom-ref`` and the reason; the others are stored.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from defusedxml import ElementTree
from packageurl import PackageURL
from sqlalchemy.engine import Connection

from medisac.errors import MedisacError
from medisac.store.tables import inventory
from medisac.vulns.cpe import CpeError, parse_cpe
from medisac.vulns.names import looks_like_device, product_key, vendor_key

if TYPE_CHECKING:
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component

__all__ = [
    "InventoryError",
    "InventoryItem",
    "InventoryRead",
    "list_inventory",
    "read_inventory",
    "store_inventory",
]

_COLUMNS = {
    "vendor": ("vendor", "manufacturer", "vendorproject", "make"),
    "product": ("product", "model", "name", "product name"),
    "version": ("version", "firmware", "software version", "firmware version"),
    "cpe": ("cpe", "cpe23", "cpe name"),
    "purl": ("purl", "package url"),
    "device": ("device", "medical device", "is device"),
}
_TRUE = frozenset({"1", "yes", "y", "true", "x"})


class InventoryError(MedisacError):
    """An inventory file cannot be read at all."""


@dataclass(frozen=True, slots=True)
class InventoryItem:
    """One product a member runs; ``version`` is empty when unknown."""

    vendor: str
    product: str
    version: str = ""
    cpe: str | None = None
    purl: str | None = None
    device: bool | None = None

    @property
    def is_device(self) -> bool:
        """The member's own device flag, else the one the names suggest."""
        if self.device is not None:
            return self.device
        return looks_like_device(self.vendor, self.product)

    def as_dict(self) -> dict[str, Any]:
        """Return the item as JSON-ready data."""
        return {
            "vendor": self.vendor,
            "product": self.product,
            "version": self.version,
            "cpe": self.cpe,
            "purl": self.purl,
            "medical_device": self.is_device,
        }


@dataclass(slots=True)
class InventoryRead:
    """The items read from one inventory, and what was rejected (location, reason)."""

    kind: str
    items: list[InventoryItem] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def item_from_cpe(text: str, device: bool | None = None) -> InventoryItem:
    """Build an item from a CPE name; raises :class:`CpeError`."""
    cpe = parse_cpe(text)
    version = cpe.version if cpe.has_version else ""
    return InventoryItem(
        cpe.display_vendor,
        cpe.display_product,
        version,
        cpe=text.strip(),
        device=device,
    )


def item_from_purl(text: str) -> InventoryItem:
    """Build an item from a package URL; raises ValueError."""
    purl = PackageURL.from_string(text.strip())
    vendor = purl.namespace or purl.name
    return InventoryItem(vendor, purl.name, purl.version or "", purl=text.strip())


def read_inventory(name: str, content: bytes) -> InventoryRead:
    """Read an inventory file named ``name``: CycloneDX, CPE list or CSV.

    Raises :class:`InventoryError` when the file as a whole cannot be read.
    """
    text = content.decode("utf-8-sig", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return _read_cyclonedx_json(name, stripped)
    if stripped.startswith("<"):
        return _read_cyclonedx_xml(name, stripped)
    first = next(
        (
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.startswith("#")
        ),
        "",
    )
    if first.lower().startswith("cpe:"):
        return _read_cpe_list(text)
    return _read_csv(name, text)


def _read_cpe_list(text: str) -> InventoryRead:
    read = InventoryRead("cpe")
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            read.items.append(item_from_cpe(line))
        except CpeError as exc:
            read.rejected.append((f"line {number}", str(exc)))
    return read


def _column(header: list[str], field_name: str) -> int | None:
    names = [cell.strip().lower().replace("_", " ") for cell in header]
    for alias in _COLUMNS[field_name]:
        if alias in names:
            return names.index(alias)
    return None


def _read_csv(name: str, text: str) -> InventoryRead:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InventoryError(f"{name}: the inventory is empty")
    header = rows[0]
    index = {key: _column(header, key) for key in _COLUMNS}
    if index["cpe"] is None and (index["vendor"] is None or index["product"] is None):
        raise InventoryError(
            f"{name}, line 1: the header must name the columns vendor and product "
            "(or cpe); found " + ", ".join(repr(cell) for cell in header)
        )
    read = InventoryRead("csv")
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cell = {key: _cell(row, position) for key, position in index.items()}
        device = None if not cell["device"] else cell["device"].lower() in _TRUE
        if not cell["vendor"] and not cell["product"] and cell["cpe"]:
            try:
                read.items.append(item_from_cpe(cell["cpe"], device))
            except CpeError as exc:
                read.rejected.append((f"line {number}", str(exc)))
            continue
        missing = [key for key in ("vendor", "product") if not cell[key]]
        if missing:
            read.rejected.append((f"line {number}", f"column {missing[0]} is empty"))
            continue
        read.items.append(
            InventoryItem(
                cell["vendor"],
                cell["product"],
                cell["version"],
                cpe=cell["cpe"] or None,
                purl=cell["purl"] or None,
                device=device,
            )
        )
    return read


def _cell(row: list[str], position: int | None) -> str:
    if position is None or position >= len(row):
        return ""
    return row[position].strip()


def _read_cyclonedx_json(name: str, text: str) -> InventoryRead:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(
            f"{name}, line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
        ) from exc
    except RecursionError:
        raise InventoryError(
            f"{name}: the JSON nests objects or lists too deeply to read"
        ) from None
    if not isinstance(data, dict) or data.get("bomFormat") != "CycloneDX":
        raise InventoryError(
            f"{name}: a JSON inventory must be a CycloneDX SBOM (bomFormat 'CycloneDX')"
        )
    _check_component_names(name, data)
    # Imported here: the library takes longer to load than the rest of the
    # command line, and only SBOM imports need it.
    from cyclonedx.model.bom import Bom

    try:
        bom = Bom.from_json(data)  # type: ignore[attr-defined]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InventoryError(f"{name}: invalid CycloneDX SBOM: {exc}") from exc
    return _components(bom)


def _check_component_names(name: str, data: dict[str, Any]) -> None:
    """Raise :class:`InventoryError` naming the first component without a name.

    CycloneDX requires ``name`` on every component, and the library's own
    error for a missing one names a Python constructor, not the component.
    """
    metadata = data.get("metadata")
    pending: list[tuple[str, Any]] = []
    if isinstance(metadata, dict) and "component" in metadata:
        pending.append(("metadata.component", metadata["component"]))
    components = data.get("components")
    if isinstance(components, list):
        pending.extend((f"components[{i}]", c) for i, c in enumerate(components))
    while pending:
        path, component = pending.pop(0)
        if not isinstance(component, dict):
            raise InventoryError(f"{name}: {path} must be a JSON object")
        if not isinstance(component.get("name"), str) or not component["name"]:
            raise InventoryError(
                f"{name}: {path} has no 'name'; CycloneDX requires one on every"
                " component, so add the product name"
            )
        children = component.get("components")
        if isinstance(children, list):
            pending.extend(
                (f"{path}.components[{i}]", child) for i, child in enumerate(children)
            )


def _read_cyclonedx_xml(name: str, text: str) -> InventoryRead:
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise InventoryError(f"{name}: invalid XML: {exc}") from exc
    if not root.tag.endswith("}bom") and root.tag != "bom":
        raise InventoryError(f"{name}: an XML inventory must be a CycloneDX <bom>")
    from cyclonedx.model.bom import Bom

    try:
        bom = Bom.from_xml(root)  # type: ignore[attr-defined]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InventoryError(f"{name}: invalid CycloneDX SBOM: {exc}") from exc
    return _components(bom)


def _all_components(components: Any) -> list[Component]:
    found: list[Component] = []
    for component in components or []:
        found.append(component)
        found.extend(_all_components(component.components))
    return found


def _components(bom: Bom) -> InventoryRead:
    read = InventoryRead("cyclonedx")
    components = _all_components(bom.components)
    if bom.metadata is not None and bom.metadata.component is not None:
        components.insert(0, bom.metadata.component)
    for component in components:
        where = f"component {component.bom_ref.value or component.name!r}"
        try:
            read.items.append(_component_item(component))
        except (CpeError, ValueError) as exc:
            read.rejected.append((where, str(exc)))
    return read


def _component_item(component: Component) -> InventoryItem:
    purl = str(component.purl) if component.purl is not None else None
    vendor = None
    for party in (component.manufacturer, component.supplier):
        if party is not None and party.name:
            vendor = party.name
            break
    vendor = vendor or component.publisher or component.group
    if vendor is None and component.purl is not None:
        vendor = component.purl.namespace or component.purl.name
    if vendor is None and component.cpe:
        return item_from_cpe(component.cpe)
    if not component.name:
        raise ValueError("the component has no name")
    return InventoryItem(
        vendor or component.name,
        component.name,
        component.version or "",
        cpe=component.cpe or None,
        purl=purl,
    )


def store_inventory(
    conn: Connection,
    org_id: str,
    items: list[InventoryItem],
    origin: str,
    now: int,
    *,
    replace: bool = False,
) -> tuple[int, int]:
    """Store ``items`` for organisation ``org_id``; return (added, already known).

    With ``replace`` the organisation's earlier inventory is removed first.
    """
    if replace:
        conn.execute(inventory.delete().where(inventory.c.org_id == org_id))
    known = {
        (row.vendor_key, row.product_key, row.version)
        for row in conn.execute(
            sa.select(
                inventory.c.vendor_key, inventory.c.product_key, inventory.c.version
            ).where(inventory.c.org_id == org_id)
        )
    }
    rows = []
    for item in items:
        key = (
            vendor_key(item.vendor),
            product_key(item.product, item.vendor),
            item.version,
        )
        if key in known:
            continue
        known.add(key)
        rows.append(
            {
                "org_id": org_id,
                "vendor": item.vendor,
                "product": item.product,
                "version": item.version,
                "vendor_key": key[0],
                "product_key": key[1],
                "cpe": item.cpe,
                "purl": item.purl,
                "device": item.is_device,
                "origin": origin,
                "added": now,
            }
        )
    if rows:
        conn.execute(inventory.insert(), rows)
    return len(rows), len(items) - len(rows)


def list_inventory(conn: Connection, org_id: str) -> list[InventoryItem]:
    """Return what organisation ``org_id`` runs, by vendor, product and version."""
    i = inventory.c
    rows = conn.execute(
        sa.select(inventory)
        .where(i.org_id == org_id)
        .order_by(i.vendor_key, i.product_key, i.version)
    )
    return [
        InventoryItem(
            row.vendor,
            row.product,
            row.version,
            cpe=row.cpe,
            purl=row.purl,
            device=bool(row.device),
        )
        for row in rows
    ]
