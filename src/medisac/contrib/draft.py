"""Turn a read e-mail or report into a draft: proposals and a scrubbed view.

A draft lists every value found, each as a :class:`Proposal` that is either
an ``indicator`` (proposed for sharing) or ``context`` (set aside), with a
confidence, the reason, the text around it and the section it was in.

Values set aside as context, with the reason given:

- documentation and example values (``example.com``, ``.test``, ``.invalid``,
  RFC 5737 and RFC 3849 networks) and private, loopback or reserved addresses;
- values on the known-benign lists or the operator's allow list;
- in a report: the publisher's own domain and addresses, links in a
  references, sources or notes section, footnote lines, links to reference
  sites (ATT&CK, NVD, VirusTotal, ...), and links that exist only in the
  markup;
- in an e-mail: the wrapper URLs of link rewriters (Safe Links, URL Defense,
  Google), e-mail addresses written in the body, and hex strings in the body,
  which are tokens rather than file hashes;
- inline images attached to an e-mail (logos and tracking pixels).

Personal data never becomes a proposal: the addresses of the recipients and
of the member who forwarded the message are dropped. :func:`scrub_analysis`
redacts those addresses, the recipients' and the forwarder's names, their
mailbox names, and every personal or patient value that
:mod:`medisac.members.scrub` finds in any text, sparing the proposed
indicator values.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from medisac.contrib.extract import (
    Found,
    find_values,
    names_in,
    repair_breaks,
    window,
)
from medisac.contrib.links import REWRITING_SERVICES, unwrap
from medisac.contrib.mail import MailAnalysis
from medisac.contrib.reports import ReportText
from medisac.enrich.benign import KnownBenign
from medisac.errors import NormalizationError
from medisac.members.scrub import KeepSet, placeholder, scrub_text
from medisac.model.types import HASH_TYPES, IndicatorType
from medisac.normalize import normalize

INDICATOR = "indicator"
CONTEXT = "context"
MAX_TEXT_CHARS = 50_000
MAX_PROPOSALS = 2000

_EXAMPLE_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".local")
_EXAMPLE_DOMAINS = frozenset(
    {"example.com", "example.org", "example.net", "example.edu"}
)
_DOC_NETWORKS = tuple(
    ipaddress.ip_network(text)
    for text in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
# Sites reports cite for background. A link to one is a reference.
REFERENCE_HOSTS = frozenset(
    {"attack.mitre.org", "cve.mitre.org", "nvd.nist.gov", "virustotal.com",
     "malpedia.caad.fkie.fraunhofer.de", "github.com", "twitter.com", "x.com",
     "linkedin.com", "wikipedia.org", "learn.microsoft.com", "docs.microsoft.com",
     "msrc.microsoft.com", "cisa.gov", "us-cert.cisa.gov", "us-cert.gov", "ic3.gov",
     "fbi.gov", "bleepingcomputer.com", "medium.com", "youtube.com", "any.run",
     "app.any.run", "bazaar.abuse.ch", "urlhaus.abuse.ch", "threatfox.abuse.ch",
     "hybrid-analysis.com", "shodan.io", "censys.io", "mitre.org", "first.org",
     "tria.ge", "otx.alienvault.com", "exchange.xforce.ibmcloud.com",
     "web.archive.org", "archive.org", "doi.org", "google.com", "support.microsoft.com"}
)  # fmt: skip
_REFERENCE_SECTION = re.compile(
    r"\b(references?|sources?|footnotes?|notes|bibliography|further reading|links|"
    r"disclaimer|legal)\b",
    re.I,
)
# Words before a URL that cite it: "the full report is available (https://...)".
_CITATION = re.compile(
    r"\b(available|published|report|blog|article|see|read|source|according|"
    r"courtesy|more information|details|described|documented)\b[^\n]{0,80}$",
    re.I,
)
_IOC_SECTION = re.compile(
    r"\b(iocs?|indicators?|appendix|annex|hashes|observables|network|infrastructure|c2|samples?)\b",
    re.I,
)
_FOOTNOTE_LINE = re.compile(
    r"^\s*(?:\[\^?\d{1,3}\]:?|\^?\d{1,3}[.):]?\s|\(\d{1,3}\)\s)"
)
_PUBLISHER_LINE = re.compile(
    r"©|\(c\)\s*\d{4}|copyright|all rights reserved|contact us|contact the authors?|"
    r"please (?:e-?mail|contact|write)|queries|questions|feedback|visit us",
    re.I,
)
_FREE_MAIL = frozenset(
    {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com",
     "yahoo.com", "aol.com", "icloud.com", "me.com", "proton.me", "protonmail.com",
     "gmx.com", "gmx.de",
     "mail.ru", "yandex.com", "yandex.ru", "qq.com", "163.com", "zoho.com", "web.de",
     "msn.com", "aliyun.com", "tutanota.com"}
)  # fmt: skip
_NOT_A_NAME = frozenset(
    {
        "phishing",
        "info",
        "admin",
        "support",
        "contact",
        "noreply",
        "no-reply",
        "mail",
        "user",
    }
)


@dataclass
class Proposal:
    """One value found in a contribution, proposed or set aside, and why."""

    type: str
    value: str
    proposal: str
    confidence: int
    reason: str
    context: str = ""
    section: str = ""
    related: list[str] = field(default_factory=list)


@dataclass
class Draft:
    """A contribution's proposals, its analysis, and the personal values in it."""

    proposals: list[Proposal]
    analysis: dict[str, Any]
    personal_addresses: set[str] = field(default_factory=set)
    personal_names: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def _registered(host: str) -> str:
    parts = host.lower().rstrip(".").split(".")
    return ".".join(parts[-2:]) if len(parts) >= 2 else host


