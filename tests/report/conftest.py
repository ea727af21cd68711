"""A store holding a month of real corpus data, built once per backend.

The clock is frozen at fixed times while data arrives: threat-feed values
in February 2025, then during May 2025 MISP events, ransomware reports, the
KEV catalogue of 22 May 2025 and medical-device advisories, re-reports of
February values by a second source, false-positive marks, member sightings
and inventories. The reports are built for May 2025 on 2 June 2025.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import medisac.model.time as medisac_time
from medisac.enrich.marks import mark_false_positive
from medisac.members.orgs import add_org
from medisac.members.sightings import Report, ReportKind, ReportStatus, record_reports
from medisac.model import TLP
from medisac.model.time import to_us
from medisac.report import ReportFiles, build_report
from medisac.store.engine import begin_write, create_engine
from medisac.store.keys import create_key
from medisac.store.migrate import upgrade
from medisac.store.publish import publish_static
from medisac.store.tables import indicators
from medisac.vulns.inventory import InventoryItem, read_inventory, store_inventory
from medisac.vulns.store import set_healthcare
from tests.conftest import PG_URL, SHARED, _pg_schema_url
from tests.helpers import ingest_paths

MONTH = "2025-05"
BUILT_AT = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
HEALTHCARE_KEV = "CVE-2025-4632"
ORG_NAMES = {
    "a": "North Valley Hospital",
    "b": "Lakeside Clinic",
    "c": "Riverside Medical Center",
    "d": "Hilltop Clinic",
}
INVENTORIES = {
    "a": "vendor,product,version\n"
    "Baxter,Welch Allyn Product Configuration Tool,1.9.4.0\n",
    "b": "vendor,product,version\nMicroDicom,DICOM Viewer,2023.1\n",
}


class FrozenClock:
    """A stand-in for the ``time`` module that medisac's clock reads."""

    def __init__(self) -> None:
        self.now_ns = 0

    def set(self, moment: datetime) -> None:
        self.now_ns = to_us(moment) * 1000

    def time_ns(self) -> int:
        return self.now_ns


@dataclass
class CorpusMonth:
    """The store, its members, and the reports built from it."""

    engine: Engine
    url: str
    orgs: dict[str, str]
    keys: dict[str, str]
    operator_key: str
    sighted: dict[str, list[str]]
    community: ReportFiles
    member: ReportFiles
    out: Path
    files: dict[str, Path] = field(default_factory=dict)


def _at(day: int, month: int = 5, hour: int = 9) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def _values(engine: Engine, kind: str, source_like: str, count: int) -> list[int]:
    ic = indicators.c
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(ic.id)
                .where(ic.type == kind, ic.sources.like(f"%{source_like}%"))
                .order_by(ic.value)
                .limit(count)
            ).scalars()
        )


def _sight(
    engine: Engine, org_id: str, ids: list[int], day: int, origin: str = "api"
) -> None:
    moment = to_us(_at(day))
    with begin_write(engine) as conn:
        record_reports(
            conn,
            [
                Report(
                    indicator_id=indicator_id,
                    kind=ReportKind.SIGHTING,
                    first_seen=moment,
                    last_seen=moment + 3_600_000_000,
                    origin=origin,
                    org_id=org_id,
                    count=2,
                    status=ReportStatus.ACCEPTED,
                )
                for indicator_id in ids
            ],
        )


