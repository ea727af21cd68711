"""The monthly healthcare threat report: figures, charts, HTML and PDF."""

from medisac.report.build import ReportFiles, build_report
from medisac.report.period import ReportError
from medisac.report.stored import ReportSummary, list_reports, load_report

__all__ = [
    "ReportError",
    "ReportFiles",
    "ReportSummary",
    "build_report",
    "list_reports",
    "load_report",
]
