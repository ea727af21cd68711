"""Charts of the monthly report, drawn with matplotlib as SVG text.

Figures are built with :class:`matplotlib.figure.Figure` and never through
pyplot, so no global state or display is involved. The SVG output is
deterministic: the element ids come from a fixed ``svg.hashsalt`` and the
date metadata is left out, so the same figures give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# Colours that stay apart in greyscale print and for common colour blindness.
NEW = "#1f77b4"
UPDATED = "#ff7f0e"
WITHDRAWN = "#7f7f7f"
HEALTHCARE = "#d62728"
OTHER = "#9ecae1"

# Typed as Any: matplotlib types the keys as literals, which a dict loses.
_STYLE: Any = {
    "svg.hashsalt": "medisac-monthly-report",
    # Text stays text, so that the PDF is searchable and smaller; WeasyPrint
    # draws it with the same DejaVu Sans font.
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}
WIDTH = 6.6


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    with mpl.rc_context(_STYLE):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _figure(height: float) -> Figure:
    with mpl.rc_context(_STYLE):
        return Figure(figsize=(WIDTH, height), layout="constrained")


def _grouped_bars(
    axes: Any,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int], str]],
    label_size: float = 7,
) -> None:
    width = 0.8 / len(series)
    positions = range(len(labels))
    for index, (name, values, colour) in enumerate(series):
        offsets = [p - 0.4 + width * (index + 0.5) for p in positions]
        bars = axes.bar(offsets, values, width, label=name, color=colour)
        axes.bar_label(bars, fontsize=label_size, padding=1)
    axes.set_xticks(list(positions), list(labels))
    _counts(axes, "y")
    axes.margins(y=0.18)


def _counts(axes: Any, axis: str) -> None:
    """Give a count axis whole-number ticks that start at zero."""
    if axis == "y":
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylim(bottom=0, top=max(axes.get_ylim()[1], 1))
    else:
        axes.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        axes.set_xlim(left=0, right=max(axes.get_xlim()[1], 1))


def glance_chart(glance: dict[str, Any]) -> str:
    """Bars of new, updated and withdrawn indicators by week and by month."""
    with mpl.rc_context(_STYLE):
        figure = _figure(2.7)
        weeks, months = figure.subplots(1, 2, width_ratios=[5, 4])
        week_rows = glance["by_week"]
        _grouped_bars(
            weeks,
            [f"days {row['week']}" for row in week_rows],
            [
                ("new", [row["new"] for row in week_rows], NEW),
                ("updated", [row["updated"] for row in week_rows], UPDATED),
                ("withdrawn", [row["withdrawn"] for row in week_rows], WITHDRAWN),
            ],
        )
        weeks.set_title("This month, by week")
        weeks.set_ylabel("indicators")
        weeks.tick_params(axis="x", labelsize=7)
        figure.legend(
            *weeks.get_legend_handles_labels(),
            loc="outside upper center",
            ncols=3,
            frameon=False,
        )
        month_rows = glance["months"]
        _grouped_bars(
            months,
            [row["month"] for row in month_rows],
            [
                ("new", [row["new"] for row in month_rows], NEW),
                ("updated", [row["updated"] for row in month_rows], UPDATED),
                ("withdrawn", [row["withdrawn"] for row in month_rows], WITHDRAWN),
            ],
            label_size=5.5,
        )
        months.set_title("The last four months")
        months.tick_params(axis="x", labelsize=7)
        return _svg(figure)


def names_chart(threats: dict[str, Any]) -> str | None:
    """Horizontal bars of the top names per kind; None when there are none."""
    kinds = [
        (title, threats[key])
        for title, key in (
            ("Malware families", "malware"),
            ("Ransomware", "ransomware"),
            ("Threat actors", "actors"),
        )
        if threats[key]
    ]
    if not kinds:
        return None
    with mpl.rc_context(_STYLE):
        rows = max(len(items) for _title, items in kinds)
        figure = _figure(0.9 + 0.22 * rows)
        axes_list = figure.subplots(1, len(kinds), squeeze=False)[0]
        for axes, (title, items) in zip(axes_list, kinds, strict=True):
            ordered = list(reversed(items))
            bars = axes.barh(
                [item["name"][:24] for item in ordered],
                [item["indicators"] for item in ordered],
                color=[HEALTHCARE if item["healthcare"] else OTHER for item in ordered],
            )
            axes.bar_label(bars, fontsize=7, padding=2)
            axes.set_title(title)
            axes.set_xlabel("indicators")
            axes.tick_params(axis="y", labelsize=7)
            axes.margins(x=0.2)
            _counts(axes, "x")
        return _svg(figure)


def kev_chart(vulns: dict[str, Any]) -> str:
    """Bars of KEV entries added per month, all and those touching healthcare."""
    with mpl.rc_context(_STYLE):
        figure = _figure(2.2)
        axes = figure.subplots()
        rows = vulns["months"]
        _grouped_bars(
            axes,
            [row["month"] for row in rows],
            [
                ("added to KEV", [row["kev"] for row in rows], OTHER),
                (
                    "touching healthcare",
                    [row["healthcare"] for row in rows],
                    HEALTHCARE,
                ),
            ],
        )
        axes.set_ylabel("vulnerabilities")
        axes.set_title("Known-exploited vulnerabilities added per month")
        figure.legend(
            *axes.get_legend_handles_labels(),
            loc="outside lower center",
            ncols=2,
            frameon=False,
            fontsize=8,
        )
        return _svg(figure)


def sightings_chart(sightings: dict[str, Any]) -> str | None:
    """Bars of sightings by week, only for weeks with enough members."""
    weeks = [row for row in sightings.get("by_week", []) if row["shown"]]
    if not weeks:
        return None
    with mpl.rc_context(_STYLE):
        figure = _figure(2.2)
        axes = figure.subplots()
        bars = axes.bar(
            [f"days {row['name']}" for row in weeks],
            [row["sightings"] for row in weeks],
            color=NEW,
        )
        axes.bar_label(bars, fontsize=7, padding=1)
        axes.set_ylabel("sightings")
        axes.set_title("Member sightings by week")
        axes.margins(y=0.18)
        _counts(axes, "y")
        return _svg(figure)


def lead_chart(lead: dict[str, Any]) -> str | None:
    """Bars of indicators per lead-time bucket; None when it is not shown."""
    if not lead.get("shown"):
        return None
    with mpl.rc_context(_STYLE):
        figure = _figure(2.2)
        axes = figure.subplots()
        buckets = lead["buckets"]
        colours = [HEALTHCARE] + [NEW] * (len(buckets) - 1)
        bars = axes.bar(
            [row["label"] for row in buckets],
            [row["indicators"] for row in buckets],
            color=colours,
        )
        axes.bar_label(bars, fontsize=7, padding=1)
        axes.set_ylabel("indicators")
        axes.set_title("Lead before the first member sighting")
        axes.tick_params(axis="x", labelsize=7)
        axes.margins(y=0.18)
        _counts(axes, "y")
        return _svg(figure)


def sources_chart(sources: list[dict[str, Any]]) -> str | None:
    """Stacked bars per source: unique, shared and false-positive indicators."""
    top = sources[:12]
    if not top:
        return None
    with mpl.rc_context(_STYLE):
        figure = _figure(0.9 + 0.25 * len(top))
        axes = figure.subplots()
        ordered = list(reversed(top))
        names = [row["source"][:28] for row in ordered]
        unique = [row["unique"] for row in ordered]
        shared = [row["new"] - row["unique"] for row in ordered]
        axes.barh(names, unique, color=NEW, label="only from this source")
        axes.barh(names, shared, left=unique, color=OTHER, label="also from others")
        axes.scatter(
            [row["false_positives"] for row in ordered],
            names,
            color=HEALTHCARE,
            marker="|",
            s=120,
            label="false positives",
            zorder=3,
        )
        axes.set_xlabel("indicators first reported this month")
        axes.set_title("Contribution by source")
        axes.tick_params(axis="y", labelsize=7)
        _counts(axes, "x")
        figure.legend(
            *axes.get_legend_handles_labels(),
            loc="outside lower center",
            ncols=3,
            frameon=False,
            fontsize=7,
        )
        return _svg(figure)


def devices_chart(vulns: dict[str, Any]) -> str | None:
    """Horizontal bars of medical-device advisories per vendor."""
    counts: dict[str, int] = {}
    for item in vulns["device_advisories"]:
        counts[item["vendor"]] = counts.get(item["vendor"], 0) + 1
    if not counts:
        return None
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:12]
    with mpl.rc_context(_STYLE):
        figure = _figure(0.9 + 0.22 * len(ranked))
        axes = figure.subplots()
        ordered = list(reversed(ranked))
        bars = axes.barh(
            [name[:30] for name, _count in ordered],
            [count for _name, count in ordered],
            color=HEALTHCARE,
        )
        axes.bar_label(bars, fontsize=7, padding=2)
        axes.set_xlabel("advisories received this month")
        axes.set_title("Medical-device advisories by vendor")
        axes.tick_params(axis="y", labelsize=7)
        _counts(axes, "x")
        axes.margins(x=0.15)
        return _svg(figure)
