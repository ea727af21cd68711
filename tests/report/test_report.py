"""The monthly report over a month of corpus data: figures, privacy, files."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from stix2validator import ValidationOptions, validate_instance

from medisac.advisories import list_advisories
from medisac.members.access import Audience
from medisac.model import TLP
from medisac.report import build_report, list_reports, load_report
from medisac.report.data import collect_figures
from medisac.report.period import Month
from medisac.report.render import render_html
from medisac.server import create_app
from medisac.settings import Settings
from medisac.store.tables import (
    indicators,
    provenance,
    sightings,
    sources,
    stix_objects,
    vulnerabilities,
)
from tests.helpers import serving
from tests.report.conftest import (
    BUILT_AT,
    HEALTHCARE_KEV,
    MONTH,
    ORG_NAMES,
    CorpusMonth,
)

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

MAY = Month(2025, 5)
SECTIONS = (
    "The month at a glance",
    "Malware, ransomware and threat actors",
    "Known-exploited vulnerabilities and medical devices",
    "Member sightings",
    "Lead time",
    "Source quality",
    "What to do",
)


class _Figures(HTMLParser):
    """Collect the text of every element that carries ``data-figure``."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("img", "meta", "br"):
            return
        self._open.append(dict(attrs).get("data-figure"))

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("img", "meta", "br") and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] is not None:
            key = self._open[-1]
            self.figures[key] = self.figures.get(key, "") + data.strip()


def figures_of(path: Path) -> dict[str, str]:
    parser = _Figures()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.figures


def _green() -> sa.ColumnElement[bool]:
    return indicators.c.tlp <= int(TLP.GREEN)


def test_new_by_type(corpus_month: CorpusMonth) -> None:
    ic = indicators.c
    with corpus_month.engine.connect() as conn:
        expected = dict(
            conn.execute(
                sa.select(ic.type, sa.func.count())
                .where(
                    ic.created >= MAY.start,
                    ic.created < MAY.end,
                    ic.state != "benign",
                    _green(),
                )
                .group_by(ic.type)
            ).all()
        )
    shown = figures_of(corpus_month.community.html)
    assert expected, "the corpus month stored no indicators"
    for kind, count in expected.items():
        assert shown[f"new.{kind}"] == str(count), kind
    assert shown["glance.new"] == str(sum(expected.values()))


def _versions(corpus_month: CorpusMonth, *, active: bool) -> int:
    so = stix_objects.c
    ic = indicators.c
    conditions = [
        so.active.is_(active),
        so.date_added >= MAY.start,
        so.date_added < MAY.end,
        _green(),
    ]
    if active:
        conditions.append(ic.created < MAY.start)
    with corpus_month.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count(sa.distinct(so.indicator_id)))
                .select_from(stix_objects.join(indicators, ic.id == so.indicator_id))
                .where(*conditions)
            ).scalar_one()
        )


def test_updated_and_withdrawn(corpus_month: CorpusMonth) -> None:
    shown = figures_of(corpus_month.community.html)
    updated = _versions(corpus_month, active=True)
    withdrawn = _versions(corpus_month, active=False)
    assert updated > 0
    assert withdrawn == 5
    assert shown["glance.updated"] == str(updated)
    assert shown["glance.withdrawn"] == str(withdrawn)


def test_kev_figures(corpus_month: CorpusMonth) -> None:
    vc = vulnerabilities.c
    with corpus_month.engine.connect() as conn:
        added = conn.execute(
            sa.select(sa.func.count()).where(
                vc.kev_date_added >= MAY.start, vc.kev_date_added < MAY.end
            )
        ).scalar_one()
    shown = figures_of(corpus_month.community.html)
    assert added == 25
    assert shown["kev.added"] == str(added)
    assert shown["kev.healthcare"] == "1"
    assert HEALTHCARE_KEV in corpus_month.community.html.read_text(encoding="utf-8")
    assert shown["devices"] == "3"


