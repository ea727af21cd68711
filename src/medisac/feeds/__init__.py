"""Collecting from remote feeds: the TAXII 2.1 client and its path into the store.

:mod:`.taxii` pulls a TAXII 2.1 collection page by page from a cursor,
:mod:`.taxiiingest` stores each page with the ingest loop and moves the cursor
only past committed pages, and :mod:`.fetch` sends the HTTP requests with
timeouts, a size limit and hidden credentials. Saving the cursor between runs
is the caller's job.
"""

from medisac.feeds.taxii import (
    TaxiiCursor,
    TaxiiFeed,
    TaxiiPage,
    TaxiiPull,
    pull,
    pull_collection,
)
from medisac.feeds.taxiiingest import TaxiiIngest, pull_and_ingest

__all__ = [
    "TaxiiCursor",
    "TaxiiFeed",
    "TaxiiIngest",
    "TaxiiPage",
    "TaxiiPull",
    "pull",
    "pull_and_ingest",
    "pull_collection",
]