def _host_of(kind: str, value: str) -> str:
    if kind == IndicatorType.URL:
        try:
            from medisac.normalize import url_host

            return url_host(value).value.lower()
        except NormalizationError:
            return ""
    if kind == IndicatorType.EMAIL:
        return value.rpartition("@")[2].lower()
    if kind == IndicatorType.DOMAIN:
        return value.lower()
    return ""


def example_reason(kind: str, value: str) -> str | None:
    """Return why a value is a documentation or private value, or None."""
    if kind in (IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR):
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return None
        documentation = any(
            network.network_address in doc and network.broadcast_address in doc
            for doc in _DOC_NETWORKS
        )
        if documentation:
            return "a documentation address (RFC 5737 or RFC 3849), used as an example"
        if not network.network_address.is_global:
            return (
                "a private, loopback or reserved address, not reachable on the internet"
            )
        return None
    host = _host_of(kind, value)
    if not host:
        return None
    if (
        host in _EXAMPLE_DOMAINS
        or _registered(host) in _EXAMPLE_DOMAINS
        or host.endswith(_EXAMPLE_SUFFIXES)
    ):
        return "an example domain reserved for documentation (RFC 2606)"
    return None


def _benign_reason(benign: KnownBenign | None, kind: str, value: str) -> str | None:
    if benign is None:
        return None
    try:
        found = benign.match(IndicatorType(kind), value)
    except ValueError:
        return None
    return f"on the known-benign list {found!r}" if found else None


class _Collector:
    """Proposals keyed by (type, value), the strongest occurrence kept."""

    def __init__(self, benign: KnownBenign | None) -> None:
        self.benign = benign
        self.items: dict[tuple[str, str], Proposal] = {}

    def add(self, proposal: Proposal) -> None:
        if proposal.proposal == INDICATOR:
            reason = example_reason(proposal.type, proposal.value) or _benign_reason(
                self.benign, proposal.type, proposal.value
            )
            if reason is not None:
                proposal.proposal = CONTEXT
                proposal.reason = f"{reason}; found as {proposal.reason}"
        key = (proposal.type, proposal.value)
        current = self.items.get(key)
        if current is None:
            if len(self.items) < MAX_PROPOSALS:
                self.items[key] = proposal
            return
        if _rank(proposal) > _rank(current):
            proposal.related = list(dict.fromkeys(current.related + proposal.related))
            self.items[key] = proposal

    def result(self) -> list[Proposal]:
        return list(self.items.values())


def _rank(proposal: Proposal) -> tuple[int, int]:
    return (1 if proposal.proposal == INDICATOR else 0, proposal.confidence)


# -- e-mails ---------------------------------------------------------------------


