"""The OpenIOC parser: search terms, conditions and unsafe XML."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from medisac.errors import IngestError
from tests.ingest.helpers import (
    by_value,
    observations,
    parse_bytes,
    parse_path,
    rejections,
    skipped,
    values,
)

IOC = """<?xml version="1.0" encoding="utf-8"?>
<OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1" id="ioc-1"
         last-modified="2020-12-02T06:54:46Z">
  <metadata><short_description>Test IOC</short_description></metadata>
  <criteria>
    <Indicator operator="OR" id="top">
      {items}
    </Indicator>
  </criteria>
</OpenIOC>
"""


def item(
    ident: str, search: str, content: str, condition: str = "is", negate: str = "false"
) -> str:
    document = search.split("/")[0]
    return (
        f'<IndicatorItem id="{ident}" condition="{condition}" negate="{negate}">'
        f'<Context document="{document}" search="{search}" type="mir"/>'
        f'<Content type="string">{content}</Content></IndicatorItem>'
    )


def openioc(*items: str) -> list[object]:
    return parse_bytes(IOC.format(items="".join(items)).encode(), "openioc")


def test_search_terms_declared() -> None:
    items = openioc(
        item("i1", "FileItem/Md5sum", "d41d8cd98f00b204e9800998ecf8427e"),
        item(
            "i2",
            "FileItem/Sha256sum",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        item("i3", "FileItem/FileName", "dropper.exe"),
        item("i4", "Network/DNS", "c2.example.org"),
        item("i5", "PortItem/remoteIP", "203.0.113.9"),
        item("i6", "Network/URI", "http://c2.example.org/gate.php"),
        item("i7", "DnsEntryItem/Host", "203.0.113.10"),
        item("i8", "Email/From", "sender@example.org"),
    )
    assert values(items) == {
        "d41d8cd98f00b204e9800998ecf8427e": "md5",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855": "sha256",
        "dropper.exe": "filename",
        "c2.example.org": "domain",
        "203.0.113.9": "ip",
        "http://c2.example.org/gate.php": "url",
        "203.0.113.10": None,
        "sender@example.org": "email",
    }


def test_location_ref_version_context() -> None:
    obs = by_value(
        openioc(item("i1", "Network/DNS", "c2.example.org")), "c2.example.org"
    )
    assert obs.location == "indicator item i1"
    assert obs.ref == "i1"
    assert obs.version == datetime(2020, 12, 2, 6, 54, 46, tzinfo=UTC)
    assert obs.context == {"ioc_id": "ioc-1", "ioc_name": "Test IOC"}


def test_conditions_and_negation() -> None:
    items = openioc(
        item("i1", "Network/DNS", "whole.example.org", condition="contains"),
        item("i2", "FileItem/FileName", "part", condition="contains"),
        item("i3", "Network/DNS", "bad.example.org", negate="true"),
        item("i4", "processEvent/processCmdLine", "-dc "),
    )
    assert values(items) == {"whole.example.org": "domain"}
    assert sorted(s.kind for s in skipped(items)) == [
        "openioc:FileItem/FileName:contains",
        "openioc:Network/DNS:negated",
        "openioc:processEvent/processCmdLine",
    ]


def test_empty_content_rejected() -> None:
    (rejection,) = rejections(openioc(item("i9", "Network/DNS", "")))
    assert rejection.location == "indicator item i9"


def test_entities_refused() -> None:
    content = (
        b'<?xml version="1.0"?><!DOCTYPE ioc [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<ioc><definition><IndicatorItem><Content>&x;</Content></IndicatorItem></definition></ioc>"
    )
    with pytest.raises(IngestError) as caught:
        parse_bytes(content, "openioc", "evil.ioc")
    assert "evil.ioc" in str(caught.value)


def test_malformed_xml_names_position() -> None:
    with pytest.raises(IngestError) as caught:
        parse_bytes(b'<ioc xmlns="x">\n  <definition>\n</ioc>', "openioc", "bad.ioc")
    assert caught.value.position == "line 3, column 3"


def test_corpus_windigo(corpus_dir: Path) -> None:
    items = parse_path(corpus_dir / "openioc" / "eset" / "windigo.ioc")
    assert values(items)["k2l8z1yeodm.info"] == "domain"
    assert "openioc:Snort/Snort" in {s.kind for s in skipped(items)}


def test_corpus_sunburst(corpus_dir: Path) -> None:
    path = corpus_dir / "openioc" / "sunburst" / "SUNBURST COMPROMISE INDICATORS.ioc"
    items = parse_path(path)
    assert values(items)["b91ce2fa41029f6955bff20079468448"] == "md5"
    assert values(items)["freescanonline.com"] == "domain"
    assert len(observations(items)) == 17