def test_source_contribution(corpus_month: CorpusMonth) -> None:
    pc = provenance.c
    ic = indicators.c
    with corpus_month.engine.connect() as conn:
        expected = dict(
            conn.execute(
                sa.select(sources.c.name, sa.func.count())
                .select_from(
                    provenance.join(sources, sources.c.id == pc.source_id).join(
                        indicators, ic.id == pc.indicator_id
                    )
                )
                .where(
                    pc.first_reported >= MAY.start,
                    pc.first_reported < MAY.end,
                    ic.state != "benign",
                    _green(),
                )
                .group_by(sources.c.name)
            ).all()
        )
    shown = figures_of(corpus_month.community.html)
    assert "threatfox" not in expected
    for name, count in expected.items():
        assert shown[f"source.{name}"] == str(count), name


def test_sightings_aggregated(corpus_month: CorpusMonth) -> None:
    sc = sightings.c
    # Only the addresses were sighted by three members or more, so the
    # figures count their sightings alone: the others are hidden everywhere.
    with corpus_month.engine.connect() as conn:
        total, members = conn.execute(
            sa.select(sa.func.sum(sc.count), sa.func.count(sa.distinct(sc.org_id)))
            .select_from(sightings.join(indicators, indicators.c.id == sc.indicator_id))
            .where(
                sc.first_seen < MAY.end,
                sc.last_seen >= MAY.start,
                indicators.c.type == "ipv4",
            )
        ).one()
    shown = figures_of(corpus_month.community.html)
    assert shown["sightings.members"] == str(members)
    assert shown["sightings.total"] == str(total)
    # Addresses were sighted by three members, the domains by two only.
    assert "sightings.ipv4" in shown
    assert "sightings.domain" not in shown
    assert "sightings.md5" not in shown


def test_lead_time_shown(corpus_month: CorpusMonth) -> None:
    shown = figures_of(corpus_month.community.html)
    figures = corpus_month.community.figures["lead_time"]
    assert figures["shown"] is True
    assert shown["lead.indicators"] == str(figures["indicators"])
    assert figures["indicators"] == 9
    assert figures["median_days"] > 0


def test_threat_names(corpus_month: CorpusMonth) -> None:
    threats = corpus_month.community.figures["threats"]
    actors = [item["name"] for item in threats["actors"]]
    assert "APT28" in actors
    assert threats["ransomware"], "no ransomware named in a month of ransomware reports"


def _values(corpus_month: CorpusMonth, ids: list[int]) -> list[str]:
    with corpus_month.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(indicators.c.value).where(indicators.c.id.in_(ids))
            ).scalars()
        )


def test_member_edition_private(corpus_month: CorpusMonth) -> None:
    html = corpus_month.member.html.read_text(encoding="utf-8")
    pdf_text = "".join(
        page.extract_text() for page in PdfReader(corpus_month.member.pdf).pages
    )
    others = [ORG_NAMES[letter] for letter in ("b", "c", "d")]
    others += [corpus_month.orgs[letter] for letter in ("b", "c", "d")]
    others += _values(corpus_month, corpus_month.sighted["b"])
    others += _values(corpus_month, corpus_month.sighted["d"])
    # Lakeside Clinic's inventory product, and the CVEs only it matches.
    others += ["DICOM Viewer 2023.1", "CVE-2024-33606", "CVE-2024-28877"]
    for text in others:
        assert text not in html, text
        assert text not in pdf_text, text
    assert ORG_NAMES["a"] in html


def test_member_edition_own(corpus_month: CorpusMonth) -> None:
    shown = figures_of(corpus_month.member.html)
    own = corpus_month.member.figures["member"]
    assert shown["member.sightings"] == "7"
    assert shown["member.hunt_hits"] == "0"
    assert [match["cve"] for match in own["matches"]] == ["CVE-2024-5176"]


