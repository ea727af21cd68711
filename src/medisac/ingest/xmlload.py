"""Reading XML through defusedxml, and helpers for namespaced element trees.

Entity expansion, external entities and DTDs are refused by defusedxml, so
an XML bomb or an entity that reads local files fails as an invalid input.
Elements are matched by local name, because producers bind the same
namespace to different prefixes and versions.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from medisac.errors import IngestError
from medisac.ingest.document import Document


def load_xml(document: Document) -> Element:
    """Return the root element of ``document``.

    Raises :class:`IngestError` with the line and column of a syntax error,
    or naming the forbidden construct (DTD, entity) defusedxml rejected.
    """
    with document.open() as stream:
        try:
            tree = SafeElementTree.parse(stream, forbid_dtd=True)
        except ParseError as exc:
            line, column = exc.position
            raise IngestError(
                document.origin,
                f"invalid XML: {exc}",
                f"line {line}, column {column + 1}",
            ) from exc
        except DefusedXmlException as exc:
            raise IngestError(
                document.origin,
                f"XML uses a construct that is not read for safety ({exc}); "
                "remove the DTD or entity declarations",
            ) from exc
    root: Element = tree.getroot()
    return root


def local_name(tag: str) -> str:
    """Return a tag or attribute name without its ``{namespace}``."""
    return tag.rpartition("}")[2]


def attribute(element: Element, name: str) -> str | None:
    """Return the attribute with local name ``name``, in any namespace."""
    value = element.get(name)
    if value is not None:
        return value
    for key, found in element.attrib.items():
        if local_name(key) == name:
            return found
    return None


def to_dict(element: Element) -> dict[str, Any]:
    """Convert an element to nested dicts keyed by lower-case local names.

    Attributes become keys (``xsi:type`` keeps that name, with the value's
    prefix removed). Text becomes the ``value`` key. A child that occurs
    more than once becomes a list. The shape matches what python-stix writes
    when it serialises STIX 1 as JSON, so one walker reads both.
    """
    node: dict[str, Any] = {}
    for key, found in element.attrib.items():
        name = local_name(key)
        if name == "type" and key.startswith(
            "{http://www.w3.org/2001/XMLSchema-instance}"
        ):
            node["xsi:type"] = found.rpartition(":")[2]
        else:
            node[name.lower()] = found
    text = (element.text or "").strip()
    if text:
        node["value"] = text
    for child in element:
        if not isinstance(child.tag, str):
            continue
        key = local_name(child.tag).lower()
        converted = to_dict(child)
        if key not in node:
            node[key] = converted
        elif isinstance(node[key], list):
            node[key].append(converted)
        else:
            node[key] = [node[key], converted]
    return node
