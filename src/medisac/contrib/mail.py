"""Read a phishing e-mail (RFC 822 / MIME) with the standard library.

:func:`read_email` parses the bytes with :mod:`email` and ``policy.default``.
It returns a :class:`MailAnalysis` with the sender fields, the ``Received``
chain and its first external relay, ``Authentication-Results``, the plain
and HTML bodies with their links, and each attachment's name, type, size
and MD5, SHA-1 and SHA-256. Attachments are hashed and never opened,
expanded or executed. A ZIP attachment's directory is not read either, so a
compression bomb costs only the bytes of its hash.

A forwarded phishing message is analysed as the original: when the message
carries a ``message/rfc822`` part, that part is the original and the outer
message is the member's forwarding envelope. Without one, a forwarded block
in the body (``---------- Forwarded message ---------``, ``Begin forwarded
message:``, ``-----Original Message-----``) gives the original's ``From``.
The envelope's addresses and display names are the member's, so they are
returned in :attr:`MailAnalysis.personal` for scrubbing and never proposed.

Damaged MIME is read as far as Python's parser gets, and each defect it
reports is listed in :attr:`MailAnalysis.warnings`. The tests feed the corpus
and generated fragments of broken MIME through it without an exception.
"""

from __future__ import annotations

import codecs
import email
import hashlib
import ipaddress
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.utils import getaddresses, parseaddr

from medisac.contrib.links import HtmlLink, HtmlText

log = logging.getLogger(__name__)

_RECEIVED_FROM = re.compile(
    r"\bfrom\s+(?P<helo>[^\s;()]+)?(?P<rest>.*?)(?=\bby\b|;|$)", re.I | re.S
)
_RECEIVED_BY = re.compile(r"\bby\s+(?P<by>[^\s;()]+)", re.I)
_BRACKET_IP = re.compile(r"\[(?:IPv6:)?(?P<ip>[0-9A-Fa-f:.]+)\]")
_BARE_IP = re.compile(r"\b(?P<ip>\d{1,3}(?:\.\d{1,3}){3})\b")
_AUTH_RESULT = re.compile(
    r"\b(?P<method>spf|dkim|dmarc|arc|compauth)\s*=\s*(?P<result>[A-Za-z]+)", re.I
)
_FORWARD_MARKER = re.compile(
    r"^[ >]*(?:-{2,}\s*(?:Forwarded message|Original Message|Mensaje reenviado|"
    r"Message transféré|Weitergeleitete Nachricht|Mensagem encaminhada)\s*-{2,}|"
    r"Begin forwarded message:)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_FORWARD_FROM = re.compile(
    r"^[ >*]*(?:From|De|Von|Da|Van)\s*:\s*\**(?P<value>.+?)\**\s*$", re.I | re.M
)
_FORWARD_TO = re.compile(
    r"^[ >*]*(?:To|Cc|Para|An|À|A)\s*:\s*\**(?P<value>[^\n]+?)\**\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_OUTLOOK_BLOCK = re.compile(
    r"^[ >*]*(?:From|De|Von)\s*:\s*\**(?P<value>[^\n]+?)\**\s*\n"
    r"[ >*]*(?:Sent|Enviado|Envoyé|Gesendet|Date)\s*:",
    re.IGNORECASE | re.MULTILINE,
)
_MAX_HEADER_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Hop:
    """One ``Received`` header: the relay that handed the message on."""

    helo: str
    ip: str
    by: str
    external: bool


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment's name, media type, size and hashes; its bytes stay closed."""

    filename: str
    content_type: str
    size: int
    md5: str
    sha1: str
    sha256: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Address:
    """A display name and an address from one header."""

    name: str
    address: str


