"""STIX 1.x packages: XML through defusedxml, or python-stix's JSON form.

The XML is converted to nested dicts keyed by lower-case local names (see
:func:`medisac.ingest.xmlload.to_dict`), which is the shape python-stix
writes as JSON, so one walker reads both. Namespace prefixes are ignored.

- Every indicator, including one nested in an incident or a related
  package, gives its observables: inline, by ``idref`` and through
  observable compositions. Observables outside indicators give values too.
- CybOX objects read: Address (ipv4-addr, ipv6-addr, networks, e-mail),
  DomainName, Hostname, URI, File (hashes and file name), EmailMessage
  (sender), SocketAddress and NetworkConnection (destination). Other
  objects are skipped by their ``xsi:type``.
- A value with ``condition`` other than ``Equals`` is skipped; a list joined
  by ``##comma##`` with ``apply_condition="ANY"`` gives one value per item.
- TLP comes from marking structures with a ``color`` (TLP 1.0: WHITE is
  CLEAR): the indicator's own, or else the package's.
- The indicator's title goes into the context and its confidence
  (High/Medium/Low) is mapped to 85/50/15. ``ref`` is its id and
  ``version`` its timestamp, read as UTC when it has no offset.

Location is ``indicator <id>`` or ``observable <id>``.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

from medisac.ingest.cybox import object_values, text_of
from medisac.ingest.document import Document
from medisac.ingest.jsonload import load_json
from medisac.ingest.options import ParseOptions
from medisac.ingest.times import parse_time
from medisac.ingest.xmlload import load_xml, to_dict
from medisac.model import TLP, Observation, ParseItem, Skipped

_CONFIDENCE = {"high": 85, "medium": 50, "low": 15, "none": 0}
_OBSERVABLE_KEYS = ("observable", "observables")


def parse_stix1(document: Document, options: ParseOptions) -> Iterator[ParseItem]:
    """Yield observations from a STIX 1.x package; see the module docstring.

    Raises :class:`IngestError` when the document is not well-formed XML or
    JSON, or uses a DTD or entities.
    """
    head = document.read_head(64).removeprefix(codecs.BOM_UTF8).lstrip()
    if head.startswith(b"{"):
        package = load_json(document)
    else:
        package = to_dict(load_xml(document))
    yield from Package(package).read()


class Package:
    """One STIX 1 package as nested dicts, with its observables by id."""

    def __init__(self, package: Any) -> None:
        self.package = package
        self.observables: dict[str, dict[str, Any]] = {}
        self.emitted: set[str] = set()
        header = package.get("stix_header") if isinstance(package, dict) else None
        self.tlp = marking_tlp(
            header.get("handling") if isinstance(header, dict) else None
        )
        for _, node in walk(package):
            ident = node.get("id")
            if isinstance(ident, str) and any(key in node for key in _OBSERVABLE_PARTS):
                self.observables.setdefault(ident, node)

    def read(self) -> Iterator[ParseItem]:
        """Yield the values of all indicators, then of observables outside them."""
        indicators = [
            node for key, node in walk(self.package) if _is_indicator(key, node)
        ]
        for number, indicator in enumerate(indicators, start=1):
            yield from self._indicator(indicator, number)
        number = 0
        for key, node in walk(self.package, skip=_is_indicator):
            if key in _OBSERVABLE_KEYS and "object" in node:
                number += 1
                ident = node.get("id")
                if isinstance(ident, str) and ident in self.emitted:
                    continue
                location = f"observable {ident}" if ident else f"observable #{number}"
                yield from self._values(node, location, self._common(None, self.tlp))

    def _indicator(self, indicator: dict[str, Any], number: int) -> Iterator[ParseItem]:
        ident = indicator.get("id")
        location = (
            f"indicator {ident}" if isinstance(ident, str) else f"indicator #{number}"
        )
        tlp = marking_tlp(indicator.get("handling"))
        if tlp is None:
            tlp = self.tlp
        common = self._common(indicator, tlp)
        for observable in self._observables_of(indicator):
            yield from self._values(observable, location, common)

    def _observables_of(self, indicator: dict[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for key in _OBSERVABLE_KEYS:
            for node in _as_list(indicator.get(key)):
                found.extend(self._resolve(node, depth=0))
        return found

    def _resolve(self, node: Any, depth: int) -> list[dict[str, Any]]:
        """Return the observables with objects that ``node`` stands for."""
        if not isinstance(node, dict) or depth > 32:
            return []
        ref = node.get("idref")
        if isinstance(ref, str) and "object" not in node:
            target = self.observables.get(ref)
            return self._resolve(target, depth + 1) if target is not node else []
        composition = node.get("observable_composition")
        if isinstance(composition, dict):
            members: list[dict[str, Any]] = []
            for key in _OBSERVABLE_KEYS:
                for member in _as_list(composition.get(key)):
                    members.extend(self._resolve(member, depth + 1))
            return members
        return [node] if "object" in node else []

    def _common(
        self, indicator: dict[str, Any] | None, tlp: TLP | None
    ) -> dict[str, Any]:
        if indicator is None:
            return {
                "ref": None,
                "version": None,
                "tlp": tlp,
                "confidence": None,
                "context": {},
            }
        title = text_of(indicator.get("title"))
        stamp = indicator.get("timestamp")
        confidence = text_of(indicator.get("confidence"))
        ident = indicator.get("id")
        return {
            "ref": ident if isinstance(ident, str) else None,
            "version": parse_time(stamp) if isinstance(stamp, str) else None,
            "tlp": tlp,
            "confidence": _CONFIDENCE.get((confidence or "").lower()),
            "context": {"title": title} if title else {},
        }

    def _values(
        self, observable: dict[str, Any], location: str, common: dict[str, Any]
    ) -> Iterator[ParseItem]:
        ident = observable.get("id")
        if isinstance(ident, str):
            self.emitted.add(ident)
        cybox_object = observable.get("object")
        properties = (
            cybox_object.get("properties") if isinstance(cybox_object, dict) else None
        )
        if not isinstance(properties, dict):
            yield Skipped(
                "stix1:object", location, "observable object has no properties"
            )
            return
        values, skipped = object_values(properties)
        for kind in skipped:
            yield Skipped(kind, location, "CybOX object gives no indicator")
        for value, declared, context in values:
            yield Observation(
                value,
                location,
                declared,
                confidence=common["confidence"],
                tlp=common["tlp"],
                context={**common["context"], **context},
                ref=common["ref"],
                version=common["version"],
            )


_OBSERVABLE_PARTS = ("object", "observable_composition")


def _is_indicator(key: str, node: dict[str, Any]) -> bool:
    return key in ("indicator", "indicators") and any(
        part in node for part in (*_OBSERVABLE_KEYS, "composite_indicator_expression")
    )


def walk(
    node: Any, key: str = "", skip: Any = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(key, dict)`` for every dict in a tree, depth first.

    A list's items get the list's key. ``skip(key, node)`` true stops the
    walk from entering that dict.
    """
    stack: list[tuple[str, Any]] = [(key, node)]
    while stack:
        name, current = stack.pop()
        if isinstance(current, dict):
            if skip is not None and skip(name, current):
                continue
            yield name, current
            for child_key, child in reversed(list(current.items())):
                stack.append((child_key, child))
        elif isinstance(current, list):
            for child in reversed(current):
                stack.append((name, child))


def marking_tlp(handling: Any) -> TLP | None:
    """Return the most restrictive TLP colour in a ``Handling`` tree, if any."""
    levels: list[TLP] = []
    for _, node in walk(handling):
        color = node.get("color")
        if isinstance(color, str):
            try:
                levels.append(TLP.parse(color))
            except ValueError:
                continue
    return max(levels) if levels else None


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]
