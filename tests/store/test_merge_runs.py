"""New values merged in runs of equal claims, and commits in the background."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from medisac.model import TLP, IndicatorType
from medisac.store.engine import create_engine
from medisac.store.merge import Candidate, Merger, ensure_source, stale_digests
from medisac.store.migrate import upgrade
from medisac.store.tables import indicators, provenance, stix_objects
from tests.conftest import Store

DAY_US = 86_400_000_000


def mixed_batch() -> list[Candidate]:
    """Candidates whose claims make long runs, short runs and runs of one."""
    batch = []
    for i in range(12):
        # Twelve addresses with the source defaults: one long run.
        batch.append(Candidate(IndicatorType.IPV4, f"198.51.100.{i}", f"line {i}"))
        if i < 3:
            # Three domains at confidence 90: a run too short to share a statement.
            batch.append(
                Candidate(
                    IndicatorType.DOMAIN,
                    f"host-{i}.example.org",
                    f"line d{i}",
                    confidence=90,
                )
            )
        if i < 5:
            # Five addresses seen at different times: a run of one each.
            batch.append(
                Candidate(
                    IndicatorType.IPV4,
                    f"203.0.113.{i}",
                    f"line t{i}",
                    first_seen=(i + 1) * DAY_US,
                )
            )
    batch.append(
        Candidate(
            IndicatorType.IPV4,
            "192.0.2.7",
            "line p",
            context={"port": 443},
            tlp=TLP.AMBER,
        )
    )
    # A value seen twice in the batch is one record with two observations.
    batch.append(Candidate(IndicatorType.IPV4, "198.51.100.3", "line again"))
    return batch


def merge_mixed(store: Store) -> Merger:
    with store.engine.begin() as conn:
        info = ensure_source(conn, "runs", default_tlp=TLP.GREEN, default_confidence=50)
    merger = Merger(store.engine, info)
    counts = merger.merge(mixed_batch())
    assert counts.new == 12 + 3 + 5 + 1
    return merger


def claims_by_value(store: Store) -> dict[str, sa.Row[tuple[object, ...]]]:
    ic, pc = indicators.c, provenance.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(ic.value, provenance).join(indicators, ic.id == pc.indicator_id)
        )
        return {row.value: row for row in rows}


def test_runs_keep_each_claim(store: Store) -> None:
    merger = merge_mixed(store)
    claims = claims_by_value(store)
    assert len(claims) == 21
    assert claims["198.51.100.0"].confidence == 50
    assert claims["198.51.100.0"].tlp == TLP.GREEN
    assert claims["198.51.100.0"].first_seen == merger.run_at
    assert claims["198.51.100.3"].observations == 2
    assert claims["198.51.100.11"].observations == 1
    assert claims["host-2.example.org"].confidence == 90
    assert claims["203.0.113.4"].first_seen == 5 * DAY_US
    assert claims["203.0.113.0"].first_seen == DAY_US
    assert claims["192.0.2.7"].tlp == TLP.AMBER
    assert claims["192.0.2.7"].context == '{"port":443}'
    assert all(row.source_id == merger.source.id for row in claims.values())
    assert all(row.active for row in claims.values())


def test_runs_match_recomputed_digests(store: Store) -> None:
    merge_mixed(store)
    with store.engine.connect() as conn:
        assert stale_digests(conn) == []


def test_runs_publish_one_version_each(store: Store) -> None:
    merge_mixed(store)
    so, ic = stix_objects.c, indicators.c
    with store.engine.connect() as conn:
        versions = conn.execute(
            sa.select(
                stix_objects, ic.stix_id.label("row_stix_id"), ic.tlp.label("row_tlp")
            )
            .join(indicators, ic.id == so.indicator_id)
            .order_by(so.seq)
        ).all()
    assert len(versions) == 21
    seqs = [row.seq for row in versions]
    assert seqs == list(range(seqs[0], seqs[0] + 21))
    added = [row.date_added for row in versions]
    assert added == sorted(added)
    assert len(set(added)) == 21
    for row in versions:
        assert row.stix_id == row.row_stix_id
        assert row.tlp == row.row_tlp
        assert row.is_latest
        assert row.active
        assert row.body is None
        assert row.stix_type == "indicator"


def count_rows(conn: sa.Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def sqlite_store(tmp_path: Path) -> sa.Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'medisac.db'}")
    upgrade(engine)
    return engine


def test_commit_later_then_close(tmp_path: Path) -> None:
    engine = sqlite_store(tmp_path)
    with engine.begin() as conn:
        info = ensure_source(
            conn, "later", default_tlp=TLP.CLEAR, default_confidence=60
        )
    merger = Merger(engine, info)
    first = [Candidate(IndicatorType.IPV4, f"198.51.100.{i}", "a") for i in range(10)]
    second = [Candidate(IndicatorType.IPV4, f"203.0.113.{i}", "b") for i in range(10)]
    merger.merge(first, commit_later=True)
    # The second merge waits for the first commit, so it reads those rows.
    counts = merger.merge(first + second, commit_later=True)
    merger.close()
    assert counts.new == 10
    # Seen again in the same run, a value gains a sighting and a version.
    assert counts.updated == 10
    with engine.connect() as conn:
        assert count_rows(conn, indicators) == 20
        assert count_rows(conn, stix_objects) == 30
        assert stale_digests(conn) == []
    engine.dispose()


def test_commit_later_error_raises(tmp_path: Path) -> None:
    engine = sqlite_store(tmp_path)
    with engine.begin() as conn:
        info = ensure_source(
            conn, "later", default_tlp=TLP.CLEAR, default_confidence=60
        )
        # The versions are written in the commit thread, so this fails there.
        conn.exec_driver_sql(
            "CREATE TRIGGER no_versions BEFORE INSERT ON stix_objects "
            "BEGIN SELECT RAISE(ABORT, 'no versions'); END"
        )
    merger = Merger(engine, info)
    batch = [Candidate(IndicatorType.IPV4, f"198.51.100.{i}", "a") for i in range(10)]
    counts = merger.merge(batch, commit_later=True)
    assert counts.new == 10
    with pytest.raises(sa.exc.IntegrityError, match="no versions"):
        merger.close()
    with engine.connect() as conn:
        # The whole batch was rolled back, the indicator rows too.
        assert count_rows(conn, indicators) == 0
    engine.dispose()
