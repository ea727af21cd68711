"""Decay, listing and expiry in the store, with a frozen clock, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from medisac.ingest.pipeline import IngestRequest, ingest
from medisac.ingest.summary import IngestSummary
from medisac.score import expire_due
from medisac.store.engine import begin_write
from medisac.store.merge import republish, stale_digests
from medisac.store.tables import indicators, sources, stix_objects
from medisac.store.views import indicator_view, render_body
from tests.conftest import Store
from tests.helpers import dump, provenance_of, record

DAY = 86_400_000_000
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in µs


def at(moment: int) -> Callable[[], int]:
    """Return a clock frozen at ``moment``."""
    return lambda: moment


def poll(
    store: Store, folder: Path, lines: list[str], when: int, *, source: str = "feed"
) -> IngestSummary:
    """Read ``lines`` as the whole current listing of a feed at ``when``."""
    path = folder / f"{source}.txt"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    request = IngestRequest(
        inputs=(path,), source=source, format="plain", complete_listing=True
    )
    return ingest(store.engine, request, clock=at(when))


def failed_poll(store: Store, folder: Path, when: int) -> IngestSummary:
    """A poll of the feed whose only input cannot be read (an outage)."""
    request = IngestRequest(
        inputs=(folder / "gone.txt",),
        source="feed",
        format="plain",
        complete_listing=True,
    )
    return ingest(store.engine, request, clock=at(when))


def one_off(
    store: Store, folder: Path, text: str, when: int, *, source: str, confidence: int
) -> IngestSummary:
    path = folder / f"{source}.txt"
    path.write_text(text, encoding="utf-8")
    request = IngestRequest(
        inputs=(path,), source=source, format="plain", confidence=confidence
    )
    return ingest(store.engine, request, clock=at(when))


def latest_version(store: Store, stix_id: str) -> Any:
    so = stix_objects.c
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(stix_objects).where(so.stix_id == stix_id, so.is_latest)
        ).one()


def version_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(stix_objects)
            ).scalar_one()
        )


# -- decay of one-off reports ----------------------------------------------


def test_decay_moves_confidence(store: Store, tmp_path: Path) -> None:
    # docs/scoring.md, "A worked example": C at 50 on day 0, A at 90 on day 7.
    one_off(store, tmp_path, "198.51.100.20\n", T0, source="first", confidence=50)
    row = record(store.engine, "ipv4", "198.51.100.20")
    assert row.confidence == 40
    assert row.valid_until == T0 + 7 * DAY
    with begin_write(store.engine) as conn:
        conn.execute(
            sa.insert(sources).values(
                name="second",
                kind="file",
                reliability="A",
                default_tlp=1,
                default_confidence=90,
                created=T0,
            )
        )
    one_off(
        store, tmp_path, "198.51.100.20\n", T0 + 7 * DAY, source="second", confidence=90
    )
    row = record(store.engine, "ipv4", "198.51.100.20")
    # 1 - (1 - 0.2)(1 - 0.9)
    assert row.confidence == 92
    assert T0 + 23.9 * DAY < row.valid_until < T0 + 23.91 * DAY


def test_republish_unchanged_is_zero(store: Store, tmp_path: Path) -> None:
    one_off(store, tmp_path, "198.51.100.21\n", T0, source="a", confidence=50)
    row = record(store.engine, "ipv4", "198.51.100.21")
    before = dump(store.engine)
    with begin_write(store.engine) as conn:
        assert republish(conn, [row.id], now=T0) == 0
    assert dump(store.engine) == before


def test_republish_snapshots_decay(store: Store, tmp_path: Path) -> None:
    one_off(store, tmp_path, "198.51.100.24\n", T0, source="a", confidence=50)
    row = record(store.engine, "ipv4", "198.51.100.24")
    with begin_write(store.engine) as conn:
        assert republish(conn, [row.id], now=T0 + 7 * DAY - 1_000_000) == 1
    later = record(store.engine, "ipv4", "198.51.100.24")
    # A version states its confidence as of its own time: 40 halved in 7 days.
    assert later.confidence == 20
    assert later.state == "active"
    assert later.valid_until == row.valid_until


def test_expire_due_publishes_expiry(store: Store, tmp_path: Path) -> None:
    one_off(store, tmp_path, "198.51.100.22\n", T0, source="a", confidence=50)
    row = record(store.engine, "ipv4", "198.51.100.22")
    assert expire_due(store.engine, now=T0 + 7 * DAY - 1) == 0
    assert record(store.engine, "ipv4", "198.51.100.22").state == "active"
    assert expire_due(store.engine, now=T0 + 7 * DAY) == 1
    expired = record(store.engine, "ipv4", "198.51.100.22")
    assert expired.state == "expired"
    assert expired.modified == T0 + 7 * DAY
    version = latest_version(store, row.stix_id)
    assert not version.active
    body = orjson.loads(render_body(indicator_view(expired)))
    assert body["x_medisac_state"] == "expired"
    assert body["valid_until"] == "2026-01-08T00:00:00.000000Z"
    # Nothing is due any more: no new version, no count.
    versions = version_count(store)
    assert expire_due(store.engine, now=T0 + 30 * DAY) == 0
    assert version_count(store) == versions
    with store.engine.connect() as conn:
        assert stale_digests(conn) == []


def test_hash_outlives_address(store: Store, tmp_path: Path) -> None:
    sha256 = "a" * 64
    one_off(
        store, tmp_path, f"198.51.100.23\n{sha256}\n", T0, source="a", confidence=50
    )
    assert expire_due(store.engine, now=T0 + 30 * DAY) == 1
    assert record(store.engine, "ipv4", "198.51.100.23").state == "expired"
    assert record(store.engine, "sha256", sha256).state == "active"
    assert record(store.engine, "sha256", sha256).valid_until == T0 + 180 * DAY


# -- listings, delisting and outages -----------------------------------------


def test_unchanged_listing_changes_nothing(store: Store, tmp_path: Path) -> None:
    poll(store, tmp_path, ["198.51.100.30", "bad.example.org"], T0)
    before = dump(store.engine)
    second = poll(store, tmp_path, ["198.51.100.30", "bad.example.org"], T0 + DAY)
    assert second.merge.updated == 0
    assert second.merge.delisted == 0
    assert dump(store.engine) == before


def test_listed_value_survives_outage(store: Store, tmp_path: Path) -> None:
    poll(store, tmp_path, ["198.51.100.31"], T0)
    for day in (1, 5, 30, 90):
        failed = failed_poll(store, tmp_path, T0 + day * DAY)
        assert failed.failed
        expire_due(store.engine, now=T0 + day * DAY)
        row = record(store.engine, "ipv4", "198.51.100.31")
        assert row.state == "active", f"expired on day {day} of the outage"
        assert row.valid_until > T0 + day * DAY
    claim = provenance_of(store.engine, "ipv4", "198.51.100.31")["feed"]
    assert claim.active
    assert claim.delisted_at is None


def test_delisted_value_decays_and_expires(store: Store, tmp_path: Path) -> None:
    poll(store, tmp_path, ["198.51.100.32", "198.51.100.33"], T0)
    summary = poll(store, tmp_path, ["198.51.100.32"], T0 + 2 * DAY)
    assert summary.merge.delisted == 1
    claim = provenance_of(store.engine, "ipv4", "198.51.100.33")["feed"]
    assert not claim.active
    assert claim.delisted_at == T0 + 2 * DAY
    # Delisted, it still counts and ages from the read that dropped it.
    row = record(store.engine, "ipv4", "198.51.100.33")
    assert row.state == "active"
    assert row.valid_until == T0 + 9 * DAY
    assert expire_due(store.engine, now=T0 + 9 * DAY - 1) == 0
    assert expire_due(store.engine, now=T0 + 9 * DAY) == 1
    assert record(store.engine, "ipv4", "198.51.100.33").state == "expired"
    assert record(store.engine, "ipv4", "198.51.100.32").state == "active"


def test_listed_value_extended_not_expired(store: Store, tmp_path: Path) -> None:
    poll(store, tmp_path, ["198.51.100.34"], T0)
    row = record(store.engine, "ipv4", "198.51.100.34")
    assert row.valid_until == T0 + 7 * DAY
    assert expire_due(store.engine, now=T0 + 7 * DAY) == 0
    extended = record(store.engine, "ipv4", "198.51.100.34")
    assert extended.state == "active"
    assert extended.valid_until == T0 + 14 * DAY
    assert latest_version(store, row.stix_id).modified == T0 + 7 * DAY
    # The next poll still lists it and changes nothing.
    before = dump(store.engine)
    poll(store, tmp_path, ["198.51.100.34"], T0 + 8 * DAY)
    assert dump(store.engine) == before


def test_disabled_source_not_extended(store: Store, tmp_path: Path) -> None:
    poll(store, tmp_path, ["198.51.100.35"], T0)
    with begin_write(store.engine) as conn:
        conn.execute(
            sa.update(sources).where(sources.c.name == "feed").values(enabled=False)
        )
    assert expire_due(store.engine, now=T0 + 7 * DAY) == 1
    assert record(store.engine, "ipv4", "198.51.100.35").state == "expired"


def test_relisted_value_returns(store: Store, tmp_path: Path) -> None:
    poll(store, tmp_path, ["198.51.100.36", "198.51.100.37"], T0)
    poll(store, tmp_path, ["198.51.100.37"], T0 + DAY)
    expire_due(store.engine, now=T0 + 8 * DAY)
    assert record(store.engine, "ipv4", "198.51.100.36").state == "expired"
    poll(store, tmp_path, ["198.51.100.36", "198.51.100.37"], T0 + 20 * DAY)
    row = record(store.engine, "ipv4", "198.51.100.36")
    assert row.state == "active"
    assert row.valid_until == T0 + 27 * DAY
    claim = provenance_of(store.engine, "ipv4", "198.51.100.36")["feed"]
    assert claim.active
    assert claim.listed_at == T0 + 20 * DAY
    assert claim.delisted_at is None


def test_empty_listing_delists_nothing(store: Store, tmp_path: Path) -> None:
    poll(store, tmp_path, ["198.51.100.38"], T0)
    summary = poll(store, tmp_path, [], T0 + DAY)
    assert summary.merge.delisted == 0
    assert provenance_of(store.engine, "ipv4", "198.51.100.38")["feed"].active


def test_one_off_ingest_delists_nothing(store: Store, tmp_path: Path) -> None:
    one_off(store, tmp_path, "198.51.100.39\n", T0, source="feed", confidence=50)
    one_off(store, tmp_path, "198.51.100.40\n", T0 + DAY, source="feed", confidence=50)
    assert provenance_of(store.engine, "ipv4", "198.51.100.39")["feed"].active


def test_last_success_only_without_failure(store: Store, tmp_path: Path) -> None:
    poll(store, tmp_path, ["198.51.100.41"], T0)
    failed_poll(store, tmp_path, T0 + DAY)
    with store.engine.connect() as conn:
        last = conn.execute(
            sa.select(sources.c.last_success).where(sources.c.name == "feed")
        ).scalar_one()
    assert last == T0


def test_versions_only_when_content_changes(store: Store, tmp_path: Path) -> None:
    poll(store, tmp_path, ["198.51.100.42"], T0)
    poll(store, tmp_path, ["198.51.100.42"], T0 + DAY)
    poll(store, tmp_path, ["198.51.100.42"], T0 + 2 * DAY)
    ic = indicators.c
    with store.engine.connect() as conn:
        stix_id = conn.execute(
            sa.select(ic.stix_id).where(ic.value == "198.51.100.42")
        ).scalar_one()
        count = conn.execute(
            sa.select(sa.func.count())
            .select_from(stix_objects)
            .where(stix_objects.c.stix_id == stix_id)
        ).scalar_one()
    assert count == 1


def stix_poll(
    store: Store, folder: Path, values: list[str], when: int
) -> IngestSummary:
    """Read a STIX bundle with one indicator per value as a feed's listing."""
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--00000000-0000-4000-8000-{number:012d}",
            "created": "2025-12-01T00:00:00.000Z",
            "modified": "2025-12-01T00:00:00.000Z",
            "pattern": f"[ipv4-addr:value = '{value}']",
            "pattern_type": "stix",
            "valid_from": "2025-12-01T00:00:00.000Z",
        }
        for number, value in enumerate(values)
    ]
    path = folder / "bundle.json"
    bundle = {"type": "bundle", "id": "bundle--1", "objects": objects}
    path.write_bytes(orjson.dumps(bundle))
    request = IngestRequest(
        inputs=(path,), source="stix-feed", format="stix", complete_listing=True
    )
    return ingest(store.engine, request, clock=at(when))


