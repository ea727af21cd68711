"""HTML and PDF of a monthly report from its figures.

Charts are inlined as SVG data URIs, so the HTML file is self-contained and
WeasyPrint needs no network or file access to lay out the PDF.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import jinja2

from medisac.report import charts
from medisac.report.actions import plan_actions

log = logging.getLogger(__name__)

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("medisac.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _data_uri(svg: str | None) -> str | None:
    if svg is None:
        return None
    encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f"data:image/svg+xml;base64,{encoded}"


def draw_charts(figures: dict[str, Any]) -> dict[str, str | None]:
    """Return each chart of ``figures`` as a data URI, or None where it has none."""
    return {
        "glance": _data_uri(charts.glance_chart(figures["glance"])),
        "threats": _data_uri(charts.names_chart(figures["threats"])),
        "kev": _data_uri(charts.kev_chart(figures["vulns"])),
        "devices": _data_uri(charts.devices_chart(figures["vulns"])),
        "sightings": _data_uri(charts.sightings_chart(figures["sightings"])),
        "lead": _data_uri(charts.lead_chart(figures["lead_time"])),
        "sources": _data_uri(charts.sources_chart(figures["sources"])),
    }


def render_html(figures: dict[str, Any], meta: dict[str, str]) -> str:
    """Return the report page; ``meta`` contains title, edition, marking and date."""
    template = _ENV.get_template("report.html")
    return template.render(
        charts=draw_charts(figures),
        actions=plan_actions(figures),
        member=figures.get("member"),
        **{key: value for key, value in figures.items() if key != "member"},
        **meta,
    )


def render_pdf(html: str) -> bytes:
    """Lay out ``html`` as a PDF with WeasyPrint.

    The PDF identifier is derived from the content, so the same HTML gives
    the same file.
    """
    import hashlib

    from weasyprint import HTML  # type: ignore[import-untyped]

    identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode("ascii")
    document = HTML(string=html, base_url=None)
    pdf: bytes = document.write_pdf(pdf_identifier=identifier)
    return pdf
