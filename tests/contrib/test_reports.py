"""Reading research reports: the corpus, a generated PDF and hostile files."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF

from medisac.contrib.draft import CONTEXT, INDICATOR, Proposal, draft_report
from medisac.contrib.errors import ContributionError
from medisac.contrib.reports import read_report

SHA256 = "5c3b39ec6ffbfe05ac0246d98d6ce7287de442896c90d24e256a03da21f3ada9"
MD5 = "2645deb7d2368c7ce87593e0d6c592f6"
SHA1 = "65af7bfdbe8c68e8eb9b3b8e07c46033ccd84bef"
CORPUS_FILES = 13


def ioc_report() -> bytes:
    """Write a PDF report with an IOC appendix, defanged values and footnotes."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.cell(0, 10, "1 Introduction", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(
        0,
        6,
        "Rhysida ransomware hit two hospitals in March. The group's earlier "
        "campaigns were described by other researchers [1], and the techniques "
        "map to ATT&CK [2]. Operators staged tools on a host such as 192.0.2.10 "
        "in the examples of this report, and wrote to admin@example.com.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)
    pdf.set_font("Helvetica", size=8)
    pdf.cell(
        0,
        5,
        "[1] https://www.vendor-research.com/blog/rhysida-2023",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.cell(
        0,
        5,
        "[2] https://attack.mitre.org/software/S1234/",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.cell(
        0, 10, "Appendix A: Indicators of compromise", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", size=9)
    rows = [
        ("Type", "Value"),
        ("URL", "hxxps://update-check[.]net/gate.php"),
        ("IPv4", "45.9.20[.]17"),
        ("Domain", "cdn-sync[.]top"),
        ("E-mail", "rhysida-support[@]onionmail[.]org"),
        ("MD5", MD5),
        ("SHA-1", SHA1),
        ("SHA-256", SHA256),
    ]
    with pdf.table(col_widths=(25, 165)) as table:
        for cells in rows:
            row = table.row()
            for cell in cells:
                row.cell(cell)
    pdf.set_font("Helvetica", size=8)
    pdf.cell(
        0,
        6,
        "(c) 2026 Vendor Research, contact us at intel@vendor-research.com",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


def proposals(data: bytes, name: str = "report.pdf") -> dict[str, Proposal]:
    draft = draft_report(read_report(data, name), None)
    return {item.value: item for item in draft.proposals}


def test_corpus_reads(reports_dir: Path) -> None:
    files = sorted(path for path in reports_dir.iterdir() if path.name != "SOURCES.md")
    assert len(files) == CORPUS_FILES
    for path in files:
        report = read_report(path.read_bytes(), path.name)
        assert len(report.text) > 500, path.name


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("https://update-check.net/gate.php", "url"),
        ("45.9.20.17", "ipv4"),
        ("cdn-sync.top", "domain"),
        ("rhysida-support@onionmail.org", "email"),
        (MD5, "md5"),
        (SHA1, "sha1"),
        (SHA256, "sha256"),
    ],
)
def test_pdf_appendix_values(value: str, kind: str) -> None:
    found = proposals(ioc_report())
    assert value in found
    assert found[value].type == kind
    assert found[value].proposal == INDICATOR
    assert "Indicators of compromise" in found[value].section


def test_pdf_related_names() -> None:
    found = proposals(ioc_report())
    assert "Rhysida" in " ".join(found[SHA256].related)


@pytest.mark.parametrize(
    "value",
    [
        "https://www.vendor-research.com/blog/rhysida-2023",
        "https://attack.mitre.org/software/S1234/",
    ],
)
def test_pdf_footnotes_context(value: str) -> None:
    found = proposals(ioc_report())
    assert found[value].proposal == CONTEXT


@pytest.mark.parametrize(
    "value", ["192.0.2.10", "admin@example.com", "intel@vendor-research.com"]
)
def test_pdf_examples_context(value: str) -> None:
    found = proposals(ioc_report())
    assert found[value].proposal == CONTEXT


def test_publisher_domain_reason() -> None:
    found = proposals(ioc_report())
    assert "publisher" in found["intel@vendor-research.com"].reason


def encrypted_pdf() -> bytes:
    """Return a PDF that opens only with a user password."""
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner-secret", user_password="user-secret")
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 10, "C2: hxxps://update-check[.]net/gate.php")
    return bytes(pdf.output())


def test_encrypted_pdf() -> None:
    with pytest.raises(ContributionError, match="encrypted"):
        read_report(encrypted_pdf(), "locked.pdf")


def test_encrypted_pdf_empty_password() -> None:
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner-secret", user_password="")
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 10, "C2 server: hxxps://update-check[.]net/gate.php and more text")
    found = proposals(bytes(pdf.output()), "protected.pdf")
    assert "https://update-check.net/gate.php" in found


def test_pdf_without_text() -> None:
    pdf = FPDF()
    for _ in range(3):
        pdf.add_page()
        pdf.rect(20, 20, 170, 250, style="F")
    with pytest.raises(ContributionError, match="no text layer"):
        read_report(bytes(pdf.output()), "scan.pdf")


def test_truncated_pdf() -> None:
    data = ioc_report()
    with pytest.raises(ContributionError, match=r"truncated\.pdf"):
        read_report(data[:200], "truncated.pdf")


def test_binary_not_pdf() -> None:
    with pytest.raises(ContributionError, match="binary"):
        read_report(b"MZ\x90\x00\x03\x00\x00\x00" * 100, "sample.exe")


def test_unit42_defanged(reports_dir: Path) -> None:
    name = "unit42_2022-04-14-IOCs-for-aa-Qakbot-with-Cobalt-Strike.txt"
    found = proposals((reports_dir / name).read_bytes(), name)
    assert found["https://geobram.com/ist/NO_2950435796.zip"].proposal == INDICATOR
    assert found["47.158.25.67"].proposal == INDICATOR
    assert (
        found["https://twitter.com/k3dg3/status/1513514251788464132"].proposal
        == CONTEXT
    )


def test_markdown_html_tables(reports_dir: Path) -> None:
    name = "strangerealintel_Ryuk_2020-10-27_Analysis.md"
    found = proposals((reports_dir / name).read_bytes(), name)
    hashes = [item for item in found.values() if item.type == "sha256"]
    assert len(hashes) == 5
    assert all(item.proposal == INDICATOR for item in hashes)


def test_excel_html_report(reports_dir: Path) -> None:
    name = "intrinsec_Threat_Actors_Intrusion_Set_Ukraine.htm"
    found = proposals((reports_dir / name).read_bytes(), name)
    twitter = [item for value, item in found.items() if "twitter.com" in value]
    assert twitter
    assert all(item.proposal == CONTEXT for item in twitter)


def test_vice_society_contacts(reports_dir: Path) -> None:
    name = "prodaft_ViceSociety_Rhysida_IOCs.md"
    found = proposals((reports_dir / name).read_bytes(), name)
    assert found["ViceSociety@onionmail.org"].proposal == INDICATOR


def test_emotet_control(reports_dir: Path) -> None:
    name = "sekoia_FLINT_2021_Emotet_EN.pdf"
    found = proposals((reports_dir / name).read_bytes(), name)
    assert [value for value, item in found.items() if item.proposal == INDICATOR] == []
