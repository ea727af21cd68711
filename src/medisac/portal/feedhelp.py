"""The exports a member can point a product at, with a short how-to for each."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from medisac.members.tiers import get_tier


@dataclass(frozen=True, slots=True)
class FeedLink:
    """One served export and the products it is meant for."""

    title: str
    fmt: str
    query: str
    products: str
    howto: str


LINKS = (
    FeedLink(
        "Firewall block list: IP addresses",
        "edl",
        "list=ip",
        "Palo Alto Networks, Fortinet FortiGate, Check Point, pfSense, OPNsense",
        "On Palo Alto Networks firewalls add an External Dynamic List of type IP "
        "List with this URL (put the organisation id and key in the list's "
        "user name and password fields if the firewall does not accept them in "
        "the URL), refresh it hourly and use it as the destination of a deny "
        "rule above your allow rules. On FortiGate create a Threat Feed of type "
        "IP Address and use it in a firewall policy; on pfSense or OPNsense "
        "create a URL Table alias with this address and block it.",
    ),
    FeedLink(
        "Firewall block list: domains",
        "edl",
        "list=domain",
        "Palo Alto Networks, FortiGate, Pi-hole, AdGuard Home",
        "On Palo Alto Networks add an External Dynamic List of type Domain List "
        "and reference it in an anti-spyware profile's DNS policy (sinkhole). On "
        "FortiGate use a Threat Feed of type Domain Name in the DNS filter. "
        "Pi-hole and AdGuard Home accept the URL as a block list (adlist) and "
        "update it with their list update.",
    ),
    FeedLink(
        "Firewall block list: URLs",
        "edl",
        "list=url",
        "Palo Alto Networks, FortiGate, web proxies",
        "On Palo Alto Networks add an External Dynamic List of type URL List and "
        "block it in a URL filtering profile. On FortiGate use a Threat Feed of "
        "type URL in the web filter. Squid reads it with a dstdom or url_regex "
        "ACL after a download by cron.",
    ),
    FeedLink(
        "DNS response policy zone (RPZ)",
        "rpz",
        "",
        "BIND 9, Unbound, PowerDNS Recursor, Infoblox",
        "Download the zone every hour (cron with curl, or the resolver's own "
        "RPZ transfer from a local copy) and load it as a response-policy "
        'zone: in BIND add it to response-policy { zone "rpz.medisac"; }; '
        "Unbound loads it with the rpz: module, PowerDNS Recursor with "
        "rpzFile(). Clients then get NXDOMAIN for listed names.",
    ),
    FeedLink(
        "Suricata rules",
        "suricata",
        "",
        "Suricata, Security Onion",
        "Add the URL as a source of suricata-update (suricata-update add-source "
        "medisac URL) and run suricata-update, then reload Suricata. The rules "
        "alert on traffic to listed addresses, domains and URLs.",
    ),
    FeedLink(
        "Zeek Intel file",
        "zeek",
        "",
        "Zeek, Corelight",
        "Download the file on a schedule into your Zeek site folder and list it "
        "in Intel::read_files; hits appear in intel.log and can feed your "
        "log collection.",
    ),
    FeedLink(
        "CSV",
        "csv",
        "",
        "Splunk, Elastic, Microsoft Sentinel, spreadsheets",
        "Import it as a lookup table (Splunk) or a threat indicator file "
        "(Sentinel's file upload, Elastic's threat intel filebeat module), and "
        "refresh it daily. The file is safe to open in a spreadsheet.",
    ),
    FeedLink(
        "STIX 2.1 bundle",
        "stix",
        "",
        "OpenCTI, MISP, other threat intelligence platforms",
        "Import the bundle in your platform, or better, connect it to the "
        "TAXII 2.1 server at /taxii2/ with the same key so that it polls only "
        "the changes.",
    ),
    FeedLink(
        "Plain list of values",
        "plain",
        "",
        "scripts, any tool that reads one value per line",
        "One value per line, every type mixed; add type=ipv4 or type=domain to "
        "the URL to get one type only.",
    ),
)


def allowed_links(tier_name: str) -> list[FeedLink]:
    """Return the links the organisation's tier may fetch."""
    tier = get_tier(tier_name)
    return [link for link in LINKS if tier.allows_export(link.fmt)]


def feed_url(base_url: str, link: FeedLink, org_id: str, key: str | None) -> str:
    """Return the export's URL with the credentials in it.

    Without ``key`` the URL shows ``KEY`` where the key goes.
    """
    parts = urlsplit(base_url)
    netloc = f"{org_id}:{key or 'KEY'}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, f"/feeds/{link.fmt}", link.query, ""))