def _email_proposal(
    address: str, confidence: int, reason: str, context: str
) -> Proposal | None:
    try:
        values = normalize(address, "email")
    except NormalizationError:
        return None
    return Proposal(
        "email", values[0].value, INDICATOR, confidence, reason, context, "headers"
    )


def draft_email(analysis: MailAnalysis, benign: KnownBenign | None) -> Draft:
    """Return the draft of a read e-mail."""
    collector = _Collector(benign)
    personal = {address.lower() for address in analysis.personal}
    body = analysis.text or analysis.html_text
    related = names_in(analysis.subject + "\n" + body[:MAX_TEXT_CHARS])[:5]

    _email_sender(analysis, collector, personal)
    _email_relay(analysis, collector)
    _email_links(analysis, collector)
    _email_attachments(analysis, collector)
    _email_text(analysis, collector, personal)

    proposals = collector.result()
    for proposal in proposals:
        if not proposal.related:
            proposal.related = list(related)
    return Draft(
        proposals,
        _email_analysis(analysis),
        set(personal),
        set(analysis.personal_names),
        list(analysis.warnings),
    )


def _email_sender(
    analysis: MailAnalysis, collector: _Collector, personal: set[str]
) -> None:
    """Propose the From, Reply-To and Return-Path addresses."""
    sender = analysis.sender
    if sender is not None and sender.address and sender.address.lower() not in personal:
        header = (
            f"From: {sender.name} <{sender.address}>"
            if sender.name
            else f"From: {sender.address}"
        )
        role = (
            "the sender (From) of the original message"
            if analysis.forwarded
            else "the sender (From) of the message"
        )
        confidence = 60
        results = analysis.authentication
        failed = sorted(
            method.upper()
            for method, result in results.items()
            if method in ("spf", "dkim", "dmarc") and result in ("fail", "softfail")
        )
        if failed:
            # The From domain did not vouch for the message, so the address
            # may be a spoofed bystander's rather than the attacker's.
            confidence = 45
            role += f"; {', '.join(failed)} failed, so it may be spoofed"
        elif results.get("dmarc") == "pass":
            # The From domain authenticated the message: its owner sent it.
            confidence = 70
            role += "; DMARC passed, so the domain's owner sent it"
        found = _email_proposal(sender.address, confidence, role, header)
        if found is not None:
            collector.add(found)
            domain = found.value.rpartition("@")[2]
            if domain not in _FREE_MAIL:
                collector.add(
                    Proposal(
                        "domain",
                        domain,
                        INDICATOR,
                        40,
                        "the domain of the sender address; senders are often spoofed",
                        header,
                        "headers",
                    )
                )

    for reply in analysis.reply_to:
        if reply.address.lower() in personal:
            continue
        found = _email_proposal(
            reply.address,
            70,
            "the Reply-To address, where answers go",
            f"Reply-To: {reply.address}",
        )
        if found is not None:
            collector.add(found)

    if analysis.return_path and analysis.return_path.lower() not in personal:
        found = _email_proposal(
            analysis.return_path,
            45,
            "the Return-Path (bounce) address",
            f"Return-Path: <{analysis.return_path}>",
        )
        if found is not None:
            collector.add(found)


def _email_relay(analysis: MailAnalysis, collector: _Collector) -> None:
    """Propose the address of the first external relay."""
    hop = analysis.first_external
    if hop is None or not hop.ip:
        return
    try:
        value = normalize(hop.ip)[0]
    except NormalizationError:
        return
    collector.add(
        Proposal(
            value.type.value,
            value.value,
            INDICATOR,
            50,
            "the first external relay in the Received chain: the earliest "
            "public address that handled the message",
            f"Received: from {hop.helo} [{hop.ip}] by {hop.by}",
            "headers",
        )
    )


def _url(value: str) -> str | None:
    try:
        return normalize(value, "url")[0].value
    except NormalizationError:
        return None