def test_k_anonymity_threshold(corpus_month: CorpusMonth) -> None:
    sc = sightings.c
    # Without the fourth member and one of the three that sighted the
    # addresses, two members remain: too few for any sightings figure.
    removed = [corpus_month.orgs["c"], corpus_month.orgs["d"]]
    with corpus_month.engine.begin() as conn:
        kept = conn.execute(sa.select(sightings).where(sc.org_id.in_(removed))).all()
        conn.execute(sa.delete(sightings).where(sc.org_id.in_(removed)))
    try:
        with corpus_month.engine.connect() as conn:
            figures = collect_figures(conn, MAY, Audience.member(None, TLP.GREEN), None)
    finally:
        with corpus_month.engine.begin() as conn:
            conn.execute(sa.insert(sightings), [row._asdict() for row in kept])
    html = render_html(
        figures,
        {
            "title": "t",
            "month_title": "May 2025",
            "edition": "e",
            "marking": "TLP:GREEN",
            "generated": "g",
        },
    )
    parser = _Figures()
    parser.feed(html)
    assert figures["sightings"] == {"shown": False, "min_members": 3}
    assert figures["lead_time"] == {"shown": False, "min_members": 3}
    assert "sightings.suppressed" in parser.figures
    assert "sightings.total" not in parser.figures
    assert "lead.indicators" not in parser.figures


def test_rebuild_identical(corpus_month: CorpusMonth, tmp_path: Path) -> None:
    again = build_report(
        corpus_month.engine, MONTH, org_id=None, out_dir=tmp_path, now=BUILT_AT
    )
    assert again.figures == corpus_month.community.figures
    assert again.html.read_bytes() == corpus_month.community.html.read_bytes()
    assert again.pdf.read_bytes() == corpus_month.community.pdf.read_bytes()


def test_pdf_sections(corpus_month: CorpusMonth) -> None:
    reader = PdfReader(corpus_month.community.pdf)
    text = " ".join(page.extract_text() for page in reader.pages)
    for heading in SECTIONS:
        assert heading in text, heading
    member_text = " ".join(
        page.extract_text() for page in PdfReader(corpus_month.member.pdf).pages
    )
    assert "your own activity" in member_text


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils")
def test_pdf_renders(corpus_month: CorpusMonth, tmp_path: Path) -> None:
    pages = len(PdfReader(corpus_month.community.pdf).pages)
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", str(corpus_month.community.pdf), "page"],
        cwd=tmp_path,
        check=True,
    )
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == pages
    assert all(image.stat().st_size > 5_000 for image in images)


def test_published_report(corpus_month: CorpusMonth) -> None:
    audience = Audience.member(corpus_month.orgs["b"], TLP.GREEN)
    monthly = list_advisories(corpus_month.engine, audience, kind="monthly")
    assert [view.stix_id for view in monthly] == [corpus_month.community.stix_id]
    assert monthly[0].cves == (HEALTHCARE_KEV,)
    result = validate_instance(monthly[0].body, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(error) for error in result.errors]


def test_stored_editions(corpus_month: CorpusMonth) -> None:
    engine = corpus_month.engine
    own = corpus_month.orgs["a"]
    other = corpus_month.orgs["b"]
    assert [item.org_id for item in list_reports(engine, org_id=own)] == [None, own]
    assert [item.org_id for item in list_reports(engine, org_id=other)] == [None]
    assert load_report(engine, MONTH, org_id=other, kind="pdf") is None
    stored = load_report(engine, MONTH, org_id=own, kind="html")
    assert stored == corpus_month.member.html.read_bytes()


def test_served_download(corpus_month: CorpusMonth) -> None:
    app = create_app(corpus_month.engine, Settings(db=corpus_month.url))

    def get(key: str, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.get(base + "/api/v1/reports/" + path, headers=headers)

    with serving(app) as base:
        own = get(corpus_month.keys["a"], f"{MONTH}.pdf")
        other = get(corpus_month.keys["b"], f"{MONTH}.html")
        missing = get(corpus_month.keys["b"], f"{MONTH}.pdf?edition=member")
        foreign = get(
            corpus_month.keys["b"], f"{MONTH}.pdf?org={corpus_month.orgs['a']}"
        )
        listing = httpx.get(
            base + "/api/v1/reports",
            headers={"Authorization": f"Bearer {corpus_month.keys['a']}"},
        )
    assert own.status_code == 200
    assert own.headers["content-type"] == "application/pdf"
    assert own.content == corpus_month.member.pdf.read_bytes()
    assert other.status_code == 200
    assert other.content == corpus_month.community.html.read_bytes()
    assert missing.status_code == 404
    assert foreign.status_code == 403
    assert listing.status_code == 200
    assert [item["edition"] for item in listing.json()] == ["community", "member"]
