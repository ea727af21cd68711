"""The starter kit: a few ready files for a member without a security team.

A small clinic's firewall can block a list of addresses and its DNS server
can load a zone, but its staff have no time to pick formats and filters.
:func:`write_kit` writes the highest-confidence addresses and domains in the
forms those devices read, with a plain-language README that explains what each
file is, where it goes and how often to fetch it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Connection

from medisac.export.edl import write_edl
from medisac.export.files import replaced_file
from medisac.export.rpz import write_rpz
from medisac.export.select import ExportFilter
from medisac.model import IndicatorType

log = logging.getLogger(__name__)

IP_FILE = "block-ip-addresses.txt"
DOMAIN_FILE = "block-domains.txt"
ZONE_FILE = "dns-block.rpz"
README_FILE = "README.txt"

# Entries per list. Firewall vendors cap external lists by model.
# NOTE: 5,000 is an estimate of a size that small models accept; the limits
# of single models were not checked.
DEFAULT_TOP = 5_000
# The kit is for members who cannot review what they block, so it leaves out
# values the exchange is less sure of.
DEFAULT_MIN_CONFIDENCE = 60


@dataclass(frozen=True, slots=True)
class KitCounts:
    """How many entries each file of a starter kit received."""

    ips: int
    domains: int
    zone: int


def write_kit(
    conn: Connection,
    selection: ExportFilter,
    directory: Path,
    *,
    top: int = DEFAULT_TOP,
    rpz_origin: str = "rpz.medisac.local",
    feed_url: str | None = None,
) -> KitCounts:
    """Write the starter kit into ``directory`` and return its counts.

    Each list keeps the ``top`` highest-confidence entries that pass
    ``selection``. ``feed_url`` is the base URL of this exchange's
    ``/feeds`` for the README's refresh instructions, when the operator gives
    one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with replaced_file(directory / IP_FILE) as handle:
        ips = write_edl(conn, selection, handle, kind="ip", max_entries=top)
    with replaced_file(directory / DOMAIN_FILE) as handle:
        domains = write_edl(conn, selection, handle, kind="domain", max_entries=top)
    domain_selection = replace(
        selection, types=frozenset({IndicatorType.DOMAIN}), max_count=top
    )
    with replaced_file(directory / ZONE_FILE) as handle:
        zone = write_rpz(conn, domain_selection, handle, origin=rpz_origin)
    counts = KitCounts(ips=ips, domains=domains, zone=zone)
    with replaced_file(directory / README_FILE) as handle:
        handle.write(kit_readme(counts, rpz_origin, feed_url).encode())
    log.info(
        "starter kit: %d addresses, %d domains, %d zone entries",
        counts.ips,
        counts.domains,
        counts.zone,
    )
    return counts


def kit_readme(counts: KitCounts, rpz_origin: str, feed_url: str | None) -> str:
    """Return the README of a kit, in plain language for a non-specialist."""
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if feed_url:
        base = feed_url.rstrip("/")
        refresh = (
            "Your firewall and DNS server can fetch fresh copies themselves from\n"
            "these addresses (ask the exchange for an access key):\n\n"
            f"  {base}/edl?list=ip&max={DEFAULT_TOP}\n"
            f"  {base}/edl?list=domain&max={DEFAULT_TOP}\n"
            f"  {base}/rpz?type=domain&max={DEFAULT_TOP}\n"
        )
    else:
        refresh = (
            "Ask the exchange for the web addresses of these lists, so that your\n"
            "firewall and DNS server can fetch fresh copies themselves.\n"
        )
    return f"""\
Starter kit of blocklists from the medisac healthcare threat exchange
Written {written}.

These files list internet addresses and domain names that the exchange's
sources have seen in attacks: ransomware, phishing, malware downloads and
the servers that control infected computers. Blocking them stops many
attacks before they reach a patient record.

WHAT EACH FILE IS

{IP_FILE} ({counts.ips:,} entries)
  Internet addresses, one per line, those the exchange is surest of. Load it
  into your firewall as a blocklist: on a FortiGate, "Security Fabric >
  External Connectors > Threat Feeds > IP Address"; on a Palo Alto
  firewall, "Objects > External Dynamic Lists", type "IP List". Then use
  the list in a rule that blocks traffic to and from those addresses.

{DOMAIN_FILE} ({counts.domains:,} entries)
  Domain names, one per line. Load it into the firewall's web or DNS
  filter: on a FortiGate, a "Domain Name" threat feed used in a DNS filter
  profile; on a Palo Alto firewall, an External Dynamic List of type
  "Domain List" used in an anti-spyware profile.

{ZONE_FILE} ({counts.zone:,} domains)
  The same kind of domains as a DNS "response policy zone" named
  {rpz_origin}. If your own DNS server is BIND, Unbound or PowerDNS
  Recursor, load it as a policy zone. Computers that ask for a listed name
  are then told it does not exist, whatever program asks. If your DNS
  is run by your internet provider or by Windows Server, use
  {DOMAIN_FILE} on the firewall instead.

HOW OFTEN TO REFRESH

Attackers change addresses within days, and addresses that are no longer
malicious are removed from these lists. Replace the files at least once a
day; every hour is better.

{refresh}
IF SOMETHING LEGITIMATE IS BLOCKED

Remove the entry from your copy and tell the exchange, so that it can be
checked and withdrawn for everyone. Never edit the files in place while a
device is reading them: write a new copy and replace the old one.
"""