def _email_links(analysis: MailAnalysis, collector: _Collector) -> None:
    for link in analysis.links:
        chain = unwrap(link.url)
        where = {
            "href": "a link in the HTML body",
            "text": "a URL in the message text",
            "form": "a form's action",
            "refresh": "a meta refresh redirect",
            "script": "a script redirect",
            "frame": "an embedded frame",
            "image": "an image source (often a tracking pixel)",
        }.get(link.source, "a link")
        hidden = " that is hidden from the reader" if link.hidden else ""
        label = f"link text: {link.text}" if link.text else ""
        for wrapper, service in zip(chain.wrappers, chain.services, strict=True):
            value = _url(wrapper)
            if value is None:
                continue
            if service in REWRITING_SERVICES:
                collector.add(
                    Proposal(
                        "url",
                        value,
                        CONTEXT,
                        20,
                        f"{where}{hidden}, wrapped by {service}; "
                        "its target is proposed instead",
                        label,
                        "body",
                    )
                )
            else:
                collector.add(
                    Proposal(
                        "url",
                        value,
                        INDICATOR,
                        40,
                        f"{where}{hidden}: a {service} that forwards to another URL",
                        label,
                        "body",
                    )
                )
        target = _url(chain.url)
        if target is None:
            continue
        reason = f"{where}{hidden}"
        if chain.wrappers:
            reason += f", the target behind {', '.join(dict.fromkeys(chain.services))}"
        if link.source == "image" and not _is_address_host(target):
            # Lures load their logos from the brand's own servers.
            collector.add(
                Proposal(
                    "url",
                    target,
                    CONTEXT,
                    20,
                    f"{reason}; images are mostly logos on legitimate hosts",
                    label,
                    "body",
                )
            )
            continue
        confidence = 60
        if link.hidden or link.source in ("refresh", "script", "form", "image"):
            confidence += 10
        collector.add(
            Proposal("url", target, INDICATOR, confidence, reason, label, "body")
        )


def _is_address_host(url: str) -> bool:
    """Tell whether a URL's host is an IP address rather than a name."""
    host = _host_of(IndicatorType.URL, url).strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _email_attachments(analysis: MailAnalysis, collector: _Collector) -> None:
    for item in analysis.attachments:
        described = (
            f"{item.filename or '(no name)'}, {item.content_type}, {item.size:,} bytes"
        )
        inline_image = item.content_type.startswith("image/")
        for kind, value in (
            ("md5", item.md5),
            ("sha1", item.sha1),
            ("sha256", item.sha256),
        ):
            if inline_image:
                collector.add(
                    Proposal(
                        kind,
                        value,
                        CONTEXT,
                        20,
                        f"the {kind.upper()} of an image in the message "
                        "(a logo or tracking image)",
                        described,
                        "attachments",
                    )
                )
            else:
                note = f"; {item.note}" if item.note else ""
                collector.add(
                    Proposal(
                        kind,
                        value,
                        INDICATOR,
                        80,
                        f"the {kind.upper()} of an attachment{note}",
                        described,
                        "attachments",
                    )
                )
        if item.filename and not inline_image:
            try:
                name = normalize(item.filename, "filename")[0].value
            except NormalizationError:
                continue
            collector.add(
                Proposal(
                    "filename",
                    name,
                    INDICATOR,
                    40,
                    "the name of an attachment",
                    described,
                    "attachments",
                )
            )


def _email_text(
    analysis: MailAnalysis, collector: _Collector, personal: set[str]
) -> None:
    for part, text in (
        ("subject", analysis.subject),
        ("body", analysis.text),
        ("body", analysis.html_text),
    ):
        text = repair_breaks(text[:MAX_TEXT_CHARS])
        for found in find_values(text):
            if found.type is IndicatorType.EMAIL:
                if found.value in personal:
                    continue
                collector.add(
                    Proposal(
                        "email",
                        found.value,
                        CONTEXT,
                        20,
                        "an address written in the message; it may be a "
                        "person's, so it is not proposed",
                        window(text, found.start, found.end),
                        part,
                    )
                )
                continue
            context = window(text, found.start, found.end)
            if found.type in HASH_TYPES:
                collector.add(
                    Proposal(
                        found.type.value,
                        found.value,
                        CONTEXT,
                        10,
                        "a hex string in the message text, more likely a "
                        "token than a file hash",
                        context,
                        part,
                    )
                )
                continue
            if found.defanged:
                collector.add(
                    Proposal(
                        found.type.value,
                        found.value,
                        INDICATOR,
                        60,
                        f"a defanged value in the message {part}",
                        context,
                        part,
                    )
                )
            elif found.type is IndicatorType.URL:
                # Plain URLs of the bodies are among the links, where their
                # wrappers are followed. Those of the subject are not.
                if part == "subject":
                    collector.add(
                        Proposal(
                            "url",
                            found.value,
                            INDICATOR,
                            55,
                            "a URL in the message subject",
                            context,
                            part,
                        )
                    )
            else:
                collector.add(
                    Proposal(
                        found.type.value,
                        found.value,
                        INDICATOR,
                        40,
                        f"a {found.type.value} written in the message {part}",
                        context,
                        part,
                    )
                )


