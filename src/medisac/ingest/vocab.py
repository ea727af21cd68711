"""Type names that sources write, mapped to the declared types parsers emit.

Parsers declare a type from this vocabulary, or None to let the normaliser
detect it:

    ipv4 ipv6 cidr domain url email md5 sha1 sha256 sha512 filename
    filename|md5 filename|sha1 filename|sha256 filename|sha512
    domain|ip ip|port domain|port ip:port domain:port

A host type ("hostname") is declared ``domain`` unless the value looks like
an address. A generic IP type ("ip", MISP ``ip-dst``) is declared ``ip`` for a plain
address, and None when the value carries a ``/`` prefix length or a port, so
that the normaliser types it cidr, ipv4 or ipv6 from its content. That keeps
an IPv4 network from ever reaching the IPv6 rules.
"""

from __future__ import annotations

import re

from medisac.errors import NormalizationError
from medisac.model import IndicatorType
from medisac.normalize import clean, detect_type

IP = "ip"
# A host field may hold a name or an address.
HOST = "host"
_HASH = None

# Keys are lower case with spaces, hyphens, underscores, dots and colons
# removed, so "SHA-256", "sha_256" and "FileHash-SHA256" all match.
_TYPE_NAMES: dict[str, str | None] = {
    # addresses and networks
    "ip": IP,
    "ipaddress": IP,
    "ipaddr": IP,
    "ipdst": IP,
    "ipsrc": IP,
    "dstip": IP,
    "srcip": IP,
    "destip": IP,
    "remoteip": IP,
    "ipv4": "ipv4",
    "ipv4addr": "ipv4",
    "ipv4address": "ipv4",
    "ipv6": "ipv6",
    "ipv6addr": "ipv6",
    "ipv6address": "ipv6",
    "cidr": "cidr",
    "ipv4cidr": "cidr",
    "ipv6cidr": "cidr",
    "netblock": "cidr",
    "subnet": "cidr",
    "ipnetwork": "cidr",
    "iprange": "cidr",
    # names
    "domain": "domain",
    "domains": "domain",
    "domainname": "domain",
    "hostname": HOST,
    "host": HOST,
    "fqdn": "domain",
    "onion": "domain",
    "dns": HOST,
    # URLs
    "url": "url",
    "urls": "url",
    "uri": "url",
    "urlpath": "url",
    "fullurl": "url",
    "downloadurl": "url",
    # e-mail addresses
    "email": "email",
    "emailaddress": "email",
    "emailaddr": "email",
    "emailsrc": "email",
    "emaildst": "email",
    "emailsender": "email",
    "sender": "email",
    "senderemail": "email",
    # hashes
    "md5": "md5",
    "md5hash": "md5",
    "filehashmd5": "md5",
    "hashmd5": "md5",
    "sha1": "sha1",
    "sha1hash": "sha1",
    "filehashsha1": "sha1",
    "hashsha1": "sha1",
    "sha256": "sha256",
    "sha256hash": "sha256",
    "filehashsha256": "sha256",
    "hashsha256": "sha256",
    "sha512": "sha512",
    "sha512hash": "sha512",
    "filehashsha512": "sha512",
    "hashsha512": "sha512",
    "hash": _HASH,
    "filehash": _HASH,
    "hashes": _HASH,
    # file names and paths
    "filename": "filename",
    "file": "filename",
    "filepath": "filename",
    "filepathname": "filename",
    "droppedfilename": "filename",
    # composites
    "filename|md5": "filename|md5",
    "filename|sha1": "filename|sha1",
    "filename|sha256": "filename|sha256",
    "filename|sha512": "filename|sha512",
    "domain|ip": "domain|ip",
    "ip|port": "ip|port",
    "ipdst|port": "ip|port",
    "ipsrc|port": "ip|port",
    "domain|port": "domain|port",
    "hostname|port": "domain|port",
    "ipport": "ip:port",
    "ipv4port": "ip:port",
    "socket": "ip:port",
    "domainport": "domain:port",
    "hostnameport": "domain:port",
}

_KEY_NOISE = re.compile(r"[\s_.:\-]+")


def type_key(name: str) -> str:
    """Return the lookup key of a type name: lower case, separators removed."""
    return _KEY_NOISE.sub("", name.strip().lower())


def known_type(name: str) -> bool:
    """Tell whether ``name`` is a type name this vocabulary maps."""
    return type_key(name) in _TYPE_NAMES


def declared_type(name: str, value: str) -> str | None:
    """Return the declared type for a value the source typed as ``name``.

    Raises ``KeyError`` for a name outside the vocabulary, so the caller can
    skip the value under that name.
    """
    declared = _TYPE_NAMES[type_key(name)]
    if declared == IP:
        return ip_declared(value)
    if declared == HOST:
        return host_declared(value)
    return declared


def ip_declared(value: str) -> str | None:
    """Return ``ip`` for a bare address, or None to let content decide.

    None covers a network (``/24``), an address with a port and anything
    else that is not a bare address, so the normaliser types it from its
    content rather than forcing it through the IPv4 or IPv6 rules.
    """
    if "/" in value or ("." in value and ":" in value) or "[" in value:
        return None
    return IP


_ADDRESS_TYPES = frozenset({IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR})


def host_declared(value: str) -> str | None:
    """Return ``domain`` for a host name, or None when it looks like an address."""
    try:
        detected = detect_type(clean(value))
    except NormalizationError:
        return "domain"
    return None if detected in _ADDRESS_TYPES else "domain"


_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)


def cve_ids_in(text: str) -> list[str]:
    """Return the CVE ids written in ``text``, upper case, in order."""
    return [cve.upper() for cve in _CVE.findall(text)]
