"""The TAXII 2.1 server: discovery, API root, collections, objects and manifest."""

from medisac.taxii.app import TAXII_MOUNT_PATH, create_taxii_app
from medisac.taxii.collections import COLLECTIONS, CollectionSpec
from medisac.taxii.media import STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE

__all__ = [
    "COLLECTIONS",
    "STIX_MEDIA_TYPE",
    "TAXII_MEDIA_TYPE",
    "TAXII_MOUNT_PATH",
    "CollectionSpec",
    "create_taxii_app",
]
