"""Suricata rules for the blocking indicators, one rule per value and protocol.

Decisions a reader of the rules needs:

- **One rule per value.** Each address, network, domain and URL gets rules of
  its own rather than a shared address group. So every rule carries that
  indicator's confidence, source names and STIX id in ``metadata``, and an
  operator can disable it alone with ``suricata-update``.
- **Stable sids.** A rule's sid is ``sid_base + 4 * record id + slot``: the
  record id never changes, so an indicator keeps its sids across exports, and
  two rules never share one. Slots 0-3 of record id 0 (which no record has)
  are the sids of the file-hash list rules.
- **Anchored names.** A domain rule matches the name and its sub-domains with
  ``dotprefix`` and ``endswith``, so ``rs.example.com`` never matches
  ``stars.example.com``. A URL rule matches its host and its path and query
  exactly (``startswith; endswith;``). An ``https`` URL becomes a ``tls.sni``
  rule on its host, because the path is encrypted.
- **Escaping.** Values reach a rule only inside ``content`` (every byte
  outside printable ASCII, and ``"``, ``;``, ``\\``, ``|`` and space, is
  written as hex, ``|3B|``) and ``msg`` (``\\;``, ``\\"``, ``\\\\``, other
  unprintable characters as ``?``). Source names in ``metadata`` are reduced
  to letters, digits, ``.``, ``_`` and ``-``.
- **Left out, with a logged reason.** Values Suricata cannot match (sha512,
  e-mail addresses, file names, URLs of schemes other than ``http`` and
  ``https``, an ``https`` URL on an IP address) and rules longer than
  Suricata's 8,192-byte rule buffer. The counts go to one INFO line per
  export; DEBUG lines name the record ids.
- **File hashes** (md5, sha1, sha256) need list files beside the rules, which
  :func:`write_suricata_dir` writes; :func:`write_suricata` writes one rules
  stream and leaves hashes out. The list rules match files sent to
  ``$HOME_NET`` over HTTP only, because each other file-carrying protocol
  would need a rule of its own.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from sqlalchemy.engine import Connection

from medisac.export.files import replaced_file
from medisac.export.select import ExportFilter, selected_rows
from medisac.model import IndicatorType

log = logging.getLogger(__name__)

# Rules per record: each record id owns this many consecutive sids.
SID_SLOTS = 4
SID_MAX = 2**32 - 1
# Suricata copies each rule into a buffer of this size (DETECT_MAX_RULE_SIZE
# in its detect.h), so a longer rule is cut short and fails to load.
MAX_RULE_BYTES = 8192
# The rules file that write_suricata_dir writes beside the hash lists.
RULES_FILE = "medisac.rules"
# Maximum length of the value or the source list quoted in a msg, in
# characters, and the number of source names the msg lists.
_MSG_VALUE_CHARS = 200
_MSG_SOURCES = 3
_META_CHARS = 64
_METADATA_SOURCES = 20


@dataclass(frozen=True, slots=True)
class _HashList:
    keyword: str
    slot: int
    file_name: str
    digest_chars: int


HASH_LISTS: dict[IndicatorType, _HashList] = {
    IndicatorType.MD5: _HashList("filemd5", 0, "medisac-md5.list", 32),
    IndicatorType.SHA1: _HashList("filesha1", 1, "medisac-sha1.list", 40),
    IndicatorType.SHA256: _HashList("filesha256", 2, "medisac-sha256.list", 64),
}
_HASH_TYPES = frozenset(kind.value for kind in HASH_LISTS)
# A stored digest is lower-case hex of its type's length. The check keeps a
# malformed value from adding a stray line to a list file.
_HEX_DIGEST = re.compile(r"[0-9a-f]+")

# Printable ASCII that may stand as is inside a quoted content value.
_CONTENT_UNSAFE = re.compile(r"[^!#-:<-\[\]-{}~]+")
_META_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def content_text(value: str) -> str:
    """Return ``value`` as the text between the quotes of a ``content``.

    Runs of unsafe characters become one hex group of their UTF-8 bytes
    (``a;b`` -> ``a|3B|b``), so the content matches exactly those bytes.
    """
    return _CONTENT_UNSAFE.sub(_hex_group, value)


def _hex_group(match: re.Match[str]) -> str:
    text = match.group(0)
    return _HEX_CHARS.get(text) or "|" + text.encode().hex(" ").upper() + "|"


# Most unsafe runs are one ASCII character, so their hex groups are ready.
_HEX_CHARS = {chr(code): f"|{code:02X}|" for code in range(128)}


def msg_text(text: str) -> str:
    """Return ``text`` as the text between the quotes of a ``msg``."""
    if len(text) > _MSG_VALUE_CHARS:
        text = text[: _MSG_VALUE_CHARS - 3] + "..."
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace(";", "\\;")


def metadata_token(text: str) -> str:
    """Return ``text`` reduced to a word a ``metadata`` value can hold."""
    return _META_UNSAFE.sub("_", text)[:_META_CHARS] or "_"


@dataclass
class SuricataExport:
    """Rules and hash-list lines of one export, and what was left out."""

    sid_base: int
    exported: int = 0
    rules: int = 0
    left_out: Counter[str] = field(default_factory=Counter)

    def sid(self, record_id: int, slot: int) -> int:
        """Return the sid of rule ``slot`` of record ``record_id``.

        Raises ValueError for a record id below 1, whose sids belong to the
        hash-list rules, and for a sid past 2**32 - 1.
        """
        if record_id < 1:
            raise ValueError(
                f"record id {record_id} has no sid because record ids start at 1"
            )
        sid = self.sid_base + SID_SLOTS * record_id + slot
        if sid > SID_MAX:
            raise ValueError(
                f"sid {sid} for record {record_id} is above the maximum sid "
                f"{SID_MAX}; choose a lower sid_base than {self.sid_base}"
            )
        return sid

    def skip(self, record_id: int, reason: str) -> None:
        """Count a value left out of the rules, and log its record id."""
        self.left_out[reason] += 1
        log.debug("suricata export left out record %d: %s", record_id, reason)

    def log_summary(self) -> None:
        """Log the counts of this export at INFO."""
        reasons = ", ".join(f"{n:,} {why}" for why, n in sorted(self.left_out.items()))
        log.info(
            "suricata export: %d indicators in %d rules; left out: %s",
            self.exported,
            self.rules,
            reasons or "none",
        )


def write_suricata(
    conn: Connection,
    selection: ExportFilter,
    out: BinaryIO,
    *,
    sid_base: int = 9_000_000,
) -> int:
    """Write rules for the blocking indicators to ``out``; return the count.

    The count is of indicators with at least one rule. File hashes need
    list files, so this stream leaves them out; :func:`write_suricata_dir`
    writes them. Raises ValueError when a sid would pass 2**32 - 1.
    """
    export = _start(sid_base)
    for row in selected_rows(conn, replace(selection, blocking_only=True)):
        kind = row.i_type
        if kind in _HASH_TYPES:
            export.skip(row.id, f"{kind} needs the rules directory for its list file")
            continue
        _write_rules(export, row, out)
    export.log_summary()
    return export.exported


def write_suricata_dir(
    conn: Connection,
    selection: ExportFilter,
    directory: Path,
    *,
    sid_base: int = 9_000_000,
) -> int:
    """Write ``medisac.rules`` and the file-hash lists into ``directory``.

    Each hash type with values gets a list file (one lower-case hex digest
    per line) and one rule that names it, which Suricata resolves beside the
    rules file. Returns the number of indicators written. Raises ValueError
    when a sid would pass 2**32 - 1.
    """
    export = _start(sid_base)
    directory.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        out = stack.enter_context(replaced_file(directory / RULES_FILE))
        lists: dict[IndicatorType, BinaryIO] = {}
        for row in selected_rows(conn, replace(selection, blocking_only=True)):
            kind = IndicatorType(row.i_type)
            spec = HASH_LISTS.get(kind)
            if spec is None:
                _write_rules(export, row, out)
                continue
            value = row.i_value
            if len(value) != spec.digest_chars or not _HEX_DIGEST.fullmatch(value):
                export.skip(row.id, f"invalid {kind.value} digest")
                continue
            if kind not in lists:
                path = directory / spec.file_name
                lists[kind] = stack.enter_context(replaced_file(path))
            lists[kind].write(value.encode() + b"\n")
            export.exported += 1
        for kind in lists:
            out.write(_hash_list_rule(export, kind))
    # A list left from an earlier export would no longer match the rules.
    for kind, spec in HASH_LISTS.items():
        if kind not in lists:
            (directory / spec.file_name).unlink(missing_ok=True)
    export.log_summary()
    return export.exported


def _start(sid_base: int) -> SuricataExport:
    if not 1 <= sid_base <= SID_MAX - SID_SLOTS:
        raise ValueError(
            f"sid_base {sid_base} must be between 1 and {SID_MAX - SID_SLOTS}"
        )
    return SuricataExport(sid_base)


def _hash_list_rule(export: SuricataExport, kind: IndicatorType) -> bytes:
    spec = HASH_LISTS[kind]
    export.rules += 1
    return (
        f'alert http any any -> $HOME_NET any (msg:"medisac {kind.value} list"; '
        f"{spec.keyword}:{spec.file_name}; "
        f"sid:{export.sid_base + spec.slot}; rev:1;)\n"
    ).encode()


def _write_rules(export: SuricataExport, row: Any, out: BinaryIO) -> None:
    written = []
    for rule in indicator_rules(export, row):
        data = rule.encode()
        if len(data) >= MAX_RULE_BYTES:
            export.skip(row.id, f"rule over {MAX_RULE_BYTES} bytes")
            continue
        written.append(data)
    if written:
        out.write(b"".join(written))
        export.rules += len(written)
        export.exported += 1


def indicator_rules(export: SuricataExport, row: Any) -> list[str]:
    """Return the rule lines of one selected row; count what is left out."""
    kind = _TYPES.get(row.i_type)
    make = _RULE_MAKERS.get(kind) if kind is not None else None
    if make is None:
        export.skip(row.id, f"{row.i_type} has no Suricata match")
        return []
    return make(export, row, _Common.of(export, row))


@dataclass(frozen=True, slots=True)
class _Common:
    """The msg, metadata and first sid that the rules of one row share."""

    msg: str
    metadata: str
    first_sid: int

    @classmethod
    def of(cls, export: SuricataExport, row: Any) -> _Common:
        sources_msg, sources_metadata = _source_texts(row.i_sources)
        msg = msg_text(f"medisac {row.i_type} {row.i_value}") + sources_msg
        metadata = (
            f"medisac_confidence {int(row.i_confidence)}, "
            f"medisac_stix_id {metadata_token(row.i_stix_id)}{sources_metadata}"
        )
        # The last slot's sid is checked, so every slot's sid is in range.
        last_sid = export.sid(row.id, SID_SLOTS - 1)
        return cls(msg, metadata, last_sid - SID_SLOTS + 1)


@lru_cache(maxsize=4096)
def _source_texts(sources: str) -> tuple[str, str]:
    """Return the msg suffix and metadata entries for a sources column.

    Most rows of an export share a few source lists, so this is cached.
    """
    names = [claim[0] for claim in orjson.loads(sources)]
    listed = ", ".join(names[:_MSG_SOURCES])
    if len(names) > _MSG_SOURCES:
        listed += f" and {len(names) - _MSG_SOURCES} more"
    # A widely reported value could list enough sources to pass the maximum
    # rule size, so metadata names the first few and counts them all.
    metadata = f", medisac_source_count {len(names)}" + "".join(
        f", medisac_source {metadata_token(name)}" for name in names[:_METADATA_SOURCES]
    )
    return f" ({msg_text(listed)})", metadata


def _rule(common: _Common, slot: int, header: str, match: str) -> str:
    """Return one rule line: header, msg, match options, sid and metadata."""
    return (
        f'alert {header} (msg:"{common.msg}"; {match}'
        f"sid:{common.first_sid + slot}; rev:1; metadata:{common.metadata};)\n"
    )


# Characters of an address or a network. The store holds canonical values,
# so this only guards the rule header against a value that could break it.
_ADDRESS = re.compile(r"[0-9A-Fa-f:.]+(?:/[0-9]{1,3})?")


def _address_rules(export: SuricataExport, row: Any, common: _Common) -> list[str]:
    address = row.i_value
    if _ADDRESS.fullmatch(address) is None:
        export.skip(row.id, "invalid address")
        return []
    return [
        _rule(common, 0, f"ip $HOME_NET any -> {address} any", ""),
        _rule(common, 1, f"ip {address} any -> $HOME_NET any", ""),
    ]


_TO_SERVER = "flow:established,to_server;"


def _domain_rules(export: SuricataExport, row: Any, common: _Common) -> list[str]:
    content = content_text("." + row.i_value.lower())
    match = f'dotprefix; content:"{content}"; nocase; endswith; '
    # Suricata lower-cases the http.host buffer and rejects nocase on it.
    host_match = f'dotprefix; content:"{content}"; endswith; '
    dns = f"dns.query; {match}"
    sni = f"{_TO_SERVER} tls.sni; {match}"
    http = f"{_TO_SERVER} http.host; {host_match}"
    return [
        _rule(common, 0, "dns $HOME_NET any -> any any", dns),
        _rule(common, 1, "tls $HOME_NET any -> any any", sni),
        _rule(common, 2, "http $HOME_NET any -> any any", http),
    ]


# scheme://[userinfo@]host[:port], then the rest, as the canonical URL form
# writes them. Reading stored values this way skips the cost of normalising.
_STORED_URL = re.compile(r"([a-z][a-z0-9+.\-]*)://([^/?#]*)(.*)", re.DOTALL)
_PORT = re.compile(r":[0-9]*")
_IPV4 = re.compile(r"[0-9]+(?:\.[0-9]+){3}")


def split_stored_url(value: str) -> tuple[str, str, str] | None:
    """Return the scheme, host and rest of a canonical URL, or None.

    An IPv6 host keeps its brackets. The rest is the path, query and
    fragment as stored.
    """
    match = _STORED_URL.fullmatch(value)
    if match is None:
        return None
    scheme, authority, rest = match.groups()
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        end = host.find("]") + 1
        host, port = host[:end], host[end:]
    else:
        host, colon, port = host.partition(":")
        port = colon + port
    if not host or (port and _PORT.fullmatch(port) is None):
        return None
    return scheme, host, rest


def _url_rules(export: SuricataExport, row: Any, common: _Common) -> list[str]:
    parts = split_stored_url(row.i_value)
    if parts is None:
        export.skip(row.id, "invalid URL")
        return []
    scheme, host, rest = parts
    if scheme == "http":
        # The fragment never reaches the server. NOTE: percent-escapes are
        # matched as the canonical URL writes them, but Suricata's http.uri
        # buffer decodes some escapes, so such a URL may not match.
        uri = content_text(rest.partition("#")[0] or "/")
        match = (
            f'{_TO_SERVER} http.host; content:"{content_text(host.lower())}"; '
            f'startswith; endswith; http.uri; content:"{uri}"; startswith; endswith; '
        )
        return [_rule(common, 0, "http $HOME_NET any -> any any", match)]
    if scheme == "https":
        if host.startswith("[") or _IPV4.fullmatch(host):
            export.skip(row.id, "https URL on an IP address has no SNI")
            return []
        match = (
            f'{_TO_SERVER} tls.sni; content:"{content_text(host.lower())}"; '
            "nocase; startswith; endswith; "
        )
        return [_rule(common, 1, "tls $HOME_NET any -> any any", match)]
    export.skip(row.id, f"{scheme} URL has no Suricata match")
    return []


_TYPES = {member.value: member for member in IndicatorType}
_RuleMaker = Callable[[SuricataExport, Any, _Common], list[str]]
_RULE_MAKERS: dict[IndicatorType, _RuleMaker] = {
    IndicatorType.IPV4: _address_rules,
    IndicatorType.IPV6: _address_rules,
    IndicatorType.CIDR: _address_rules,
    IndicatorType.DOMAIN: _domain_rules,
    IndicatorType.URL: _url_rules,
}
