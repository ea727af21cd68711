"""Report figures that could reveal what a reader may not know."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from medisac.enrich.marks import set_tlp
from medisac.members.access import Audience
from medisac.members.orgs import OrgKind, add_org
from medisac.model import TLP
from medisac.report.period import parse_month
from medisac.report.sightings import member_sightings
from medisac.report.sources import source_quality
from medisac.store.engine import begin_write
from medisac.store.tables import indicators, sightings
from tests.conftest import Store
from tests.helpers import ingest_text


def test_lowered_record_hides_amber_source(store: Store, tmp_path: Path) -> None:
    ingest_text(
        store.engine, tmp_path, "198.51.100.77\n", source="green-feed", tlp=TLP.GREEN
    )
    ingest_text(
        store.engine,
        tmp_path,
        "198.51.100.77\n",
        source="secret-amber-partner",
        tlp=TLP.AMBER,
        name="amber.txt",
    )
    with begin_write(store.engine) as conn:
        record = conn.execute(sa.select(indicators.c.id)).scalar_one()
        set_tlp(conn, record, TLP.GREEN)
    month = parse_month(datetime.now(UTC).strftime("%Y-%m"))
    with store.engine.connect() as conn:
        rows = source_quality(conn, month, Audience.member(None, TLP.GREEN))
    assert [row["source"] for row in rows] == ["green-feed"]
    assert rows[0]["unique"] == 1


def test_hidden_group_not_in_totals(store: Store, tmp_path: Path) -> None:
    ingest_text(store.engine, tmp_path, "191.101.31.25\nrare.example.org\n")
    month = parse_month("2026-11")
    day = month.start + 86_400_000_000
    with begin_write(store.engine) as conn:
        ids = dict(conn.execute(sa.select(indicators.c.value, indicators.c.id)).all())
        orgs = [
            add_org(conn, f"Member {n}", tier="standard", kind=OrgKind.CLINIC).id
            for n in range(4)
        ]
        reports = [
            (orgs[0], "191.101.31.25", 5),
            (orgs[1], "191.101.31.25", 3),
            (orgs[2], "191.101.31.25", 2),
            (orgs[3], "rare.example.org", 777),
        ]
        conn.execute(
            sa.insert(sightings),
            [
                {
                    "indicator_id": ids[value],
                    "org_id": org,
                    "kind": "sighting",
                    "count": count,
                    "first_seen": day,
                    "last_seen": day,
                    "origin": "api",
                    "status": "accepted",
                    "created": day,
                }
                for org, value, count in reports
            ],
        )
    with store.engine.connect() as conn:
        figures = member_sightings(conn, month, Audience.member(None, TLP.GREEN))
    assert figures["sightings"] == 10
    assert figures["members"] == 3
    shown_types = [g for g in figures["by_type"] if g["shown"]]
    assert [g["sightings"] for g in shown_types] == [10]
    assert [g["sightings"] for g in figures["by_week"] if g["shown"]] == [10]