def _email_analysis(analysis: MailAnalysis) -> dict[str, Any]:
    hop = analysis.first_external
    return {
        "kind": "email",
        "subject": analysis.subject,
        "date": analysis.date,
        "message_id": analysis.message_id,
        "forwarded": analysis.forwarded,
        "sender": None if analysis.sender is None else asdict(analysis.sender),
        "reply_to": [asdict(item) for item in analysis.reply_to],
        "return_path": analysis.return_path,
        "recipients": [asdict(item) for item in analysis.recipients],
        "received": [asdict(item) for item in analysis.received],
        "first_external_relay": None if hop is None else asdict(hop),
        "authentication": dict(analysis.authentication),
        "text": analysis.text[:MAX_TEXT_CHARS],
        "html_text": analysis.html_text[:MAX_TEXT_CHARS],
        "links": [
            {
                "url": link.url,
                "target": unwrap(link.url).url,
                "source": link.source,
                "hidden": link.hidden,
                "text": link.text,
            }
            for link in analysis.links
        ],
        "attachments": [asdict(item) for item in analysis.attachments],
    }


# -- reports ---------------------------------------------------------------------


_COPYRIGHT_NAME = re.compile(
    r"(?:©|\(c\)|copyright)\s*(?:©\s*)?(?:\d{4}\s*)?"
    r"(?P<name>[A-Z][\w&-]*(?:\s+(?!All\b|Rights\b|Inc\b|Ltd\b)[A-Z][\w&-]*){0,2})"
)
_LINK_TYPES = (IndicatorType.URL, IndicatorType.EMAIL, IndicatorType.DOMAIN)


def _name_key(text: str) -> str:
    return "".join(char for char in text.lower() if char.isalnum())


def publisher_domains(text: str, given: Iterable[str] = ()) -> set[str]:
    """Return the registered domains of the report's publisher.

    They are the ``given`` ones, the domains of URLs and addresses on lines
    that look like a copyright or contact notice, and every domain in the
    text whose name is the name in a copyright notice ("© SEKOIA" gives
    ``sekoia.io``).
    """
    found = {_registered(domain.lower().strip()) for domain in given if domain.strip()}
    names = set()
    for line in text.splitlines():
        if not _PUBLISHER_LINE.search(line) or len(line) > 200:
            continue
        for match in _COPYRIGHT_NAME.finditer(line):
            key = _name_key(match.group("name"))
            if len(key) >= 3 and key not in ("all", "the"):
                names.add(key)
        for value in find_values(line):
            host = _host_of(value.type, value.value)
            if host and value.type in _LINK_TYPES:
                found.add(_registered(host))
    if names:
        for value in find_values(text):
            host = _host_of(value.type, value.value)
            label = _name_key(_registered(host).split(".")[0]) if host else ""
            if label and any(label.startswith(name) for name in names):
                found.add(_registered(host))
    return found


# Characters of a line read on each side of a value: enough for a footnote
# marker or a citing phrase, and bounded on text without line breaks.
_LINE_REACH = 300


def _line_of(text: str, offset: int) -> str:
    """Return the line around ``offset``, at most ``_LINE_REACH`` each side."""
    start = text.rfind("\n", max(0, offset - _LINE_REACH), offset) + 1
    start = max(start, offset - _LINE_REACH)
    end = text.find("\n", offset, offset + _LINE_REACH)
    return text[start : end if end >= 0 else min(len(text), offset + _LINE_REACH)]