def _populate(engine: Engine, clock: FrozenClock, tmp: Path) -> dict[str, Any]:
    corpus = SHARED / "corpus"
    # The first 1,500 addresses of the ThreatFox list keep the setup short.
    listed = corpus / "indicators/text/threatfox/ThreatFox-IOC-IPs.txt"
    threatfox = tmp / "threatfox.txt"
    lines = listed.read_text(encoding="utf-8").splitlines()
    threatfox.write_text("\n".join(lines[:1500]) + "\n", encoding="utf-8")
    clock.set(_at(10, month=2))
    ingest_paths(engine, [threatfox], source="threatfox", fmt="plain")
    clock.set(_at(3))
    circl = sorted((corpus / "misp/events/circl").glob("*.json"))
    ingest_paths(engine, circl, source="circl")
    clock.set(_at(12))
    reports = sorted(
        path
        for path in (corpus / "reports").rglob("*")
        if path.is_file() and path.suffix in (".csv", ".txt", ".json")
    )
    ingest_paths(engine, reports, source="reports")
    # The KEV catalogue of 22 May 2025, cut to the entries of 2025, which
    # cover the month and the three months before it.
    catalogue = orjson.loads(
        (
            corpus / "vulns/kev/known_exploited_vulnerabilities_v2025.05.22.json"
        ).read_bytes()
    )
    catalogue["vulnerabilities"] = [
        entry
        for entry in catalogue["vulnerabilities"]
        if entry["dateAdded"] >= "2025-01-01"
    ]
    catalogue["count"] = len(catalogue["vulnerabilities"])
    kev = tmp / "known_exploited_vulnerabilities.json"
    kev.write_bytes(orjson.dumps(catalogue))
    csaf = corpus / "vulns/csaf"
    ingest_paths(
        engine,
        [
            kev,
            *(
                csaf / f"icsma-24-{name}.json"
                for name in ("058-01", "060-01", "151-01")
            ),
        ],
        source="cisa",
    )
    clock.set(_at(20))
    mirror = tmp / "mirror.txt"
    mirror.write_text("\n".join(lines[:60]) + "\n", encoding="utf-8")
    ingest_paths(engine, [mirror], source="mirror", fmt="plain")
    clock.set(_at(21))
    withdrawn = _values(engine, "ipv4", "threatfox", 3) + _values(
        engine, "sha256", "circl", 2
    )
    with begin_write(engine) as conn:
        for indicator_id in withdrawn:
            mark_false_positive(conn, indicator_id)
        set_healthcare(conn, HEALTHCARE_KEV, True)
        orgs = {
            letter: add_org(conn, name, clearance=TLP.GREEN).id
            for letter, name in ORG_NAMES.items()
        }
        keys = {
            letter: create_key(conn, f"{letter}-read", "read", org_id=org_id)
            for letter, org_id in orgs.items()
        }
        for letter, text in INVENTORIES.items():
            read = read_inventory("assets.csv", text.encode())
            items: list[InventoryItem] = list(read.items)
            store_inventory(conn, orgs[letter], items, "csv", to_us(_at(21)))
    shared = _values(engine, "ipv4", "circl", 6)
    only_a = _values(engine, "md5", "circl", 1)
    domains = _values(engine, "domain", "circl", 2)
    only_b = domains[:1]
    only_d = domains[1:]
    clock.set(_at(25))
    for day, letter in ((22, "a"), (23, "b"), (24, "c")):
        _sight(engine, orgs[letter], shared, day)
    _sight(engine, orgs["a"], only_a, 26)
    _sight(engine, orgs["b"], only_b, 27)
    _sight(engine, orgs["d"], only_d, 28, origin="hunt")
    return {"orgs": orgs, "keys": keys, "only_b": only_b, "only_d": only_d}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def corpus_month(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CorpusMonth]:
    """A store with a month of corpus data, and its community and member reports."""
    if not (SHARED / "corpus").is_dir():
        pytest.skip(f"corpus/ not found beside the checkout (expected at {SHARED})")
    tmp = tmp_path_factory.mktemp(f"report-{request.param}")
    schema = None
    admin = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'medisac.db'}"
    else:
        admin = sa.create_engine(
            PG_URL.replace("postgresql://", "postgresql+psycopg://")
        )
        schema = f"medisac_report_{uuid.uuid4().hex[:12]}"
        try:
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        except sa.exc.OperationalError as exc:
            admin.dispose()
            if os.environ.get("CI"):
                raise
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
        url = _pg_schema_url(schema)
    engine = create_engine(url)
    operator_key = "report-operator-" + uuid.uuid4().hex
    clock = FrozenClock()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(medisac_time, "time", clock)
            clock.set(_at(1, month=2))
            upgrade(engine)
            with begin_write(engine) as conn:
                publish_static(conn)
                create_key(conn, "operator", "read,submit,admin", operator_key)
            made = _populate(engine, clock, tmp)
            clock.set(BUILT_AT)
            community = build_report(
                engine, MONTH, org_id=None, out_dir=tmp / "community", now=BUILT_AT
            )
            member = build_report(
                engine,
                MONTH,
                org_id=made["orgs"]["a"],
                out_dir=tmp / "member-a",
                now=BUILT_AT,
            )
        yield CorpusMonth(
            engine=engine,
            url=url,
            orgs=made["orgs"],
            keys=made["keys"],
            operator_key=operator_key,
            sighted={"b": made["only_b"], "d": made["only_d"]},
            community=community,
            member=member,
            out=tmp,
        )
    finally:
        engine.dispose()
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
