"""Links in HTML, and the targets behind URL wrappers and redirectors.

:class:`HtmlText` reads an HTML document with the standard library's parser.
It returns the visible text, with headings as Markdown ``#`` lines and table
cells separated by `` | ``. It also returns every link the document
contains: ``href`` of anchors and areas, form actions, image and frame
sources, ``meta`` refresh targets, ``location`` assignments in scripts and
URLs written in the text. Links
inside elements hidden with ``hidden``, ``display:none``,
``visibility:hidden``, ``font-size:0``, zero opacity or a zero width or
height are marked hidden.

:func:`unwrap` follows a URL through the rewriters that mail gateways and
trackers put around links, as far as the target is written in the URL. It
reads these rewriters:

- Microsoft Safe Links (``url=``);
- Proofpoint URL Defense v1 and v2 (``u=``) and v3 (``__url__;`` with its
  replacement characters);
- Google (``q=`` or ``url=``), Facebook (``u=``), and Bing (``u=a1`` and
  URL-safe base64);
- Firebase dynamic links (``link=``), and Mimecast where the target is a
  parameter;
- any query parameter whose value is itself an absolute HTTP(S) URL.

A rewriter that keeps the target on its server (SendGrid, Mimecast ``/s/``
codes) cannot be followed, so the link stays as written.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, unquote, urlsplit

_BLOCK = frozenset(
    {"p", "div", "br", "tr", "li", "ul", "ol", "table", "section", "article",
     "header", "footer", "blockquote", "pre", "hr", "dt", "dd", "h1", "h2", "h3",
     "h4", "h5", "h6", "title", "center", "form", "address"}
)  # fmt: skip
_SKIP_TEXT = frozenset({"script", "style", "head", "noscript", "template"})
_VOID = frozenset(
    {"br", "img", "meta", "link", "hr", "input", "area", "base", "col", "embed",
     "source", "wbr", "param", "track"}
)  # fmt: skip
# NOTE: only inline styles are read. An element hidden by a class in a
# <style> block is not marked hidden.
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d]*[1-9])"
    r"|(?<![-\w])(?:max-)?(?:width|height)\s*:\s*0(?:px)?\s*(?:;|$|!)|opacity\s*:\s*0(?:\.0*)?\s*(?:;|$)",
    re.IGNORECASE,
)
_REFRESH = re.compile(r"url\s*=\s*['\"]?([^'\"\s>]+)", re.IGNORECASE)
_SCRIPT_LOCATION = re.compile(
    r"(?:location(?:\.href)?\s*=|location\.(?:replace|assign)\s*\(|window\.open\s*\()"
    r"\s*['\"]([^'\"]+)['\"]",
    re.IGNORECASE,
)
_TEXT_URL = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
MAX_LINKS = 5000


@dataclass(frozen=True, slots=True)
class HtmlLink:
    """A URL found in HTML, the markup it came from, and whether it was hidden.

    ``source`` is ``href``, ``form``, ``image``, ``frame``, ``refresh``,
    ``script`` or ``text`` (a URL written in the visible text).
    """

    url: str
    source: str
    hidden: bool
    text: str = ""


@dataclass
class _Element:
    tag: str
    hidden: bool


class HtmlText(HTMLParser):
    """Visible text and links of one HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[HtmlLink] = []
        self._stack: list[_Element] = []
        self._skip = 0
        self._anchor: tuple[str, bool, list[str]] | None = None
        self._script: list[str] | None = None

    @classmethod
    def read(cls, markup: str) -> HtmlText:
        """Parse ``markup`` and return the parser with its results."""
        parser = cls()
        parser.feed(markup)
        parser.close()
        return parser

    @property
    def text(self) -> str:
        """The visible text, one block per line."""
        lines = [" ".join(line.split()) for line in "".join(self.parts).splitlines()]
        return "\n".join(line for line in lines if line)

    def _hidden(self) -> bool:
        return any(element.hidden for element in self._stack)

    def _add_link(self, url: str | None, source: str, text: str = "") -> None:
        if not url or len(self.links) >= MAX_LINKS:
            return
        url = html.unescape(url).strip()
        if not url.lower().startswith(("http:", "https:", "ftp:", "//", "hxxp")):
            return
        if url.startswith("//"):
            url = "http:" + url
        self.links.append(HtmlLink(url, source, self._hidden(), text))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        style = values.get("style", "")
        hidden = "hidden" in values or bool(_HIDDEN_STYLE.search(style))
        if tag not in _VOID:
            self._stack.append(_Element(tag, hidden))
        if tag in _SKIP_TEXT:
            self._skip += 1
            if tag == "script":
                self._script = []
        if tag in _BLOCK:
            self.parts.append("\n")
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.parts.append("#" * int(tag[1]) + " ")
        if tag in ("td", "th"):
            self.parts.append(" | ")
        if tag == "a":
            self._anchor = (values.get("href", ""), hidden or self._hidden(), [])
        elif tag == "area":
            self._add_link(values.get("href"), "href")
        elif tag == "form":
            self._add_link(values.get("action"), "form")
        elif tag in ("iframe", "frame", "embed"):
            self._add_link(values.get("src"), "frame")
        elif tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            match = _REFRESH.search(values.get("content", ""))
            if match:
                self._add_link(match.group(1), "refresh")
        elif tag == "img":
            self._add_link(values.get("src"), "image")
            if values.get("alt"):
                self.parts.append(f" {values['alt']} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._anchor is not None:
            href, hidden, words = self._anchor
            self._anchor = None
            if href:
                label = " ".join("".join(words).split())
                url = html.unescape(href).strip()
                if url.lower().startswith(("http:", "https:", "ftp:", "//", "hxxp")):
                    if url.startswith("//"):
                        url = "http:" + url
                    if len(self.links) < MAX_LINKS:
                        self.links.append(HtmlLink(url, "href", hidden, label))
        if tag == "script" and self._script is not None:
            for match in _SCRIPT_LOCATION.finditer("".join(self._script)):
                self._add_link(match.group(1), "script")
            self._script = None
        if tag in _SKIP_TEXT and self._skip:
            self._skip -= 1
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index].tag == tag:
                del self._stack[index:]
                break
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        if self._skip:
            return
        if self._anchor is not None:
            self._anchor[2].append(data)
        for match in _TEXT_URL.finditer(data):
            self._add_link(match.group(), "text")
        self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Return the visible text of an HTML document."""
    return HtmlText.read(markup).text


# -- wrappers and redirectors ----------------------------------------------------

_MAX_DEPTH = 6
_V3 = re.compile(r"__(?P<url>.+?)__;(?P<codes>[A-Za-z0-9_-]*)!")
_V3_RUN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_URL_PARAMS = (
    "url", "u", "q", "link", "target", "dest", "destination", "redirect",
    "redirect_url", "redirect_uri", "r", "goto", "to", "continue", "next",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """A URL and the wrappers that were removed to reach it, outermost first."""

    url: str
    wrappers: tuple[str, ...] = field(default=())
    services: tuple[str, ...] = field(default=())


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _param(url: str, *names: str) -> str | None:
    try:
        query = urlsplit(url).query
    except ValueError:
        return None
    pairs = parse_qsl(query, keep_blank_values=False)
    for name in names:
        for key, value in pairs:
            if key.lower() == name:
                return value
    return None


def _proofpoint_v2(value: str) -> str:
    return unquote(value.replace("-", "%").replace("_", "/"))


def _proofpoint_v3(url: str) -> str | None:
    match = _V3.search(url)
    if match is None:
        return None
    target, codes = match.group("url"), match.group("codes")
    try:
        padded = codes + "=" * (-len(codes) % 4)
        replacements = base64.urlsafe_b64decode(padded).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    out = []
    index = 0
    position = 0
    while position < len(target):
        char = target[position]
        if char != "*":
            out.append(char)
            position += 1
            continue
        if target.startswith("**", position) and position + 2 < len(target):
            run = _V3_RUN.find(target[position + 2]) + 2
            if run < 2:
                return None
            out.append(replacements[index : index + run])
            index += run
            position += 3
            continue
        if index >= len(replacements):
            return None
        out.append(replacements[index])
        index += 1
        position += 1
    return "".join(out)


def _bing(value: str) -> str | None:
    if not value.startswith("a1"):
        return None
    code = value[2:]
    try:
        return base64.urlsafe_b64decode(code + "=" * (-len(code) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _is_absolute(value: str | None) -> bool:
    return bool(value) and str(value).lower().startswith(("http://", "https://"))


def unwrap_once(url: str) -> tuple[str, str] | None:
    """Return (target, service name) behind one wrapper, or None."""
    host = _host(url)
    path = urlsplit(url).path if host else ""
    target: str | None = None
    service = ""
    if host.endswith("safelinks.protection.outlook.com"):
        target, service = _param(url, "url"), "Microsoft Safe Links"
    elif host == "urldefense.proofpoint.com":
        value = _param(url, "u")
        if value is not None:
            target = (
                unquote(value) if path.startswith("/v1/") else _proofpoint_v2(value)
            )
            service = "Proofpoint URL Defense"
    elif host == "urldefense.com":
        target, service = _proofpoint_v3(url), "Proofpoint URL Defense"
    elif (
        host.startswith("www.google.") or host.startswith("google.")
    ) and path == "/url":
        target, service = _param(url, "q", "url"), "Google redirect"
    elif host in ("l.facebook.com", "lm.facebook.com") and path.startswith("/l.php"):
        target, service = _param(url, "u"), "Facebook link shim"
    elif host.endswith("bing.com") and path.startswith("/ck/"):
        value = _param(url, "u")
        target, service = (_bing(value) if value else None), "Bing redirect"
    elif host.endswith(".page.link") or host.endswith(".app.goo.gl"):
        target, service = _param(url, "link"), "Firebase dynamic link"
    elif "mimecast" in host:
        target, service = _param(url, "url", "u"), "Mimecast"
    if not _is_absolute(target):
        target = None
        for name in _URL_PARAMS:
            value = _param(url, name)
            if _is_absolute(value):
                target, service = value, "open redirect"
                break
    if target is None or target == url:
        return None
    return target, service


def unwrap(url: str) -> Unwrapped:
    """Follow ``url`` through every wrapper whose target is written in it."""
    wrappers: list[str] = []
    services: list[str] = []
    current = url
    for _ in range(_MAX_DEPTH):
        step = unwrap_once(current)
        if step is None:
            break
        wrappers.append(current)
        services.append(step[1])
        current = step[0]
    return Unwrapped(current, tuple(wrappers), tuple(services))


# Services whose wrapper URL is the service's own, not the attacker's: the
# wrapper is set aside as context and only the target is proposed.
REWRITING_SERVICES = frozenset(
    {"Microsoft Safe Links", "Proofpoint URL Defense", "Google redirect",
     "Facebook link shim", "Bing redirect", "Mimecast"}
)  # fmt: skip