def _report_proposal(
    found: Found, text: str, publishers: set[str], top_names: list[str]
) -> Proposal:
    context = window(text, found.start, found.end)
    related = (
        names_in(text[max(0, found.start - 400) : found.end + 400])[:5] or top_names
    )
    section = found.section
    host = _host_of(found.type, found.value)
    in_ioc_section = bool(section and _IOC_SECTION.search(section))
    where = f"in section {section!r}" if section else "in the text"

    def aside(reason: str, confidence: int = 20) -> Proposal:
        return Proposal(
            found.type.value,
            found.value,
            CONTEXT,
            confidence,
            reason,
            context,
            section,
            related,
        )

    if host and _registered(host) in publishers:
        return aside(f"the publisher's own domain, {where}")
    if (
        found.type in (IndicatorType.URL, IndicatorType.DOMAIN)
        and host
        and (host in REFERENCE_HOSTS or _registered(host) in REFERENCE_HOSTS)
        and not found.defanged
    ):
        return aside(f"a link to a reference site, {where}")
    linkish = found.type in (
        IndicatorType.URL,
        IndicatorType.DOMAIN,
        IndicatorType.EMAIL,
    )
    if (
        linkish
        and section
        and _REFERENCE_SECTION.search(section)
        and not in_ioc_section
        and not found.defanged
    ):
        return aside(f"a reference {where}")
    if found.type is IndicatorType.URL and not found.defanged:
        line = _line_of(text, found.start)
        if _FOOTNOTE_LINE.match(line):
            return aside(f"a footnote reference {where}")
        before = line[: line.find(found.raw)] if found.raw in line else ""
        if "|" not in line and _CITATION.search(before):
            return aside(f"a link the text cites as a source, {where}")
    confidence = 80 if in_ioc_section else 65
    if found.defanged:
        confidence += 10
    reason = "a defanged value" if found.defanged else f"a {found.type.value}"
    reason += f" {where}" + (", an indicator section" if in_ioc_section else "")
    return Proposal(
        found.type.value,
        found.value,
        INDICATOR,
        min(confidence, 95),
        reason,
        context,
        section,
        related,
    )


def draft_report(
    report: ReportText, benign: KnownBenign | None, publisher: Iterable[str] = ()
) -> Draft:
    """Return the draft of a report's text."""
    collector = _Collector(benign)
    text = repair_breaks(report.text)
    publishers = publisher_domains(text, publisher)
    counts = Counter(names_in(text))
    top_names = [name for name, _ in counts.most_common(3)]
    seen_urls: set[str] = set()
    for found in find_values(text):
        proposal = _report_proposal(found, text, publishers, top_names)
        if found.type is IndicatorType.URL:
            seen_urls.add(found.value)
        collector.add(proposal)
    for link in report.links:
        value = _url(link)
        if value is None or value in seen_urls:
            continue
        collector.add(
            Proposal(
                "url",
                value,
                CONTEXT,
                20,
                "a hyperlink in the report's markup, not written in its text "
                "(a reference)",
                "",
                "",
                top_names,
            )
        )
    analysis = {
        "kind": "report",
        "format": report.format,
        "title": report.title,
        "publisher_domains": sorted(publishers),
        "names": [name for name, _ in counts.most_common(10)],
        "text": text[:MAX_TEXT_CHARS],
    }
    return Draft(collector.result(), analysis, warnings=list(report.warnings))


# -- scrubbing -------------------------------------------------------------------


class Scrubber:
    """The redaction of a contribution's personal values in every text of its draft."""

    def __init__(self, draft: Draft) -> None:
        self.indicators = {
            proposal.value
            for proposal in draft.proposals
            if proposal.proposal == INDICATOR
            and proposal.value.lower() not in draft.personal_addresses
        }
        names = set(draft.personal_names)
        for address in draft.personal_addresses:
            local = address.partition("@")[0].split("+")[0]
            if len(local) >= 5 and local not in _NOT_A_NAME:
                names.add(local)
        words = sorted(
            (name.strip() for name in names if len(name.strip()) >= 3),
            key=len,
            reverse=True,
        )
        self.names = (
            re.compile(
                r"(?<!\w)(?:"
                + "|".join(re.escape(name) for name in words)
                + r")(?!\w)",
                re.I,
            )
            if words
            else None
        )
        self.addresses = (
            re.compile(
                "|".join(
                    re.escape(item)
                    for item in sorted(draft.personal_addresses, key=len, reverse=True)
                ),
                re.I,
            )
            if draft.personal_addresses
            else None
        )
        self.count = 0

    def text(self, text: str) -> str:
        if not text:
            return text
        if self.addresses is not None:
            text, count = self.addresses.subn(placeholder("email"), text)
            self.count += count
        if self.names is not None:
            text, count = self.names.subn(placeholder("name"), text)
            self.count += count
        result = scrub_text(text, self._keep(text))
        self.count += len(result.redactions)
        return result.text

    def _keep(self, text: str) -> KeepSet:
        """Return the proposed indicators that occur in ``text``.

        Building the keep set per text keeps the cost linear: a report with
        thousands of values would otherwise search every context for each.
        """
        return KeepSet(
            found.value for found in find_values(text) if found.value in self.indicators
        )

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return value