@dataclass
class MailAnalysis:
    """The values read from one message, as the module's description lists them."""

    subject: str = ""
    date: str = ""
    message_id: str = ""
    sender: Address | None = None
    reply_to: list[Address] = field(default_factory=list)
    return_path: str = ""
    recipients: list[Address] = field(default_factory=list)
    received: list[Hop] = field(default_factory=list)
    first_external: Hop | None = None
    authentication: dict[str, str] = field(default_factory=dict)
    text: str = ""
    html_text: str = ""
    links: list[HtmlLink] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: bool = False
    personal: set[str] = field(default_factory=set)
    personal_names: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def _header(message: Message, name: str) -> str:
    """Return one header as text, decoded, or '' when it is missing or broken."""
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError, AttributeError) as exc:
        log.debug("header %s could not be parsed: %s", name, exc)
        raw = message.get_all(name, failobj=[]) if hasattr(message, "get_all") else []
        value = raw[0] if raw else None
    if value is None:
        return ""
    return str(value)[:_MAX_HEADER_CHARS]


def _all_headers(message: Message, name: str) -> list[str]:
    try:
        return [
            str(value)[:_MAX_HEADER_CHARS]
            for value in message.get_all(name, failobj=[])
        ]
    except (ValueError, TypeError, IndexError, AttributeError):
        raw = getattr(message, "_headers", [])
        return [str(value) for key, value in raw if key.lower() == name.lower()]


def _addresses(text: str) -> list[Address]:
    found = []
    for name, address in getaddresses([text]):
        address = address.strip()
        if "<" in address:
            # An encoded word that held a whole "Name <address>" decodes to one.
            name, address = parseaddr(address)
        if "@" in address or name.strip():
            found.append(Address(name.strip(), address))
    return found


def _decode_payload(part: Message, warnings: list[str]) -> str:
    """Return a text part's body, decoded from its transfer encoding and charset."""
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError) as exc:
        warnings.append(f"a text part could not be decoded: {exc}")
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    if not isinstance(payload, bytes):
        return str(payload)
    charset = _charset(part)
    try:
        return payload.decode(charset, errors="replace")
    except (LookupError, UnicodeError):
        return payload.decode("utf-8", errors="replace")


def _charset(part: Message) -> str:
    try:
        charset = part.get_content_charset() or "utf-8"
    except (ValueError, TypeError):
        return "utf-8"
    charset = charset.strip().strip("\"'").lower()
    try:
        codecs.lookup(charset)
    except LookupError:
        return "latin-1"
    return charset


def _is_external(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return address.is_global


def _hops(message: Message) -> list[Hop]:
    hops = []
    # Received headers are prepended, so the list reads from the recipient's
    # server back to the sender's.
    for header in _all_headers(message, "Received"):
        flat = " ".join(header.split())
        match = _RECEIVED_FROM.search(flat)
        if match is None:
            continue
        helo = match.group("helo") or ""
        rest = match.group("rest") or ""
        ip_match = _BRACKET_IP.search(rest) or _BARE_IP.search(rest)
        ip = ip_match.group("ip") if ip_match else ""
        by_match = _RECEIVED_BY.search(flat)
        hops.append(
            Hop(helo, ip, by_match.group("by") if by_match else "", _is_external(ip))
        )
    return hops


def _authentication(message: Message) -> dict[str, str]:
    results: dict[str, str] = {}
    for header in _all_headers(message, "Authentication-Results"):
        for match in _AUTH_RESULT.finditer(header):
            results.setdefault(
                match.group("method").lower(), match.group("result").lower()
            )
    for header in _all_headers(message, "Received-SPF"):
        word = header.split(None, 1)[0].lower() if header.split() else ""
        if word:
            results.setdefault("spf", word)
    return results


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except (ValueError, TypeError, IndexError, AttributeError):
        name = None
    return str(name or "")


def _attachment(part: Message, warnings: list[str]) -> Attachment:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError) as exc:
        warnings.append(f"attachment {_filename(part)!r} could not be decoded: {exc}")
        data = None
    if not isinstance(data, bytes):
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    content_type = part.get_content_type()
    note = ""
    name = _filename(part)
    if content_type in (
        "application/zip",
        "application/x-zip-compressed",
    ) or name.lower().endswith(".zip"):
        note = "archive: hashed only, never expanded"
    return Attachment(
        filename=name,
        content_type=content_type,
        size=len(data),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        note=note,
    )


def _inner_message(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, Message):
        return payload
    return None


_MAX_PARTS = 1000