def test_unchanged_objects_stay_listed(store: Store, tmp_path: Path) -> None:
    stix_poll(store, tmp_path, ["198.51.100.50", "198.51.100.51"], T0)
    again = stix_poll(store, tmp_path, ["198.51.100.50", "198.51.100.51"], T0 + DAY)
    # Both objects are unchanged, so the merge skips them, yet they are listed.
    assert again.merge.unchanged == 2
    assert again.merge.delisted == 0
    dropped = stix_poll(store, tmp_path, ["198.51.100.50"], T0 + 2 * DAY)
    assert dropped.merge.delisted == 1
    claims = provenance_of(store.engine, "ipv4", "198.51.100.51")
    assert claims["stix-feed"].delisted_at == T0 + 2 * DAY
    assert provenance_of(store.engine, "ipv4", "198.51.100.50")["stix-feed"].active
    # The same object, unchanged, is listed again.
    stix_poll(store, tmp_path, ["198.51.100.50", "198.51.100.51"], T0 + 3 * DAY)
    claim = provenance_of(store.engine, "ipv4", "198.51.100.51")["stix-feed"]
    assert claim.active
    assert claim.delisted_at is None
    assert claim.listed_at == T0 + 3 * DAY


def test_poll_after_one_off_lists(store: Store, tmp_path: Path) -> None:
    one_off(store, tmp_path, "198.51.100.60\n", T0, source="feed", confidence=50)
    assert (
        provenance_of(store.engine, "ipv4", "198.51.100.60")["feed"].listed_at is None
    )
    second = poll(store, tmp_path, ["198.51.100.60"], T0 + DAY)
    # Listed from its first report, so its age and valid_until stay. The
    # changed claim gets a version, with the confidence of day 1.
    assert second.merge.updated == 1
    claim = provenance_of(store.engine, "ipv4", "198.51.100.60")["feed"]
    assert claim.listed_at == T0
    row = record(store.engine, "ipv4", "198.51.100.60")
    assert row.valid_until == T0 + 7 * DAY
    assert row.confidence == 36
    # Now listed, it is extended instead of expired.
    assert expire_due(store.engine, now=T0 + 7 * DAY) == 0
    assert record(store.engine, "ipv4", "198.51.100.60").valid_until == T0 + 14 * DAY