_SHARED_EMAIL_KEYS = (
    "kind",
    "subject",
    "date",
    "forwarded",
    "sender",
    "reply_to",
    "return_path",
    "first_external_relay",
    "authentication",
    "text",
    "html_text",
    "links",
    "attachments",
)


def scrub_analysis(draft: Draft, scrubber: Scrubber) -> dict[str, Any]:
    """Return the analysis with personal data removed, for the member and sharing.

    Recipients, the message id and the relays inside the recipient's network
    are left out of an e-mail's analysis, because they name the member's
    people and systems.
    """
    analysis = draft.analysis
    if analysis.get("kind") == "email":
        shared = {key: analysis.get(key) for key in _SHARED_EMAIL_KEYS}
        shared["recipients"] = len(analysis.get("recipients") or [])
        shared["links"] = [
            link for link in analysis.get("links") or [] if link.get("url")
        ]
        return dict(scrubber.value(shared))
    return dict(scrubber.value(analysis))


def shared_proposal(proposal: Proposal, scrubber: Scrubber) -> dict[str, Any]:
    """Return a proposal as a member may read it: its context scrubbed."""
    value = proposal.value
    if proposal.type == "email" and proposal.proposal == CONTEXT:
        value = placeholder("email")
    return {
        "type": proposal.type,
        "value": value,
        "proposal": proposal.proposal,
        "confidence": proposal.confidence,
        "reason": proposal.reason,
        "context": scrubber.text(proposal.context),
        "section": scrubber.text(proposal.section),
        "related": proposal.related,
    }


def without_personal(
    proposal: Proposal, personal: set[str], names: set[str]
) -> Proposal:
    """Cut the query and fragment off a URL that carries a personal value.

    NOTE: only plain and percent-encoded spellings are found; an address
    written in base64 or another encoding inside the URL stays.
    """
    if proposal.type != "url" or not (personal or names):
        return proposal
    lowered = proposal.value.lower()
    needles = {item.lower() for item in personal} | {
        item.lower() for item in names if len(item) >= 3
    }
    needles |= {item.replace("@", "%40") for item in needles}
    if not any(needle in lowered for needle in needles):
        return proposal
    base = re.split(r"[?#]", proposal.value, maxsplit=1)[0]
    if any(needle in base.lower() for needle in needles):
        base = base[: base.find("/", base.find("//") + 2) + 1] or base
    proposal.value = base
    proposal.reason += (
        "; the query was removed because it carried the recipient's address or name"
    )
    return proposal


def shared_form(
    draft: Draft,
) -> tuple[Scrubber, dict[str, Any], list[dict[str, Any]]]:
    """Drop personal proposals from ``draft`` and return its shareable form.

    Proposals whose value is a recipient's or the forwarder's address are
    removed, and URLs that carry one lose their query. Returns the scrubber
    (with its redaction count), the scrubbed analysis, and each remaining
    proposal as a member may read it, in the order of ``draft.proposals``.
    """
    personal = draft.personal_addresses
    draft.proposals = [
        without_personal(proposal, personal, draft.personal_names)
        for proposal in draft.proposals
        if proposal.value.lower() not in personal
    ]
    scrubber = Scrubber(draft)
    scrubbed = scrub_analysis(draft, scrubber)
    shared = [shared_proposal(proposal, scrubber) for proposal in draft.proposals]
    return scrubber, scrubbed, shared
