"""The STIX 1.x parser: XML and JSON packages, compositions and TLP."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from medisac.errors import IngestError
from medisac.model import TLP
from tests.ingest.helpers import (
    by_value,
    observations,
    parse_bytes,
    parse_path,
    skipped,
    values,
)

PACKAGE = """<stix:STIX_Package
    xmlns:stix="http://stix.mitre.org/stix-1"
    xmlns:indicator="http://stix.mitre.org/Indicator-2"
    xmlns:cybox="http://cybox.mitre.org/cybox-2"
    xmlns:cc="http://cybox.mitre.org/common-2"
    xmlns:AddrObj="http://cybox.mitre.org/objects#AddressObject-2"
    xmlns:DomainObj="http://cybox.mitre.org/objects#DomainNameObject-1"
    xmlns:FileObj="http://cybox.mitre.org/objects#FileObject-2"
    xmlns:SockObj="http://cybox.mitre.org/objects#SocketAddressObject-1"
    xmlns:PortObj="http://cybox.mitre.org/objects#PortObject-2"
    xmlns:marking="http://data-marking.mitre.org/Marking-1"
    xmlns:tlp="http://data-marking.mitre.org/extensions/MarkingStructure#TLP-1"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="example:Package-1" version="1.2">
  <stix:STIX_Header>
    <stix:Handling><marking:Marking>
      <marking:Marking_Structure xsi:type="tlp:TLPMarkingStructureType" color="GREEN"/>
    </marking:Marking></stix:Handling>
  </stix:STIX_Header>
  <stix:Observables cybox_major_version="2" cybox_minor_version="1">
    <cybox:Observable id="example:Observable-ref">
      <cybox:Object><cybox:Properties xsi:type="DomainObj:DomainNameObjectType">
        <DomainObj:Value condition="Equals">ref.example.org</DomainObj:Value>
      </cybox:Properties></cybox:Object>
    </cybox:Observable>
    <cybox:Observable id="example:Observable-free">
      <cybox:Object><cybox:Properties
          xsi:type="AddrObj:AddressObjectType" category="ipv4-net">
        <AddrObj:Address_Value>198.51.100.0/24</AddrObj:Address_Value>
      </cybox:Properties></cybox:Object>
    </cybox:Observable>
  </stix:Observables>
  <stix:Indicators>
    <stix:Indicator id="example:Indicator-1" timestamp="2014-05-08T09:00:00"
                    xsi:type="indicator:IndicatorType">
      <indicator:Title>Composite</indicator:Title>
      <indicator:Observable id="example:Observable-comp">
        <cybox:Observable_Composition operator="OR">
          <cybox:Observable idref="example:Observable-ref"/>
          <cybox:Observable>
            <cybox:Object><cybox:Properties xsi:type="FileObj:FileObjectType">
              <FileObj:File_Name condition="Equals">evil.exe</FileObj:File_Name>
              <FileObj:Hashes><cc:Hash>
                <cc:Type condition="Equals">MD5</cc:Type>
                <cc:Simple_Hash_Value condition="Equals"
                  >d41d8cd98f00b204e9800998ecf8427e</cc:Simple_Hash_Value>
              </cc:Hash></FileObj:Hashes>
            </cybox:Properties></cybox:Object>
          </cybox:Observable>
          <cybox:Observable>
            <cybox:Object><cybox:Properties xsi:type="SockObj:SocketAddressObjectType">
              <SockObj:IP_Address category="ipv4-addr">
                <AddrObj:Address_Value>203.0.113.3</AddrObj:Address_Value>
              </SockObj:IP_Address>
              <SockObj:Port><PortObj:Port_Value>8443</PortObj:Port_Value></SockObj:Port>
            </cybox:Properties></cybox:Object>
          </cybox:Observable>
          <cybox:Observable>
            <cybox:Object><cybox:Properties
                xsi:type="AddrObj:AddressObjectType" category="ipv4-addr">
              <AddrObj:Address_Value condition="Equals" apply_condition="ANY"
                >203.0.113.4##comma##203.0.113.5</AddrObj:Address_Value>
            </cybox:Properties></cybox:Object>
          </cybox:Observable>
          <cybox:Observable>
            <cybox:Object><cybox:Properties xsi:type="DomainObj:DomainNameObjectType">
              <DomainObj:Value condition="Contains">partial</DomainObj:Value>
            </cybox:Properties></cybox:Object>
          </cybox:Observable>
        </cybox:Observable_Composition>
      </indicator:Observable>
      <indicator:Handling><marking:Marking>
        <marking:Marking_Structure
            xsi:type="tlp:TLPMarkingStructureType" color="AMBER"/>
      </marking:Marking></indicator:Handling>
    </stix:Indicator>
  </stix:Indicators>
</stix:STIX_Package>
"""


def test_xml_package() -> None:
    items = parse_bytes(PACKAGE.encode(), "stix1")
    assert values(items) == {
        "ref.example.org": "domain",
        "d41d8cd98f00b204e9800998ecf8427e": "md5",
        "evil.exe": "filename",
        "203.0.113.3": "ipv4",
        "203.0.113.4": "ipv4",
        "203.0.113.5": "ipv4",
        "198.51.100.0/24": "cidr",
    }
    assert [s.kind for s in skipped(items)] == ["stix1:condition:Contains"]


def test_indicator_context_and_markings() -> None:
    items = parse_bytes(PACKAGE.encode(), "stix1")
    digest = by_value(items, "d41d8cd98f00b204e9800998ecf8427e")
    assert digest.location == "indicator example:Indicator-1"
    assert digest.ref == "example:Indicator-1"
    assert digest.version == datetime(2014, 5, 8, 9, tzinfo=UTC)
    assert digest.context == {"title": "Composite", "filename": "evil.exe"}
    assert digest.tlp is TLP.AMBER
    assert by_value(items, "203.0.113.3").context["port"] == 8443
    network = by_value(items, "198.51.100.0/24")
    assert network.location == "observable example:Observable-free"
    assert network.tlp is TLP.GREEN


def test_referenced_observable_read_once() -> None:
    items = parse_bytes(PACKAGE.encode(), "stix1")
    found = [obs for obs in observations(items) if obs.value == "ref.example.org"]
    assert [obs.location for obs in found] == ["indicator example:Indicator-1"]


def test_malformed_xml_position() -> None:
    with pytest.raises(IngestError) as caught:
        parse_bytes(b"<stix:STIX_Package>\n<a></b>", "stix1", "bad.xml")
    assert "bad.xml" in str(caught.value)
    assert caught.value.position is not None


def test_corpus_tlp_idiom(corpus_dir: Path) -> None:
    path = corpus_dir / "stix1" / "oasis_idioms" / "141-TLP-marking-structures.xml"
    items = parse_path(path)
    assert by_value(items, "http://x4z9arb.cn/4712").tlp is TLP.CLEAR
    assert by_value(items, "10.0.0.0").tlp is TLP.GREEN


def test_corpus_talos_json(corpus_dir: Path) -> None:
    path = corpus_dir / "stix1" / "talos_json" / "2022_05_mustang-panda.json"
    items = parse_path(path)
    obs = by_value(items, "101.36.125.203")
    assert obs.type == "ipv4"
    assert (
        obs.location == "indicator Talos:Indicator-4c59c29b-0c42-4915-ab1b-cff765db6e26"
    )
    assert obs.confidence == 85


def test_corpus_list_as_string(corpus_dir: Path) -> None:
    items = parse_path(corpus_dir / "stix1" / "oasis_idioms" / "list-as-string.xml")
    assert len(observations(items)) == 3
