"""Collecting from feeds: sources as data, their kinds, runs and schedule.

:mod:`.registry` keeps feeds as rows of the ``sources`` table and
:mod:`.catalogue` lists well-known public feeds that can be enabled by name.
:mod:`.runner` runs one feed of any kind (file, HTTP, TAXII 2.1, MISP feed)
and records its health, :mod:`.guard` allows one run per feed at a time, and
:mod:`.scheduler` polls due feeds inside ``medisac serve``. Below them,
:mod:`.fetch` sends HTTP requests with timeouts, a size limit and hidden
credentials, :mod:`.httpfeed` downloads one feed body, :mod:`.taxii` and
:mod:`.taxiiingest` pull a TAXII collection page by page from a cursor, and
:mod:`.mispfeed` reads a MISP feed's manifest.
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
