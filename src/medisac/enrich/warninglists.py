"""The MISP warning lists that mark a value as known-benign, and how each is read.

The lists come from the copy that the ``pymispwarninglists`` package ships;
nothing is fetched at run time. A warning list has a type (``string``,
``substring``, ``hostname``, ``cidr`` or ``regex``) and the MISP attribute
types it applies to (``matching_attributes``). medisac reads a selected set
of them, because a hit means the value is never published as malicious, and
many lists mark values that are worth blocking.

Chosen, because blocking the value breaks something members rely on or
blocks far more than one threat:

- public DNS resolvers (``public-dns-v4``, ``public-dns-v6``);
- content delivery networks whose addresses serve many unrelated sites
  (Cloudflare, Fastly, StackPath), service ranges of large mail, search and
  office providers, security proxies (Zscaler) and DNS block pages;
- the private, shared, multicast and link-local blocks (``rfc1918``,
  ``rfc6598``, ``multicast``, ``ipv6-linklocal``);
- popular sites (Tranco, Majestic and Cisco Umbrella top lists, Alexa, Moz),
  vendors' own names (Google, Microsoft, Office 365), captive-portal checks,
  "what is my IP" services, URL shorteners, sandboxes, security blogs,
  trusted sites that attackers abuse, IPFS gateways, banks and universities;
- top-level and second-level domains, which name whole registries;
- hashes of empty files, the EICAR test file, CA certificates and files that
  are known false positives.

Left out: general compute clouds (AWS, Azure, GCP, OVH, GitHub's runners,
Akamai's list, which contains Linode's compute ranges), because tenants
there run malware and command-and-control servers. In the 550,000-address
scale list of the test corpus these lists cover over 60,000 addresses. Also left
out: VPN exits, scanners, sinkholes and parking addresses (blocking them is
harmless and often wanted), dynamic DNS providers, disposable e-mail
domains, the million-site popularity lists, the resolvers' host-name list
(reverse names of home routers), and lists of phone numbers or application
ids. The documentation lists ``rfc3849`` and ``rfc6761`` are off by
default, and ``rfc5735``, which also holds the IPv4 documentation ranges,
is not read (:mod:`medisac.enrich.networks` lists the reserved ranges
instead). No real host uses documentation values, so blocking them harms
nobody, and examples use them as ordinary indicators.

Host names match exactly, and ``www.NAME`` matches an entry ``NAME``. A
hostname list is not read as "every name under the entry", because most
names under a popular site's domain belong to its customers: read that way,
``tranco10k`` alone would clear 6,068 of the 1.15 million malicious names in
the corpus's Maltrail trails, against 78 read exactly. Wildcard entries
(``.google.com``, ``*.x``) therefore match their base name only.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medisac.model import IndicatorType

log = logging.getLogger(__name__)

# Folder names under the package's lists/ directory, by what they hold.
NETWORK_LISTS: tuple[str, ...] = (
    "rfc1918",
    "rfc6598",
    "multicast",
    "ipv6-linklocal",
    "public-dns-v4",
    "public-dns-v6",
    "cloudflare",
    "fastly",
    "stackpath",
    "zscaler",
    "microsoft-office365-ip",
    "microsoft-office365-cn",
    "google-gmail-sending-ips",
    "googlebot",
    "smtp-receiving-ips",
    "smtp-sending-ips",
    "wikimedia",
    "umbrella-blockpage-v4",
    "umbrella-blockpage-v6",
    # IPv6 documentation range; see the module docstring.
    "rfc3849",
)
HOST_LISTS: tuple[str, ...] = (
    "tlds",
    "second-level-tlds",
    "captive-portals",
    "google",
    "microsoft",
    "microsoft-office365",
    "microsoft-win10-connection-endpoints",
    "whats-my-ip",
    "findip-host",
    "url-shortener",
    "automated-malware-analysis",
    "security-provider-blogpost",
    "lots-project",
    "public-ipfs-gateways",
    "moz-top500",
    "alexa",
    "tranco10k",
    "majestic_million",
    "cisco_top5k",
    "bank-website",
    "university_domains",
    # Special-use names such as example.com; see the module docstring.
    "rfc6761",
)
HASH_LISTS: tuple[str, ...] = (
    "empty-hashes",
    "eicar.com",
    "common-ioc-false-positive",
    "ti-falsepositives",
    "nioc-filehash",
    "mozilla-CA",
    "mozilla-IntermediateCA",
)
SELECTED_LISTS = NETWORK_LISTS + HOST_LISTS + HASH_LISTS

DISABLED_BY_DEFAULT = frozenset({"rfc3849", "rfc6761"})

# MISP attribute types (``matching_attributes``) -> medisac indicator types.
_ATTRIBUTE_KINDS: dict[str, tuple[IndicatorType, ...]] = {
    "ip-src": (IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR),
    "ip-dst": (IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR),
    "domain": (IndicatorType.DOMAIN,),
    "hostname": (IndicatorType.DOMAIN,),
    "url": (IndicatorType.URL,),
    "uri": (IndicatorType.URL,),
    "md5": (IndicatorType.MD5,),
    "sha1": (IndicatorType.SHA1,),
    "sha256": (IndicatorType.SHA256,),
    "sha512": (IndicatorType.SHA512,),
    "email-src": (IndicatorType.EMAIL,),
    "email-dst": (IndicatorType.EMAIL,),
}


@dataclass(slots=True)
class WarningList:
    """One MISP warning list as medisac reads it."""

    key: str
    name: str
    type: str
    kinds: frozenset[IndicatorType]
    entries: list[str] = field(repr=False)

    @property
    def label(self) -> str:
        """The name stored on a value the list matches."""
        return f"misp:{self.name}"


def lists_folder() -> Path:
    """Return the folder of warning lists that pymispwarninglists ships.

    The package itself is not imported, because its import loads optional
    modules that cost most of a second and are not needed here.
    """
    spec = importlib.util.find_spec("pymispwarninglists")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "pymispwarninglists is not installed; install it with "
            "`pip install pymispwarninglists`"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    return package / "data" / "misp-warninglists" / "lists"


@functools.cache
def read_list(key: str) -> WarningList:
    """Read one shipped warning list by its folder name, once per process.

    Raises FileNotFoundError when the installed pymispwarninglists has no
    list of that name.
    """
    path = lists_folder() / key / "list.json"
    data = json.loads(path.read_bytes())
    return parse_list(key, data)


def parse_list(key: str, data: dict[str, Any]) -> WarningList:
    """Build a :class:`WarningList` from the JSON of a MISP warning list."""
    kinds: set[IndicatorType] = set()
    for attribute in data.get("matching_attributes") or ():
        kinds.update(_ATTRIBUTE_KINDS.get(attribute, ()))
        # "filename|md5" and the like apply the list to the hash part.
        if attribute.startswith("filename|"):
            kinds.update(_ATTRIBUTE_KINDS.get(attribute.partition("|")[2], ()))
    if data["type"] == "cidr" and not kinds:
        kinds.update(_ATTRIBUTE_KINDS["ip-dst"])
    entries = [entry.strip() for entry in map(str, data["list"]) if entry.strip()]
    return WarningList(key, data["name"], data["type"], frozenset(kinds), entries)


def selected_lists(
    keys: tuple[str, ...], disabled: frozenset[str] = DISABLED_BY_DEFAULT
) -> list[WarningList]:
    """Read the lists named in ``keys``, without those in ``disabled``.

    A list missing from the installed package is logged and skipped, so an
    older pymispwarninglists still works with the lists it has.
    """
    found = []
    for key in keys:
        if key in disabled:
            continue
        try:
            found.append(read_list(key))
        except FileNotFoundError:
            log.warning(
                "warning list %r is missing from pymispwarninglists; "
                "upgrade the package to use it",
                key,
            )
    return found


def host_entry(entry: str) -> str:
    """Return a host-name entry in canonical form, without wildcard marks."""
    return entry.lower().lstrip("*").lstrip(".").rstrip(".")


def hash_entry(entry: str) -> str:
    """Return a hash entry as the lower-case digest that normalised hashes use."""
    return entry.lower()
