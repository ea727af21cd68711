"""Healthcare relevance through ingest, from real reports in the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from medisac.store.tables import indicators, stix_objects
from tests.conftest import Store
from tests.helpers import ingest_paths


def _healthcare_counts(store: Store) -> dict[bool, int]:
    ic = indicators.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(ic.healthcare, sa.func.count()).group_by(ic.healthcare)
        )
        return {bool(flag): int(count) for flag, count in rows}


def _published_healthcare(store: Store) -> int:
    so = stix_objects.c
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    so.is_latest.is_(True), so.healthcare.is_(True)
                )
            ).scalar_one()
        )


@pytest.mark.corpus
def test_defray777_report_is_healthcare(store: Store, corpus_dir: Path) -> None:
    # Unit 42's STIX 2.0 report relates every indicator to Defray777, which
    # the threat-actor galaxy lists as targeting healthcare.
    path = corpus_dir / "stix20/unit42/Defray777_TA.json"
    ingest_paths(store.engine, [path])
    counts = _healthcare_counts(store)
    assert counts.get(True, 0) > 0
    assert counts.get(False, 0) == 0
    assert _published_healthcare(store) == counts[True]


@pytest.mark.corpus
def test_zebrocy_event_is_not(store: Store, corpus_dir: Path) -> None:
    # ESET's Zebrocy event is tagged with Sofacy (APT28), whose galaxy
    # entry names no healthcare target.
    path = corpus_dir / "misp/events/eset/2018-11-20_Zebrocy.json"
    ingest_paths(store.engine, [path], fmt="misp")
    counts = _healthcare_counts(store)
    assert counts.get(False, 0) > 0
    assert counts.get(True, 0) == 0
