"""OpenIOC 1.0 and 1.1 documents, read through defusedxml.

Each ``IndicatorItem`` whose ``Context/@search`` names a network or file
term (``FileItem/Md5sum``, ``Network/DNS``, ``PortItem/remoteIP``,
``Email/From``...) gives an observation of the mapped type. An item with
``condition="is"`` (or ``equals``) gives its content as written. A partial
match (``contains``, ``starts-with``...) gives a value only when the content
is a whole indicator by shape, as in feeds that write ``contains`` for a
domain. Negated items, other search terms and other partial matches are
skipped, counted by search term.

The IOC's short description and id go into the context. ``ref`` is the
item id and ``version`` the IOC's ``last-modified`` time, read as UTC when it
has no offset. Location is ``indicator item <id>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

from medisac.ingest.document import Document
from medisac.ingest.options import ParseOptions
from medisac.ingest.plain import looks_like_indicator
from medisac.ingest.times import parse_time
from medisac.ingest.vocab import host_declared, ip_declared
from medisac.ingest.xmlload import attribute, load_xml, local_name
from medisac.model import Observation, ParseItem, Rejection, Skipped

_URL = "url-or-host"
_HOST = "host"
_IP = "ip"

# Search terms, in lower case, and the declared types they give.
SEARCH_TYPES: dict[str, str] = {
    "fileitem/md5sum": "md5",
    "fileitem/sha1sum": "sha1",
    "fileitem/sha256sum": "sha256",
    "fileitem/filename": "filename",
    "fileitem/fullpath": "filename",
    "processitem/md5sum": "md5",
    "processitem/sha1sum": "sha1",
    "processitem/sha256sum": "sha256",
    "driveritem/md5sum": "md5",
    "driveritem/sha1sum": "sha1",
    "driveritem/sha256sum": "sha256",
    "filewriteevent/md5": "md5",
    "filewriteevent/sha1": "sha1",
    "filewriteevent/sha256": "sha256",
    "processevent/md5": "md5",
    "processevent/sha1": "sha1",
    "processevent/sha256": "sha256",
    "imageloadevent/md5": "md5",
    "network/dns": _HOST,
    "network/hostname": _HOST,
    "network/uri": _URL,
    "network/url": _URL,
    "urlhistoryitem/url": _URL,
    "urlhistoryitem/hostname": _HOST,
    "urlmonitorevent/requesturl": _URL,
    "urlmonitorevent/hostname": _HOST,
    "dnslookupevent/hostname": _HOST,
    "dnsentryitem/host": _HOST,
    "dnsentryitem/recordname": _HOST,
    "dnsentryitem/recorddata/host": _HOST,
    "dnsentryitem/recorddata/ipv4address": _IP,
    "portitem/remoteip": _IP,
    "processitem/portlist/portitem/remoteip": _IP,
    "ipv4networkevent/remoteip": _IP,
    "network/ip": _IP,
    "routeentryitem/destination": _IP,
    "email/from": "email",
    "email/replyto": "email",
    "email/sender": "email",
    "email/senderaddress": "email",
}

_EXACT = frozenset({"is", "equals", "equal"})
_PARTIAL = frozenset({"contains", "starts-with", "startswith", "ends-with", "endswith"})


def parse_openioc(document: Document, options: ParseOptions) -> Iterator[ParseItem]:
    """Yield observations from an OpenIOC document; see the module docstring.

    Raises :class:`IngestError` when the document is not well-formed XML or
    uses a DTD or entities.
    """
    root = load_xml(document)
    ioc_id = attribute(root, "id")
    version = _modified(root)
    context: dict[str, Any] = {}
    if ioc_id:
        context["ioc_id"] = ioc_id
    name = _first_text(root, ("short_description",))
    if name:
        context["ioc_name"] = name
    for number, item in enumerate(_items(root), start=1):
        yield from _read_item(item, number, context, version)


def _items(root: Element) -> Iterator[Element]:
    for element in root.iter():
        if isinstance(element.tag, str) and local_name(element.tag) == "IndicatorItem":
            yield element


def _read_item(
    item: Element, number: int, context: dict[str, Any], version: datetime | None
) -> Iterator[ParseItem]:
    item_id = attribute(item, "id")
    location = f"indicator item {item_id or '#' + str(number)}"
    search_element = _child(item, "Context")
    search = attribute(search_element, "search") if search_element is not None else None
    if not search:
        yield Rejection(location, "indicator item has no Context search term")
        return
    kind = SEARCH_TYPES.get(search.lower())
    if kind is None:
        yield Skipped(f"openioc:{search}", location, "search term gives no indicator")
        return

    content = _text(_child(item, "Content"))
    if not content:
        yield Rejection(location, f"{search} item has no content")
        return
    if (attribute(item, "negate") or "false").lower() == "true":
        yield Skipped(f"openioc:{search}:negated", location, "negated item")
        return
    condition = (attribute(item, "condition") or "is").lower()
    partial_whole = condition in _PARTIAL and looks_like_indicator(content)
    if not (condition in _EXACT or partial_whole):
        reason = f"condition {condition!r} is a partial match"
        yield Skipped(f"openioc:{search}:{condition}", location, reason)
        return

    yield Observation(
        content,
        location,
        _declared(kind, content),
        context=dict(context),
        ref=item_id,
        version=version,
    )


def _text(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _declared(kind: str, content: str) -> str | None:
    if kind == _IP:
        return ip_declared(content)
    if kind == _HOST:
        return host_declared(content)
    if kind == _URL:
        # Feeds put bare host names under Network/URI as often as URLs.
        return "url" if "/" in content else host_declared(content)
    return kind


def _child(element: Element, name: str) -> Element | None:
    for child in element:
        if isinstance(child.tag, str) and local_name(child.tag) == name:
            return child
    return None


def _first_text(root: Element, names: tuple[str, ...]) -> str | None:
    for element in root.iter():
        if isinstance(element.tag, str) and local_name(element.tag) in names:
            text = (element.text or "").strip()
            if text:
                return text
    return None


def _modified(root: Element) -> datetime | None:
    text = attribute(root, "last-modified")
    return parse_time(text) if text else None
