"""File name normalisation: kept as written, control characters rejected."""

from __future__ import annotations

import pytest

from medisac.model.types import IndicatorType
from medisac.normalize import Value

from .helpers import only, reason

FILENAME = IndicatorType.FILENAME


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Setup.EXE", "Setup.EXE"),
        ("  invoice.pdf.exe \r\n", "invoice.pdf.exe"),
        ("\ufeffreport.docm", "report.docm"),
        ("invoice|final|v2.exe", "invoice|final|v2.exe"),
        ("C:\\Users\\Public\\o'brien.ps1", "C:\\Users\\Public\\o'brien.ps1"),
        ("report[.]pdf", "report[.]pdf"),
        ('"quoted".js', '"quoted".js'),
        ("=1+2.xlsm", "=1+2.xlsm"),
        # U+202E disguises an extension; the exact name is the indicator.
        ("invoice\u202efdp.exe", "invoice\u202efdp.exe"),
    ],
)
def test_filename_kept_as_written(raw: str, expected: str) -> None:
    assert only(raw, "filename") == Value(FILENAME, expected)


def test_filename_255_characters_accepted() -> None:
    name = "a" * 251 + ".exe"
    assert only(name, "filename").value == name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "empty file name"),
        (" \t ", "empty file name"),
        ("a\x00b.exe", "control character U+0000 at position 2"),
        ("a\tb.exe", "control character U+0009"),
        ("a\x85b.exe", "control character U+0085"),
        ("a" * 252 + ".exe", "longer than 255 characters (256)"),
        ("bad\udc80.exe", "unpaired surrogate"),
    ],
)
def test_filename_rejected(raw: str, expected: str) -> None:
    assert expected in reason(raw, "filename")


def test_filename_never_detected() -> None:
    assert "not a recognised indicator value" in reason("setup.exe")
