"""TAXII collections: fixed, named filters over the published ``stix_objects`` rows.

Every collection also serves the static objects (medisac's identity and the
TLP 2.0 marking definitions), so the ``created_by_ref`` and
``object_marking_refs`` of its indicators resolve inside it. Revoked and
withdrawn indicators stay in a collection as their latest version, with
``revoked: true``, so that clients learn of the removal.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Response

from medisac.errors import TaxiiError
from medisac.members.gate import forbidden, tier_of
from medisac.stix import STATIC_IDS
from medisac.store.keys import KeyRow
from medisac.store.tables import stix_objects
from medisac.taxii.media import STIX_MEDIA_TYPE, taxii_response


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """One TAXII collection and the rows it serves.

    ``stix_types`` limits the STIX object types (None: any type);
    ``healthcare_only`` keeps only rows flagged as relevant to healthcare.
    The static objects are served in every collection.
    """

    id: str
    alias: str
    title: str
    description: str
    stix_types: frozenset[str] | None
    healthcare_only: bool = False
    # Members add objects to a writable collection, which no key reads back.
    writable: bool = False

    def condition(self) -> sa.ColumnElement[bool]:
        """Return the SQL condition on ``stix_objects`` rows for this collection."""
        so = stix_objects.c
        parts: list[sa.ColumnElement[bool]] = []
        if self.stix_types is not None:
            parts.append(so.stix_type.in_(sorted(self.stix_types)))
        if self.healthcare_only:
            parts.append(so.healthcare.is_(True))
        static = so.stix_id.in_(sorted(STATIC_IDS))
        if not parts:
            return sa.true()
        return sa.or_(sa.and_(*parts), static)

    @property
    def _write_scope(self) -> str:
        return "sensor" if self.alias == "sightings" else "submit"

    def resource(self, key: KeyRow) -> dict[str, Any]:
        """Return the TAXII collection resource for the holder of ``key``."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "alias": self.alias,
            "can_read": key.has_scope("read") and not self.writable,
            "can_write": self.writable and key.has_scope(self._write_scope),
            "media_types": [STIX_MEDIA_TYPE],
        }


COLLECTIONS: tuple[CollectionSpec, ...] = (
    CollectionSpec(
        id="c12f9c5b-aebf-420e-8d9a-c760e5a6bbe9",
        alias="indicators",
        title="Indicators",
        description=(
            "Every published indicator at the TLP levels the key may read, "
            "including revoked ones as their final version."
        ),
        stix_types=frozenset({"indicator"}),
    ),
    CollectionSpec(
        id="a88d4b26-7b43-460b-8902-1ff67a80d17d",
        alias="healthcare",
        title="Healthcare indicators",
        description=(
            "Indicators relevant to healthcare: tagged for the sector, or used "
            "by actors and ransomware known to target it."
        ),
        stix_types=frozenset({"indicator"}),
        healthcare_only=True,
    ),
    CollectionSpec(
        id="0e6f2b8a-3c4d-4e5f-8a9b-1c2d3e4f5a6b",
        alias="vulnerabilities",
        title="Vulnerabilities",
        description=(
            "Vulnerabilities from CSAF advisories, CVE records and the KEV "
            "catalogue, with KEV status, scores and affected products."
        ),
        stix_types=frozenset({"vulnerability"}),
    ),
    CollectionSpec(
        id="5c3b0f0e-6d1a-4f0b-9a57-2f7d8c1e4b90",
        alias="submissions",
        title="Member submissions",
        description=(
            "Add STIX objects to contribute them. Free text is scrubbed of "
            "personal and patient data; the status resource tells whether the "
            "objects were published or wait for review."
        ),
        stix_types=frozenset(),
        writable=True,
    ),
    CollectionSpec(
        id="3d9a7e64-2b1f-4c8e-9f05-6a4b8c2d1e73",
        alias="advisories",
        title="Advisories and monthly reports",
        description=(
            "Advisories that exchange analysts publish and the community "
            "edition of the monthly healthcare threat report, as STIX 2.1 "
            "report objects at the TLP levels the key may read."
        ),
        stix_types=frozenset({"report"}),
    ),
    CollectionSpec(
        id="8f2c4a1e-5b7d-4e93-a6c0-2d9e1f3b7a54",
        alias="sightings",
        title="Sensor sightings",
        description=(
            "Add STIX 2.1 sighting objects, with the observed-data and "
            "cyber-observables they name, to report what sensors saw. The "
            "envelope is one batch: posting it again counts nothing twice."
        ),
        stix_types=frozenset(),
        writable=True,
    ),
)


def find_collection(collection_id: str) -> CollectionSpec:
    """Return the collection with this id or alias.

    Raises a 404 :class:`TaxiiError` for an unknown one.
    """
    for collection in COLLECTIONS:
        if collection_id in (collection.id, collection.alias):
            return collection
    raise TaxiiError(
        404,
        "Not Found",
        f"no collection {collection_id!r}; GET the collections/ resource for the list",
    )


def collection_for(
    collection_id: str, key: KeyRow, *, writing: bool | None = False
) -> CollectionSpec:
    """Return the collection ``collection_id`` names if ``key``'s tier includes it.

    ``writing`` is False to read objects, True to add objects and None to
    read the collection resource itself. Raises a 404 :class:`TaxiiError`
    for an unknown collection, and a 403 one for a collection outside the
    key's tier, for reading a write-only collection and for writing to a
    read-only one.
    """
    collection = find_collection(collection_id)
    if writing is not None and collection.writable != writing:
        verb = "written to" if writing else "read"
        raise forbidden(f"the {collection.alias} collection cannot be {verb}")
    tier = tier_of(key)
    if tier is not None and not tier.allows_collection(collection.alias):
        raise forbidden(
            f"the {tier.name} tier does not include the {collection.alias} "
            "collection; ask the exchange operator about a tier that does"
        )
    return collection


def _listed_for(key: KeyRow) -> list[CollectionSpec]:
    tier = tier_of(key)
    return [c for c in COLLECTIONS if tier is None or tier.allows_collection(c.alias)]


def collections_router(
    require_reader: Callable[..., KeyRow], require_any: Callable[..., KeyRow]
) -> APIRouter:
    """Build the router for ``api/collections/`` and ``api/collections/{id}/``.

    ``require_any`` admits keys with any scope, so that a key that may only
    add objects can still read the resource of the collection it writes to,
    as TAXII clients do before they post.
    """
    router = APIRouter()

    @router.get("/api/collections/", name="taxii_collections")
    def list_collections(key: Annotated[KeyRow, Depends(require_reader)]) -> Response:
        body = {"collections": [c.resource(key) for c in _listed_for(key)]}
        return taxii_response(orjson.dumps(body))

    @router.get("/api/collections/{collection_id}/", name="taxii_collection")
    def get_collection(
        collection_id: str, key: Annotated[KeyRow, Depends(require_any)]
    ) -> Response:
        collection = collection_for(collection_id, key, writing=None)
        resource = collection.resource(key)
        if not key.has_scope("read") and not resource["can_write"]:
            raise forbidden(
                f"API key {key.id} has no 'read' scope; ask the exchange "
                "operator for a key with it"
            )
        return taxii_response(orjson.dumps(resource))

    return router
