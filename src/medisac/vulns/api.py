"""JSON API: ``/api/v1/vulnerabilities`` and ``/api/v1/inventory``.

Requests authenticate with an API key as TAXII requests do: HTTP Basic with
the key as password, or a Bearer token. They need the ``read`` scope, and
``POST /api/v1/inventory`` needs ``submit`` as well. A member's key acts for
its organisation (``api_keys.org_id``). An operator key has no organisation
and names one with ``?org=``; a member key that names another organisation
gets 403.
"""

# No "from __future__ import annotations": FastAPI reads the Depends() in the
# route signatures at run time, and they name a local of create_vulns_router.
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.engine import Connection, Engine

from medisac.errors import TaxiiError
from medisac.members.gate import Gate
from medisac.members.orgs import Org, OrgNotFound, get_org
from medisac.model.time import now_us
from medisac.store.engine import begin_write
from medisac.store.keys import KeyRow
from medisac.taxii.auth import READ_SCOPE
from medisac.vulns.inventory import (
    InventoryError,
    InventoryItem,
    InventoryRead,
    read_inventory,
    store_inventory,
)
from medisac.vulns.match import matches_for_org
from medisac.vulns.store import list_vulnerabilities

__all__ = ["API_PREFIX", "create_vulns_router"]

API_PREFIX = "/api/v1"
MAX_INVENTORY_BYTES = 16 * 1024 * 1024
SUBMIT_SCOPE = "submit"


def _key_dependency(gate: Gate) -> Callable[[Request], KeyRow]:
    """Wrap the gate's key check so that its errors become HTTP errors here too."""
    require_reader = gate.require("api", READ_SCOPE)

    def require_key(request: Request) -> KeyRow:
        try:
            return require_reader(request)
        except TaxiiError as exc:
            raise HTTPException(
                exc.status, detail=exc.description or exc.title, headers=exc.headers
            ) from exc

    return require_key


def _org_for(conn: Connection, key: KeyRow, org: str | None) -> Org:
    """Return the organisation a request acts for; raise HTTPException otherwise."""
    owner = key.org_id
    try:
        if owner is None:
            if org is None:
                raise HTTPException(
                    400,
                    detail="this API key belongs to no organisation; name one "
                    "with ?org=<id or name>",
                )
            return get_org(conn, org)
        member = get_org(conn, owner)
    except OrgNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from exc
    if org is not None and org.strip() not in (member.id, member.name):
        if not key.has_scope("admin"):
            raise HTTPException(
                403, detail=f"API key {key.id} may act only for {member.name}"
            )
        try:
            return get_org(conn, org)
        except OrgNotFound as exc:
            raise HTTPException(404, detail=str(exc)) from exc
    return member


def _items_from_json(body: Any) -> InventoryRead:
    entries = body.get("items") if isinstance(body, dict) else body
    if not isinstance(entries, list):
        raise HTTPException(
            422, detail="send a list of items, {'items': [...]}, or a CycloneDX SBOM"
        )
    read = InventoryRead("api")
    for index, entry in enumerate(entries):
        vendor = entry.get("vendor") if isinstance(entry, dict) else None
        product = entry.get("product") if isinstance(entry, dict) else None
        if not isinstance(vendor, str) or not vendor.strip():
            read.rejected.append((f"items[{index}]", "field vendor is missing"))
            continue
        if not isinstance(product, str) or not product.strip():
            read.rejected.append((f"items[{index}]", "field product is missing"))
            continue
        version = entry.get("version")
        device = entry.get("medical_device", entry.get("device"))
        read.items.append(
            InventoryItem(
                vendor.strip(),
                product.strip(),
                str(version).strip() if version is not None else "",
                cpe=entry.get("cpe") if isinstance(entry.get("cpe"), str) else None,
                purl=entry.get("purl") if isinstance(entry.get("purl"), str) else None,
                device=device if isinstance(device, bool) else None,
            )
        )
    return read


async def _read_body(request: Request) -> InventoryRead:
    content = await request.body()
    if len(content) > MAX_INVENTORY_BYTES:
        raise HTTPException(413, detail=f"inventory over {MAX_INVENTORY_BYTES:,} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind.endswith("json"):
            body = orjson.loads(content)
            if isinstance(body, dict) and body.get("bomFormat") == "CycloneDX":
                return read_inventory("request body", content)
            return _items_from_json(body)
        return read_inventory("request body", content)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, detail=f"invalid JSON: {exc}") from exc
    except InventoryError as exc:
        raise HTTPException(400, detail=str(exc)) from exc


def create_vulns_router(
    engine: Engine, gate: Gate | None = None, prefix: str = API_PREFIX
) -> APIRouter:
    """Build the router of the vulnerability API over the store behind ``engine``."""
    router = APIRouter(prefix=prefix, tags=["vulnerabilities"])
    require_key = _key_dependency(gate or Gate(engine))

    @router.get("/vulnerabilities")
    def vulnerabilities(
        key: Annotated[KeyRow, Depends(require_key)],
        affects: Annotated[
            str | None, Query(description="'me': only what the caller's inventory runs")
        ] = None,
        kev: Annotated[
            bool | None, Query(description="only (or no) KEV entries")
        ] = None,
        healthcare: Annotated[bool | None, Query()] = None,
        org: Annotated[
            str | None, Query(description="organisation, for operator keys")
        ] = None,
        certain: Annotated[
            bool, Query(description="leave out possible matches")
        ] = False,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
    ) -> dict[str, Any]:
        """List vulnerabilities, or with ``affects=me`` the caller's matches."""
        with engine.connect() as conn:
            if affects is None:
                records = list_vulnerabilities(
                    conn,
                    kev=kev,
                    healthcare=healthcare,
                    limit=limit,
                    with_products=True,
                )
                return {"vulnerabilities": [r.as_dict() for r in records]}
            if affects != "me":
                raise HTTPException(422, detail="affects takes only the value 'me'")
            member = _org_for(conn, key, org)
            matches = matches_for_org(
                conn,
                member.id,
                include_possible=not certain,
                kev=kev,
                healthcare=healthcare,
            )
        return {"org": member.id, "matches": [m.as_dict() for m in matches[:limit]]}

    @router.post("/inventory")
    async def post_inventory(
        request: Request,
        key: Annotated[KeyRow, Depends(require_key)],
        org: Annotated[str | None, Query()] = None,
        replace: Annotated[
            bool, Query(description="remove the earlier inventory")
        ] = False,
    ) -> dict[str, Any]:
        """Store what the caller's organisation runs: JSON, CSV, CPE names or SBOM."""
        if not key.has_scope(SUBMIT_SCOPE):
            raise HTTPException(
                403, detail=f"API key {key.id} has no '{SUBMIT_SCOPE}' scope"
            )
        read = await _read_body(request)
        with begin_write(engine) as conn:
            member = _org_for(conn, key, org)
            added, known = store_inventory(
                conn, member.id, read.items, read.kind, now_us(), replace=replace
            )
        return {
            "org": member.id,
            "added": added,
            "already_listed": known,
            "rejected": [
                {"location": loc, "reason": why} for loc, why in read.rejected
            ],
        }

    return router
