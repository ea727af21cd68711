"""Hunt packs: indicators a member may test its logs against but not read.

A pack holds, for each indicator, an HMAC-SHA256 of its canonical value
(truncated to :data:`DIGEST_BYTES`) under a random key made for that pack,
with the indicator's id, type, confidence, TLP and first-seen time. A hunt
computes the same HMAC of each log token and looks it up, so it can tell
that a token is listed without the pack listing any value. Networks are
stored as ``network/prefix`` text; the pack lists which prefix lengths
occur, so a log address is masked to each of them and tested. Domains need
no extra structure: a log name is tested label-suffix by label-suffix.

The key travels in the pack, because the member must compute the same
HMACs. Anyone holding the pack can therefore test a guessed value (a
dictionary attack); what the pack prevents is listing the values.

File layout: the line ``MEDISAC-HUNT-PACK 1``, one line of JSON (key,
counts, prefix lengths), then fixed-size records sorted by digest, in the
layout of :data:`RECORD`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import struct
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medisac.errors import MedisacError
from medisac.hunt.index import (
    HUNTED_TYPES,
    IndicatorInfo,
    Match,
    network_key,
    parent_names,
)
from medisac.members.orgs import Org
from medisac.model import TLP, State
from medisac.model.time import format_rfc3339, now_us
from medisac.store.tables import indicators, red_recipients

log = logging.getLogger(__name__)

MAGIC = b"MEDISAC-HUNT-PACK 1\n"
DIGEST_BYTES = 12
KEY_BYTES = 32
# digest, indicator id, first seen (microseconds), confidence, TLP, type code
RECORD = struct.Struct(f">{DIGEST_BYTES}sqqBBB")
TYPE_CODES = {
    name: code
    for code, name in enumerate(
        ["ipv4", "ipv6", "cidr", "domain", "url", "md5", "sha1", "sha256", "sha512"]
    )
}
# The record of a listed URL's host: it sends lines with that host to the
# URL check. Its id is 0.
URL_HOST_CODE = 255
_TYPE_NAMES = {code: name for name, code in TYPE_CODES.items()}


class PackError(MedisacError):
    """A hunt pack cannot be read: wrong file, damaged or truncated."""


@dataclass(frozen=True, slots=True)
class PackSummary:
    """The result of :func:`write_pack`: indicators by type, and the file size."""

    path: Path
    counts: dict[str, int]
    size: int

    @property
    def total(self) -> int:
        """Return the number of indicators in the pack."""
        return sum(self.counts.values())


def _message(family: str, text: str) -> bytes:
    return f"{family}:{text}".encode()


def _family(kind: str) -> str:
    if kind in ("ipv4", "ipv6"):
        return "ip"
    if kind == "cidr":
        return "net"
    if kind in ("domain", "url"):
        return kind
    return "hash"


def url_host(url: str) -> str:
    """Return the host of a canonical URL as the hunt's tokens write it."""
    authority = url.partition("://")[2].split("/", 1)[0].split("?", 1)[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rpartition(":")[0] if ":" in host else host


def pack_rows(
    conn: Connection, org: Org, *, include_all: bool = False
) -> Iterator[tuple[int, str, str, int, int, int]]:
    """Select the indicators of a pack for ``org``.

    These are the active indicators above the organisation's clearance, or
    every active indicator with ``include_all``. TLP:RED indicators are
    included only when the organisation is named on them.
    """
    ic = indicators.c
    named = sa.select(red_recipients.c.indicator_id).where(
        red_recipients.c.org_id == org.id
    )
    eligible = sa.or_(ic.tlp < int(TLP.RED), ic.id.in_(named))
    conditions = [
        ic.state == State.ACTIVE.value,
        sa.or_(ic.valid_until.is_(None), ic.valid_until > now_us()),
        ic.type.in_(sorted(HUNTED_TYPES)),
        eligible,
    ]
    if not include_all:
        conditions.append(ic.tlp > int(org.clearance))
    statement = (
        sa.select(ic.id, ic.type, ic.value, ic.confidence, ic.tlp, ic.first_seen)
        .where(*conditions)
        .order_by(ic.id)
        .execution_options(yield_per=20_000)
    )
    for row in conn.execute(statement):
        yield row[0], row[1], row[2], row[3], row[4], row[5]


def build_records(
    rows: Iterable[tuple[int, str, str, int, int, int]], key: bytes
) -> tuple[list[bytes], Counter[str], dict[int, set[int]]]:
    """Return the packed records of ``rows``, the counts by type and prefix lengths."""
    records: list[bytes] = []
    counts: Counter[str] = Counter()
    prefixes: dict[int, set[int]] = {4: set(), 6: set()}
    url_hosts: set[str] = set()
    for indicator_id, kind, value, confidence, tlp, first_seen in rows:
        digest = hmac.digest(key, _message(_family(kind), value), hashlib.sha256)
        records.append(
            RECORD.pack(
                digest[:DIGEST_BYTES],
                indicator_id,
                first_seen,
                confidence,
                tlp,
                TYPE_CODES[kind],
            )
        )
        counts[kind] += 1
        if kind == "cidr":
            network = ipaddress.ip_network(value)
            prefixes[network.version].add(network.prefixlen)
        elif kind == "url":
            url_hosts.add(url_host(value))
    for host in sorted(url_hosts):
        digest = hmac.digest(key, _message("urlhost", host), hashlib.sha256)
        records.append(RECORD.pack(digest[:DIGEST_BYTES], 0, 0, 0, 0, URL_HOST_CODE))
    return records, counts, prefixes


def write_pack(
    conn: Connection, org: Org, path: Path, *, include_all: bool = False
) -> PackSummary:
    """Write the hunt pack for ``org`` to ``path`` and return what it holds."""
    key = secrets.token_bytes(KEY_BYTES)
    rows = pack_rows(conn, org, include_all=include_all)
    records, counts, prefixes = build_records(rows, key)
    # Sorting by digest leaves no trace of the id order or of the types.
    records.sort()
    header = {
        "format": 1,
        "created": format_rfc3339(now_us()),
        "org": org.id,
        "all": include_all,
        "key": key.hex(),
        "digest_bytes": DIGEST_BYTES,
        "records": len(records),
        "counts": dict(sorted(counts.items())),
        "prefixes": {str(v): sorted(lengths) for v, lengths in prefixes.items()},
    }
    with path.open("wb") as handle:
        handle.write(MAGIC)
        handle.write(orjson.dumps(header) + b"\n")
        for record in records:
            handle.write(record)
    log.info("wrote a hunt pack of %d indicators for %s", sum(counts.values()), org.id)
    return PackSummary(path, dict(counts), path.stat().st_size)


class PackIndex:
    """The lookups of :class:`medisac.hunt.index.Index` over a hunt pack."""

    def __init__(self, key: bytes, prefixes: dict[int, list[int]]) -> None:
        self.key = key
        self.prefixes = prefixes
        self.slots: dict[bytes, int] = {}
        self.ids = array("q")
        self.first_seen = array("q")
        self.confidence = bytearray()
        self.tlp = bytearray()
        self.types = bytearray()
        self.url_hosts: set[bytes] = set()
        self.org: str | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def _digest(self, family: str, text: str) -> bytes:
        return hmac.digest(self.key, _message(family, text), hashlib.sha256)[
            :DIGEST_BYTES
        ]

    def _find(self, family: str, text: str, how: str) -> list[Match]:
        slot = self.slots.get(self._digest(family, text))
        return [] if slot is None else [Match(slot, how)]

    def match_ip(self, number: int, version: int, text: str) -> list[Match]:
        found = self._find("ip", text, "exact")
        for prefix in self.prefixes.get(version, ()):
            network = network_key(number, version, prefix)
            address: ipaddress.IPv4Address | ipaddress.IPv6Address
            if version == 4:
                address = ipaddress.IPv4Address(network)
            else:
                address = ipaddress.IPv6Address(network)
            found.extend(self._find("net", f"{address}/{prefix}", "network"))
        return found

    def match_domain(self, name: str) -> list[Match]:
        found = []
        for candidate, exact in parent_names(name):
            found.extend(
                self._find("domain", candidate, "exact" if exact else "subdomain")
            )
        return found

    def match_url(self, url: str) -> list[Match]:
        return self._find("url", url, "exact")

    def match_hash(self, digest: str) -> list[Match]:
        return self._find("hash", digest, "exact")

    def is_url_host(self, host: str) -> bool:
        return self._digest("urlhost", host) in self.url_hosts

    def info(self, slot: int) -> IndicatorInfo:
        return IndicatorInfo(
            id=self.ids[slot],
            type=_TYPE_NAMES[self.types[slot]],
            value=None,
            confidence=self.confidence[slot],
            tlp=TLP(self.tlp[slot]),
            tags=(),
            first_seen=self.first_seen[slot],
        )


def read_pack(path: Path) -> PackIndex:
    """Read a hunt pack; raise :class:`PackError` naming what is wrong."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackError(f"cannot read the hunt pack {path}: {exc}") from exc
    if not data.startswith(MAGIC):
        raise PackError(
            f"{path} is not a medisac hunt pack; make one with `medisac hunt-pack`"
        )
    end = data.find(b"\n", len(MAGIC))
    try:
        header = orjson.loads(data[len(MAGIC) : end])
        key = bytes.fromhex(header["key"])
        count = int(header["records"])
        prefixes = {
            int(v): [int(p) for p in ps] for v, ps in header["prefixes"].items()
        }
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise PackError(f"{path}: the hunt pack header is damaged: {exc}") from exc
    body = memoryview(data)[end + 1 :]
    if len(body) != count * RECORD.size:
        raise PackError(
            f"{path}: the hunt pack should hold {count:,} records of "
            f"{RECORD.size} bytes but holds {len(body):,} bytes; it is truncated "
            "or damaged"
        )
    index = PackIndex(key, prefixes)
    index.org = header.get("org")
    for digest, indicator_id, first_seen, confidence, tlp, code in RECORD.iter_unpack(
        body
    ):
        if code == URL_HOST_CODE:
            index.url_hosts.add(digest)
            continue
        if code not in _TYPE_NAMES or tlp > int(TLP.RED) or confidence > 100:
            raise PackError(f"{path}: a record of the hunt pack is damaged")
        index.slots[digest] = len(index.ids)
        index.ids.append(indicator_id)
        index.first_seen.append(first_seen)
        index.confidence.append(confidence)
        index.tlp.append(tlp)
        index.types.append(code)
    return index
