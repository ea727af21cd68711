"""Find indicator values in free text: defanged, split across lines, in tables.

:func:`find_values` scans text for URLs, e-mail addresses, IPv4 addresses and
networks, domains and MD5, SHA-1, SHA-256 and SHA-512 hashes. It finds plain
and defanged spellings (``hxxp``, ``[.]``, ``(dot)``, ``[@]``). Each canonical
value comes with where it was found: its offsets and the heading of the
section around it. :func:`repair_breaks` first joins
values that a PDF or a mail client broke across lines.

Only values that :func:`medisac.normalize.normalize` accepts are returned. A
name ending in a file extension that is also a top-level domain
(``invoice.zip``, ``setup.py``) is a domain only where it is defanged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from medisac.enrich.galaxies import read_clusters
from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize import normalize, refang
from medisac.normalize.domain import is_known_tld

_SEP_DOT = r"(?:\.|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}|\[\.)"
_SEP_AT = r"(?:@|\[@\]|\(@\)|\{@\}|\[at\]|\(at\))"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"

# TODO: IPv6 addresses and CIDR ranges in free text are not found yet; a
# pattern for them must not take times and MAC addresses.
# Every repetition that can fail after it is bounded (a local part has at
# most 64 characters, a name here at most 12 labels), so a long run such as
# "a+a+a+..." costs time linear in the text instead of quadratic.
_CANDIDATE = re.compile(
    rf"""
    (?P<url>\b(?:h[xXtT]{{2}}ps?|fxp|ftp|HXXPS?)(?:\[:\]|:)(?:\[//\]|//)[^\s<>"'`]+)
  | (?P<email>\b[\w.%+-]{{1,64}}{_SEP_AT}{_LABEL}(?:{_SEP_DOT}{_LABEL}){{1,12}})
  | (?P<hash>\b[0-9A-Fa-f]{{32,128}}\b)
  | (?P<ip>\b\d{{1,3}}(?:{_SEP_DOT}\d{{1,3}}){{3}}(?:/\d{{1,2}})?(?![\w.]))
  | (?P<domain>\b(?:{_LABEL}{_SEP_DOT}){{1,12}}[A-Za-z][A-Za-z0-9-]{{1,23}}\b)
    """,
    re.VERBOSE | re.IGNORECASE,
)

_HASH_LENGTHS = {
    32: IndicatorType.MD5,
    40: IndicatorType.SHA1,
    64: IndicatorType.SHA256,
    128: IndicatorType.SHA512,
}

# File extensions that are also top-level domains. A name ending in one is a
# file name unless the writer defanged it.
FILE_EXTENSIONS = frozenset(
    {"zip", "mov", "py", "sh", "ps", "pl", "md", "rs", "so", "cc", "ws", "sc",
     "cx", "cs", "ai", "bat", "app", "lnk", "doc", "exe", "dll", "js", "vbs",
     "rar", "iso", "img", "msi", "pdf", "txt", "hta", "jar", "ink", "top",
     "cab", "cpl", "scr", "ps1", "docm", "xlsm", "html", "htm", "php", "png",
     "jpg", "gif", "csv", "json", "xml", "log", "dat", "bin", "tmp", "ini",
     "cfg", "conf", "sys", "drv", "inf", "reg", "ts", "go", "java", "rb"}
)  # fmt: skip

_DEFANG_HINT = re.compile(r"\[|\(dot\)|\(\.\)|\(at\)|\(@\)|\{|hxxp|fxp", re.I)
_TRAILING = ".,;:!?'\"*>"

# A heading: a Markdown ``#`` line, a numbered title ("4.2 Indicators"), or a
# short line in capitals. Long lines and lines ending in a full stop are text.
_MARKDOWN_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?P<title>.+?)\s*#*\s*$")
_NUMBERED_HEADING = re.compile(
    r"^\s*(?:\d+(?:\.\d+)*\.?|[A-Z]\.)\s+(?P<title>[A-Z].{2,70})$"
)
_KNOWN_HEADING = re.compile(
    r"^\s*(?P<title>(?:appendix|annex)\b.{0,60}|"
    r"(?:indicators?(?: of compromise)?|iocs?|network indicators|host indicators|"
    r"file indicators|hashes|references|sources|footnotes|notes|bibliography|"
    r"further reading|mitre att&ck.{0,30}|detection.{0,30}|conclusion|summary|"
    r"executive summary|introduction|recommendations|mitigations)\s*:?)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Found:
    """One value found in text, with where it was found."""

    type: IndicatorType
    value: str
    raw: str
    start: int
    end: int
    defanged: bool
    section: str


@dataclass(frozen=True, slots=True)
class Heading:
    """A section heading and the offset of its line."""

    offset: int
    title: str


# -- values broken across lines -----------------------------------------------

_HEX_TAIL = re.compile(
    r"(?<![0-9A-Za-z])([0-9A-Fa-f]{8,127})[ \t]*\r?\n"
    r"[ \t]*([0-9A-Fa-f]{1,120})(?![0-9A-Za-z])"
)
_URL_BREAK = re.compile(
    r"((?:h[xt]{2}ps?|fxp|ftp)(?:\[:\]|:)(?:\[//\]|//)[^\s<>\"'`]{0,2048}"
    r"(?:[/\-_.=?&%#~]|\[\.\]))"
    r"[ \t]*\r?\n[ \t]*(?=(?P<next>[^\s<>\"'`]+)(?P<after>[^\n]*))",
    re.IGNORECASE,
)
_URL_PIECE = re.compile(r"[/._\-=?&%#~\d]")


def repair_breaks(text: str) -> str:
    """Join hashes and URLs that a line break cut into two pieces.

    Two runs of hex digits on consecutive lines are joined when together they
    have the length of a hash and the second alone has not. A URL whose line ends in
    ``/``, ``-``, ``_``, ``.``, ``=``, ``?``, ``&``, ``%``, ``#``, ``~`` or a
    defanged dot ``[.]`` is
    continued with the next line's first word when that word contains one of
    these characters or a digit, or is alone on its line.
    """

    def join_hex(match: re.Match[str]) -> str:
        first, second = match.group(1), match.group(2)
        joined = len(first) + len(second)
        if len(second) in _HASH_LENGTHS:
            return match.group(0)
        if joined not in _HASH_LENGTHS:
            return match.group(0)
        return first + second

    def join_url(match: re.Match[str]) -> str:
        # The next line continues the URL when its first word looks like a
        # piece of one, or is all the line holds: "Appendix A: IOCs" is not.
        piece, after = match.group("next"), match.group("after")
        if _URL_PIECE.search(piece) or not after.strip():
            return match.group(1)
        return match.group(0)

    text = _HEX_TAIL.sub(join_hex, text)
    return _URL_BREAK.sub(join_url, text)


# -- sections -------------------------------------------------------------------


def headings(text: str) -> list[Heading]:
    """Return the section headings of ``text`` in order."""
    found = []
    offset = 0
    for line in text.splitlines(keepends=True):
        title = _heading_title(line.strip())
        if title:
            found.append(Heading(offset, title))
        offset += len(line)
    return found


def _heading_title(line: str) -> str | None:
    if not line or len(line) > 90:
        return None
    for pattern in (_MARKDOWN_HEADING, _NUMBERED_HEADING, _KNOWN_HEADING):
        match = pattern.match(line)
        if match:
            return match.group("title").strip(" *#:")
    letters = [char for char in line if char.isalpha()]
    if (
        len(letters) >= 4
        and all(char.isupper() for char in letters)
        and not line.endswith(".")
        and not _CANDIDATE.search(line)
        and len(line.split()) <= 8
    ):
        return line.strip(" *#:")
    return None


def section_at(sections: list[Heading], offset: int) -> str:
    """Return the title of the section that contains ``offset``."""
    title = ""
    for heading in sections:
        if heading.offset > offset:
            break
        title = heading.title
    return title


# -- values ---------------------------------------------------------------------


def find_values(text: str) -> Iterator[Found]:
    """Yield every valid indicator value in ``text``, in order of position."""
    sections = headings(text)
    for match in _CANDIDATE.finditer(text):
        kind = match.lastgroup or ""
        start, end = match.span()
        raw = match.group()
        if kind == "url":
            raw = _trim_url(raw)
        elif kind != "hash":
            raw = raw.rstrip(_TRAILING)
        end = start + len(raw)
        found = _canonical(kind, raw)
        if found is None:
            continue
        value_type, value = found
        yield Found(
            type=value_type,
            value=value,
            raw=raw,
            start=start,
            end=end,
            defanged=bool(_DEFANG_HINT.search(raw)),
            section=section_at(sections, start),
        )


def _trim_url(raw: str) -> str:
    while raw and raw[-1] in _TRAILING + ")]}":
        closing = raw[-1]
        opening = {")": "(", "]": "[", "}": "{"}.get(closing)
        if opening and raw.count(opening) >= raw.count(closing):
            break
        raw = raw[:-1]
    return raw


def _canonical(kind: str, raw: str) -> tuple[IndicatorType, str] | None:
    declared: str | None = None
    if kind == "hash":
        hash_type = _HASH_LENGTHS.get(len(raw))
        if hash_type is None or raw.isdigit():
            return None
        declared = hash_type.value
    elif kind == "domain":
        refanged = refang(raw)
        top = refanged.rpartition(".")[2].lower()
        if not is_known_tld(top):
            return None
        if top in FILE_EXTENSIONS and not _DEFANG_HINT.search(raw):
            return None
        declared = "domain"
    elif kind == "email":
        declared = "email"
    elif kind == "url":
        declared = "url"
    try:
        values = normalize(raw, declared)
    except NormalizationError:
        return None
    if not values:
        return None
    return values[0].type, values[0].value


def window(text: str, start: int, end: int, width: int = 160) -> str:
    """Return the text around ``text[start:end]`` on one line."""
    before = max(0, start - width)
    after = min(len(text), end + width)
    snippet = text[before:after]
    return " ".join(snippet.split())


# -- malware and actor names -----------------------------------------------------

_GALAXIES = (
    "threat-actor",
    "malpedia",
    "tidal-groups",
    "tidal-software",
    "botnet",
    "rat",
    "banker",
)
_NAME_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'&+-]*")
_MAX_NAME_WORDS = 4
_MIN_NAME_LENGTH = 4
# Names of clusters that are also everyday words in reports.
_COMMON_WORDS = frozenset(
    {"agent", "admin", "adobe", "android", "apple", "application", "backdoor",
     "china", "cloud", "crypto", "data", "email", "equation", "exploit", "file",
     "google", "group", "hacker", "hello", "help", "indicators", "internet", "iran",
     "java", "linux", "loader", "mail", "microsoft", "mobile", "network", "office",
     "please", "police", "python", "ransom", "ransomware", "report", "russia",
     "server", "service", "shell", "stealer", "system", "team", "telegram",
     "update", "user", "windows", "word", "worm", "the", "phishing", "spam",
     "payload", "dropper", "downloader", "trojan", "remote", "access", "tools",
     "powershell", "cobalt", "strike", "script", "unknown", "client", "victim",
     "target", "sample", "samples", "domain", "domains", "hash", "hashes", "page",
     "link", "links", "account", "accounts", "security", "password", "invoice",
     "play", "control", "alien", "royal", "black", "green", "blue", "red", "apt"}
)  # fmt: skip


_PLATFORM_PREFIXES = frozenset(
    {"win", "elf", "osx", "apk", "js", "ps1", "jar", "py", "php", "vbs", "ios"}
)


def _name_key_words(name: str) -> tuple[str, ...] | None:
    """Return the lower-case words of a cluster name, or None to skip it."""
    if "." in name and name.split(".", 1)[0] in _PLATFORM_PREFIXES:
        return None
    words = tuple(word.lower() for word in _NAME_WORD.findall(name))
    if not words or len(words) > _MAX_NAME_WORDS:
        return None
    if len(" ".join(words)) < _MIN_NAME_LENGTH:
        return None
    if len(words) == 1 and words[0] in _COMMON_WORDS:
        return None
    return words


@functools.cache
def _name_index() -> dict[tuple[str, ...], str]:
    """Return {lower-case words: cluster name} of malware and actor names.

    Every cluster's own name is entered before any synonym, so a synonym
    that two clusters share never hides a cluster's own name.
    """
    clusters = [cluster for galaxy in _GALAXIES for cluster in read_clusters(galaxy)]
    index: dict[tuple[str, ...], str] = {}
    for cluster in clusters:
        label = str(cluster.get("value", ""))
        words = _name_key_words(label)
        if words is not None:
            index.setdefault(words, label)
    for cluster in clusters:
        label = str(cluster.get("value", ""))
        for name in (cluster.get("meta") or {}).get("synonyms") or []:
            words = _name_key_words(name) if isinstance(name, str) else None
            if words is not None:
                index.setdefault(words, label)
    return index


def names_in(text: str) -> list[str]:
    """Return the malware and actor names written in ``text``, in order.

    A name counts only where at least one of its letters is a capital, so
    ``the machete`` in prose does not name the Machete group.
    """
    index = _name_index()
    words = list(_NAME_WORD.finditer(text))
    lowered = [match.group().lower() for match in words]
    found: list[str] = []
    position = 0
    while position < len(words):
        for size in range(_MAX_NAME_WORDS, 0, -1):
            key = tuple(lowered[position : position + size])
            if len(key) < size:
                continue
            label = index.get(key)
            if label is None:
                continue
            written = text[words[position].start() : words[position + size - 1].end()]
            if not any(char.isupper() for char in written):
                continue
            if label not in found:
                found.append(label)
            position += size - 1
            break
        position += 1
    return found