def _parts(message: Message) -> Iterator[Message]:
    """Yield the leaf parts of ``message`` and its attached messages.

    Unlike :meth:`Message.walk`, this does not descend into an attached
    message, whose parts belong to the original, not to the envelope.
    """
    stack = [message]
    count = 0
    while stack and count < _MAX_PARTS:
        part = stack.pop()
        count += 1
        if part.get_content_type() == "message/rfc822" or not part.is_multipart():
            yield part
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend(
                item for item in reversed(payload) if isinstance(item, Message)
            )


def _walk(message: Message, analysis: MailAnalysis) -> Message | None:
    """Collect bodies and attachments; return the first attached message."""
    attached: Message | None = None
    texts: list[str] = []
    htmls: list[str] = []
    for part in _parts(message):
        content_type = part.get_content_type()
        if content_type.startswith("message/"):
            inner = _inner_message(part)
            if inner is not None:
                attached = attached or inner
                continue
        disposition = (part.get_content_disposition() or "").lower()
        if disposition != "attachment" and content_type == "text/plain":
            texts.append(_decode_payload(part, analysis.warnings))
        elif disposition != "attachment" and content_type == "text/html":
            htmls.append(_decode_payload(part, analysis.warnings))
        else:
            analysis.attachments.append(_attachment(part, analysis.warnings))

    analysis.text = "\n".join(texts)
    links: list[HtmlLink] = []
    visible: list[str] = []
    for markup in htmls:
        parsed = HtmlText.read(markup)
        links.extend(parsed.links)
        visible.append(parsed.text)
    analysis.html_text = "\n".join(visible)
    for match in re.finditer(r"\bhttps?://[^\s<>\"'`\]]+", analysis.text, re.I):
        links.append(HtmlLink(match.group().rstrip(".,;:!?)"), "text", False))
    analysis.links = _unique(links)
    return attached


def _unique(links: list[HtmlLink]) -> list[HtmlLink]:
    """Return one link per URL, preferring markup over a URL in the text."""
    found: dict[str, HtmlLink] = {}
    for link in links:
        current = found.get(link.url)
        if (
            current is None
            or (current.source == "text" and link.source != "text")
            or (link.hidden and not current.hidden)
        ):
            found[link.url] = link
    return list(found.values())


def _headers_into(message: Message, analysis: MailAnalysis) -> None:
    analysis.subject = " ".join(_header(message, "Subject").split())
    analysis.date = _header(message, "Date")
    analysis.message_id = _header(message, "Message-ID").strip()
    senders = _addresses(_header(message, "From"))
    analysis.sender = senders[0] if senders else None
    analysis.reply_to = _addresses(_header(message, "Reply-To"))
    analysis.return_path = parseaddr(_header(message, "Return-Path"))[1]
    analysis.received = _hops(message)
    external = [hop for hop in analysis.received if hop.external]
    # Relays prepend their Received header, so the last hop with a public
    # address is the earliest one: the sender's side, not the recipient's.
    # NOTE: a forged Received header below the real ones moves this hop.
    analysis.first_external = external[-1] if external else None
    analysis.authentication = _authentication(message)


def _recipients(message: Message) -> list[Address]:
    """Return the recipients' addresses and names: the member's personal data.

    A ``To`` address equal to ``From`` is the sender's own, written there to
    hide the real recipients, unless a delivery header names it too.
    """
    found: list[Address] = []
    senders = {item.address.lower() for item in _addresses(_header(message, "From"))}
    delivered = set()
    for name in (
        "Delivered-To",
        "X-Original-To",
        "Envelope-To",
        "X-Forwarded-To",
        "X-Forwarded-For",
    ):
        for header in _all_headers(message, name):
            for word in header.replace(",", " ").split():
                address = parseaddr(word)[1]
                if "@" in address:
                    delivered.add(address.lower())
                    found.append(Address("", address))
    for name in ("To", "Cc", "Bcc", "Disposition-Notification-To"):
        for header in _all_headers(message, name):
            for item in _addresses(header):
                lowered = item.address.lower()
                if name == "To" and lowered in senders and lowered not in delivered:
                    continue
                found.append(item)
    return found


def _defects(message: Message) -> list[str]:
    found = []
    for part in message.walk():
        for defect in getattr(part, "defects", []):
            found.append(f"{part.get_content_type()}: {type(defect).__name__}")
    return found


