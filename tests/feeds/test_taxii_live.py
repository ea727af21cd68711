"""The TAXII client pulls from a real ``medisac serve`` into a second store."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from medisac.feeds import TaxiiCursor, TaxiiFeed, pull_and_ingest
from medisac.ingest.pipeline import IngestRequest, ingest
from medisac.server import create_app
from medisac.settings import Secret, Settings
from medisac.stix import STATIC_OBJECTS
from medisac.store.engine import begin_write, create_engine
from medisac.store.keys import create_key
from medisac.store.migrate import upgrade
from medisac.store.publish import publish_static
from medisac.taxii.collections import COLLECTIONS
from tests.conftest import Store
from tests.feeds.helpers import provenance_counts, stored_values
from tests.helpers import serving

INDICATORS = next(c.id for c in COLLECTIONS if c.alias == "indicators")
PAGE_SIZE = 20


def seed_lines() -> list[str]:
    """Return 300 values of seven indicator types, one per line."""
    lines = [f"live-host-{i:03d}.example.net" for i in range(100)]
    lines += [f"198.51.100.{i}" for i in range(1, 81)]
    lines += [f"2001:db8::{i:x}" for i in range(1, 21)]
    lines += [f"https://live-{i}.example.com/path/{i}?q={i}" for i in range(50)]
    lines += [f"{i:064x}" for i in range(1, 31)]
    lines += [f"{i:032x}" for i in range(1, 16)]
    lines += [f"soc-{i}@example.org" for i in range(5)]
    return lines


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    """A SQLite store seeded by ``ingest``, with an operator key."""
    url = f"sqlite:///{tmp_path / 'upstream.db'}"
    engine = create_engine(url)
    upgrade(engine)
    with begin_write(engine) as conn:
        publish_static(conn)
        key = create_key(conn, "operator", "read,submit,admin")
    seed = tmp_path / "seed.txt"
    seed.write_text("\n".join(seed_lines()) + "\n", encoding="utf-8")
    summary = ingest(engine, IngestRequest(inputs=(seed,), source="seed"))
    assert summary.complete, summary.rejections
    try:
        yield engine, key
    finally:
        engine.dispose()


@pytest.fixture
def serve(upstream: tuple[Engine, str], tmp_path: Path) -> Iterator[str]:
    """Run the ``medisac serve`` app under uvicorn on 127.0.0.1; yield its URL."""
    engine, _ = upstream
    app = create_app(engine, Settings(db=f"sqlite:///{tmp_path / 'upstream.db'}"))
    with serving(app) as url:
        yield url


def test_pull_half_then_resume(
    store: Store, upstream: tuple[Engine, str], serve: str
) -> None:
    engine, key = upstream
    expected = stored_values(engine)
    assert len(expected) == len(seed_lines())
    # The collection starts with the exchange's identity and TLP markings.
    published = len(STATIC_OBJECTS) + len(expected)
    total_pages = math.ceil(published / PAGE_SIZE)
    half = total_pages // 2
    feed = TaxiiFeed(
        f"{serve}/taxii2/api/collections/{INDICATORS}/",
        page_size=PAGE_SIZE,
        token=Secret(key),
    )

    first = pull_and_ingest(
        store.engine, feed, "upstream", TaxiiCursor(), max_pages=half
    )

    assert first.error is None
    assert first.pages == half
    assert first.cursor.added_after is not None
    halfway = half * PAGE_SIZE - len(STATIC_OBJECTS)
    assert len(stored_values(store.engine)) == halfway

    second = pull_and_ingest(store.engine, feed, "upstream", first.cursor)

    assert second.error is None
    assert second.pages == total_pages - half
    assert first.cursor.is_before(second.cursor)
    assert stored_values(store.engine) == expected
    # No object arrived twice: each run read only its own part.
    assert first.summary.observations == halfway
    assert second.summary.observations == len(expected) - halfway
    assert first.summary.complete
    assert second.summary.complete
    assert provenance_counts(store.engine, "upstream") == dict.fromkeys(expected, 1)
