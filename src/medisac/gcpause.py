"""Pausing Python's cyclic garbage collector around large, cycle-free work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Switch off Python's cyclic garbage collector while the block runs.

    Building a page of 1000 objects allocates tens of thousands of containers
    (rows, views, dicts) that stay alive until the page is joined and form no
    reference cycles, so reference counting frees them all. A running
    collector scans and promotes them again and again. In a page-through of
    100,000 objects, as in ``bench/taxii_paging.py`` on a 2-core machine, that
    cost about 1.5 ms per page, mostly in full collections of the whole heap
    that each stopped the server for 50 to 100 ms. The collector is switched
    back on at the end unless it was already off at the start, because
    another page was being built or the process had switched it off. Cycles
    made meanwhile, by any thread, wait for its next run.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