def _inline_original(text: str) -> Address | None:
    """Return the ``From`` of a forwarded block written into the body."""
    marker = _FORWARD_MARKER.search(text)
    if marker is not None:
        match = _FORWARD_FROM.search(text, marker.end())
        if match is not None:
            found = _addresses(match.group("value"))
            if found and "@" in found[0].address:
                return found[0]
    outlook = _OUTLOOK_BLOCK.search(text)
    if outlook is not None:
        found = _addresses(outlook.group("value"))
        if found and "@" in found[0].address:
            return found[0]
    return None


def _from_attached(
    message: Message, attached: Message, envelope: MailAnalysis
) -> MailAnalysis:
    """Return the analysis of a forwarded original attached as message/rfc822."""
    analysis = MailAnalysis(warnings=list(envelope.warnings))
    analysis.forwarded = True
    analysis.warnings.extend(_defects(attached)[:50])
    _headers_into(attached, analysis)
    _walk(attached, analysis)
    # The envelope's own files and links travel with the original's.
    analysis.attachments = envelope.attachments + analysis.attachments
    analysis.links = _unique(analysis.links + envelope.links)
    analysis.text = "\n".join(filter(None, [analysis.text, envelope.text]))
    analysis.html_text = "\n".join(
        filter(None, [analysis.html_text, envelope.html_text])
    )

    inner = {
        item.address.lower() for item in [analysis.sender, *analysis.reply_to] if item
    }
    for address in _addresses(_header(message, "From")):
        if address.address.lower() in inner:
            # A filter's wrapper (a spam report) that keeps the original From.
            continue
        analysis.personal.add(address.address.lower())
        if address.name:
            analysis.personal_names.add(address.name)
    analysis.recipients = _recipients(attached) + _recipients(message)
    return analysis


def _inline_recipients(text: str) -> list[Address]:
    """Return the To and Cc addresses of a forwarded block in the body."""
    marker = _FORWARD_MARKER.search(text) or _OUTLOOK_BLOCK.search(text)
    if marker is None:
        return []
    found = []
    for match in _FORWARD_TO.finditer(text, marker.start()):
        found.extend(_addresses(match.group("value")))
    return found


def _forwarded_inline(analysis: MailAnalysis, original: Address) -> None:
    """Make the original's sender the sender, and the envelope personal."""
    analysis.forwarded = True
    if analysis.sender is not None:
        analysis.personal.add(analysis.sender.address.lower())
        if analysis.sender.name:
            analysis.personal_names.add(analysis.sender.name)
    analysis.sender = original
    # The envelope's reply and bounce addresses are the member's too.
    analysis.personal.update(item.address.lower() for item in analysis.reply_to)
    analysis.reply_to = []
    analysis.personal.add(analysis.return_path.lower())
    analysis.return_path = ""
    analysis.first_external = None
    analysis.authentication = {}
    for text in (analysis.text, analysis.html_text):
        analysis.recipients.extend(_inline_recipients(text))


def read_email(data: bytes) -> MailAnalysis:
    """Parse one RFC 822 message; see the module's description."""
    message = email.message_from_bytes(data, policy=policy.default)
    analysis = MailAnalysis()
    analysis.warnings.extend(_defects(message)[:50])
    if not message.keys():
        analysis.warnings.append(
            "no header fields were found; is this an RFC 822 message?"
        )

    attached = _walk(message, analysis)
    if attached is not None:
        analysis = _from_attached(message, attached, analysis)
    else:
        _headers_into(message, analysis)
        analysis.recipients = _recipients(message)
        original = _inline_original(analysis.text) or _inline_original(
            analysis.html_text
        )
        if original is not None:
            _forwarded_inline(analysis, original)

    for recipient in analysis.recipients:
        if recipient.address:
            analysis.personal.add(recipient.address.lower())
        if recipient.name and "@" not in recipient.name:
            analysis.personal_names.add(recipient.name)
    analysis.personal.discard("")
    if (
        analysis.sender is not None
        and analysis.sender.address.lower() in analysis.personal
    ):
        # A message the recipient sent to itself: keep the address private.
        analysis.sender = Address("", "")
    return analysis
