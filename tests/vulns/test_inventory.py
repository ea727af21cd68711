"""Inventories from CSV, CPE names and CycloneDX SBOMs, and name reconciliation."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from medisac.vulns.cpe import CpeError, parse_cpe
from medisac.vulns.inventory import InventoryError, read_inventory
from medisac.vulns.names import normalise, product_key, vendor_key


def test_csv_inventory() -> None:
    text = (
        "Manufacturer,Model,Firmware Version,Device\n"
        '"Becton, Dickinson and Company",Alaris PCU,12.1.3,yes\n'
        ",Orphan,1.0,\n"
        "\n"
        "Epic,Hyperspace,,no\n"
    )
    read = read_inventory("assets.csv", text.encode())
    assert read.kind == "csv"
    assert [(i.vendor, i.product, i.version, i.device) for i in read.items] == [
        ("Becton, Dickinson and Company", "Alaris PCU", "12.1.3", True),
        ("Epic", "Hyperspace", "", False),
    ]
    assert read.rejected == [("line 3", "column vendor is empty")]


def test_csv_without_columns() -> None:
    with pytest.raises(InventoryError, match="vendor and product"):
        read_inventory("assets.csv", b"host,ip\npump-1,192.0.2.1\n")


def test_cpe_list_inventory() -> None:
    text = (
        "# assets\n"
        "cpe:2.3:h:example_medical:infusionpump_x:2.1.0:*:*:*:*:*:*:*\n"
        "cpe:2.3:a:example:file\\:server:1.0:*:*:*:*:*:*:*\n"
        "cpe:2.3:a:broken\n"
    )
    read = read_inventory("cpes.txt", text.encode())
    assert read.kind == "cpe"
    assert [(i.vendor, i.product, i.version) for i in read.items] == [
        ("example medical", "infusionpump x", "2.1.0"),
        ("example", "file:server", "1.0"),
    ]
    assert read.rejected[0][0] == "line 4"


def test_cyclonedx_inventory() -> None:
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": [
            {
                "type": "device",
                "bom-ref": "pump",
                "name": "InfusionPump X",
                "version": "2.5.0",
                "manufacturer": {"name": "Example Medical"},
                "components": [
                    {
                        "type": "library",
                        "bom-ref": "ssl",
                        "name": "openssl",
                        "version": "3.0.7",
                        "purl": "pkg:generic/openssl/openssl@3.0.7",
                    }
                ],
            },
            {
                "type": "application",
                "bom-ref": "viewer",
                "name": "DICOM Viewer",
                "version": "2024.1",
                "cpe": "cpe:2.3:a:microdicom:dicom_viewer:2024.1:*:*:*:*:*:*:*",
                "supplier": {"name": "MicroDicom"},
            },
        ],
    }
    read = read_inventory("sbom.json", json.dumps(bom).encode())
    assert read.kind == "cyclonedx"
    assert read.rejected == []
    found = {(i.vendor, i.product, i.version) for i in read.items}
    assert found == {
        ("Example Medical", "InfusionPump X", "2.5.0"),
        ("openssl", "openssl", "3.0.7"),
        ("MicroDicom", "DICOM Viewer", "2024.1"),
    }
    purls = {i.product: i.purl for i in read.items}
    assert purls["openssl"] == "pkg:generic/openssl/openssl@3.0.7"


def test_json_that_is_no_sbom() -> None:
    with pytest.raises(InventoryError, match="CycloneDX"):
        read_inventory("x.json", b'{"items": []}')


def test_nameless_component_named_by_path() -> None:
    bom = (
        b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": ['
        b'{"type": "application", "name": "pacs", "version": "1",'
        b' "components": [{"type": "library", "version": "2"}]}]}'
    )
    with pytest.raises(InventoryError) as raised:
        read_inventory("sbom.json", bom)
    message = str(raised.value)
    assert "components[0].components[0] has no 'name'" in message
    assert "__init__" not in message


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Becton, Dickinson and Company (BD)", "BD"),
        ("Becton Dickinson", "becton_dickinson"),
        ("B. Braun Melsungen AG", "B. Braun"),
        ("Phillips", "Philips"),
        ("Dräger", "Draeger"),
        ("Medtronic ", "MEDTRONIC"),
        ("General Electric (GE)", "GE Healthcare"),
        ("Example Medical, Inc.", "example_medical"),
    ],
)
def test_vendor_spellings_match(left: str, right: str) -> None:
    assert vendor_key(left) == vendor_key(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (("InfusionPump X", "Example Medical"), ("Infusion Pump X", "Example Medical")),
        (("infusionpump_x", "example_medical"), ("InfusionPump X", "Example Medical")),
        (
            ("BD Totalys MultiProcessor", "BD"),
            ("Totalys MultiProcessor", "Becton Dickinson"),
        ),
        (("Connex Spot Monitor (CSM)", "Baxter"), ("Connex Spot Monitor", "Baxter")),
    ],
)
def test_product_spellings_match(left: tuple[str, str], right: tuple[str, str]) -> None:
    assert product_key(*left) == product_key(*right)


def test_different_vendors_differ() -> None:
    assert vendor_key("Siemens") != vendor_key("Siemens Healthineers")
    assert product_key("Gemini", "GE") == "gemini"


names = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), max_size=30
)


@given(names)
def test_normalise_idempotent(name: str) -> None:
    once = normalise(name)
    assert normalise(once) == once
    assert once == once.strip()
    assert "  " not in once


@given(names)
@example("0(0)")
def test_keys_ignore_case_and_punctuation(name: str) -> None:
    if name.isascii():
        assert vendor_key(name.upper()) == vendor_key(name.lower())
    assert product_key(f"{name}.") == product_key(name)
    assert product_key(name.replace(" ", "_")) == product_key(name)


value_chars = st.text(
    alphabet=st.characters(codec="ascii", min_codepoint=33, max_codepoint=126),
    min_size=1,
    max_size=12,
).filter(lambda text: text not in ("*", "-"))


def _escape(text: str) -> str:
    return "".join(f"\\{c}" if not (c.isalnum() or c == "_") else c for c in text)


@given(value_chars, value_chars, value_chars)
def test_cpe_escaping_round_trip(vendor: str, product: str, version: str) -> None:
    values = ":".join(_escape(text) for text in (vendor, product, version))
    name = f"cpe:2.3:a:{values}:*:*:*:*:*:*:*"
    cpe = parse_cpe(name)
    assert cpe.vendor == vendor.lower()
    assert cpe.product == product.lower()
    assert cpe.version == version


@pytest.mark.parametrize(
    "text",
    [
        "cpe:2.3:a:vendor",
        "cpe:2.3:x:v:p:1:*:*:*:*:*:*:*",
        "cpe:2.3:a:*:p:1:*:*:*:*:*:*:*",
        "pkg:pypi/x",
        "cpe:2.3:a:v:p:1\\",
    ],
)
def test_invalid_cpe(text: str) -> None:
    with pytest.raises(CpeError):
        parse_cpe(text)


def test_cpe_uri_binding() -> None:
    cpe = parse_cpe("cpe:/a:microdicom:dicom_viewer:2023.3")
    assert (cpe.vendor, cpe.product, cpe.version) == (
        "microdicom",
        "dicom_viewer",
        "2023.3",
    )


def test_deeply_nested_json_rejected() -> None:
    text = '{"bomFormat": "CycloneDX", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(InventoryError, match="nests objects or lists too deeply"):
        read_inventory("sbom.json", text.encode())
