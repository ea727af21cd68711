"""Values of CybOX 2 objects, as nested dicts from STIX 1 XML or JSON.

A field is either text or ``{"value": text, "condition": ...}``. Only
``Equals`` (or no condition) is an exact value. A ``##comma##``-joined list
with ``apply_condition="ANY"`` is one value per item.
"""

from __future__ import annotations

from typing import Any

from medisac.ingest.vocab import host_declared

Value = tuple[str, str | None, dict[str, Any]]

_LIST_DELIMITER = "##comma##"
_ADDRESS_CATEGORIES = {
    None: None,
    "ipv4-addr": "ipv4",
    "ipv6-addr": "ipv6",
    "ipv4-net": "cidr",
    "ipv6-net": "cidr",
    "cidr": "cidr",
    "e-mail": "email",
}
_HASH_NAMES = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}


class _Values:
    """Values and skipped kinds collected from one object."""

    def __init__(self) -> None:
        self.values: list[Value] = []
        self.skipped: list[str] = []

    def add(
        self, field: Any, declared: str | None, context: dict[str, Any] | None = None
    ) -> None:
        texts, condition = field_values(field)
        if condition is not None:
            self.skipped.append(f"stix1:condition:{condition}")
            return
        for text in texts:
            kind = _declared(declared, text)
            self.values.append((text, kind, dict(context or {})))


def object_values(properties: dict[str, Any]) -> tuple[list[Value], list[str]]:
    """Return ``(value, declared type, context)`` triples and skipped kinds."""
    kind = str(properties.get("xsi:type", "")).rpartition(":")[2]
    found = _Values()
    reader = _READERS.get(kind)
    if reader is None:
        found.skipped.append(f"stix1:{kind or 'untyped object'}")
    else:
        reader(properties, found)
    return found.values, found.skipped


def text_of(field: Any) -> str | None:
    """Return the text of a field, unwrapping ``{"value": ...}`` nesting."""
    for _ in range(4):
        if isinstance(field, dict):
            field = field.get("value")
    if isinstance(field, str):
        return field.strip() or None
    if isinstance(field, int | float) and not isinstance(field, bool):
        return str(field)
    return None


def field_values(field: Any) -> tuple[list[str], str | None]:
    """Return a field's values, and its condition when it is not exact."""
    text = text_of(field)
    if text is None:
        return [], None
    condition = field.get("condition") if isinstance(field, dict) else None
    if condition not in (None, "Equals"):
        return [], str(condition)
    if _LIST_DELIMITER in text:
        return [
            part.strip() for part in text.split(_LIST_DELIMITER) if part.strip()
        ], None
    return [text], None


def _declared(declared: str | None, text: str) -> str | None:
    if declared in ("ipv4", "ipv6") and "/" in text:
        return "cidr"
    if declared == "host":
        return host_declared(text)
    if declared == "url-or-host":
        return "url" if "/" in text else host_declared(text)
    return declared


def _address(properties: dict[str, Any], found: _Values) -> None:
    category = properties.get("category")
    if category not in _ADDRESS_CATEGORIES:
        found.skipped.append(f"stix1:address:{category}")
        return
    found.add(properties.get("address_value"), _ADDRESS_CATEGORIES[category])


def _domain(properties: dict[str, Any], found: _Values) -> None:
    if properties.get("type") == "TLD":
        found.skipped.append("stix1:domain:TLD")
        return
    found.add(properties.get("value"), "domain")


def _hostname(properties: dict[str, Any], found: _Values) -> None:
    found.add(properties.get("hostname_value"), "host")


def _uri(properties: dict[str, Any], found: _Values) -> None:
    kind = properties.get("type", "URL")
    if kind == "Domain Name":
        found.add(properties.get("value"), "domain")
    elif kind == "URL":
        found.add(properties.get("value"), "url-or-host")
    else:
        found.skipped.append(f"stix1:uri:{kind}")


def _file(properties: dict[str, Any], found: _Values) -> None:
    names, _ = field_values(properties.get("file_name"))
    context = {"filename": names[0]} if len(names) == 1 else {}
    hashes = properties.get("hashes")
    if isinstance(hashes, dict):
        hashes = hashes.get("hash")
    for item in hashes if isinstance(hashes, list) else [hashes]:
        if not isinstance(item, dict):
            continue
        name = (text_of(item.get("type")) or "").upper().replace("-", "")
        if name in _HASH_NAMES:
            found.add(item.get("simple_hash_value"), _HASH_NAMES[name], context)
        elif name:
            found.skipped.append(f"stix1:hash:{name}")
    found.add(properties.get("file_name"), "filename")


def _email(properties: dict[str, Any], found: _Values) -> None:
    header = properties.get("header")
    if not isinstance(header, dict):
        return
    for name in ("from", "sender", "reply_to"):
        sender = header.get(name)
        if isinstance(sender, dict):
            found.add(sender.get("address_value"), "email")


def _socket(properties: dict[str, Any], found: _Values) -> None:
    port = (
        text_of(properties.get("port", {}).get("port_value"))
        if isinstance(properties.get("port"), dict)
        else None
    )
    context = {"port": int(port)} if port and port.isdigit() else {}
    address = properties.get("ip_address")
    if isinstance(address, dict):
        _address_with(address, found, context)
    hostname = properties.get("hostname")
    if isinstance(hostname, dict):
        found.add(hostname.get("hostname_value"), "host", context)


def _address_with(
    address: dict[str, Any], found: _Values, context: dict[str, Any]
) -> None:
    category = address.get("category")
    if category in _ADDRESS_CATEGORIES:
        found.add(address.get("address_value"), _ADDRESS_CATEGORIES[category], context)
    else:
        found.skipped.append(f"stix1:address:{category}")


def _connection(properties: dict[str, Any], found: _Values) -> None:
    destination = properties.get("destination_socket_address")
    if isinstance(destination, dict):
        _socket(destination, found)


_READERS = {
    "AddressObjectType": _address,
    "DomainNameObjectType": _domain,
    "HostnameObjectType": _hostname,
    "URIObjectType": _uri,
    "FileObjectType": _file,
    "WindowsFileObjectType": _file,
    "EmailMessageObjectType": _email,
    "SocketAddressObjectType": _socket,
    "NetworkConnectionObjectType": _connection,
}
