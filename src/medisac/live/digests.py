"""E-mail digests: what is new for one member, in plain language.

A digest lists the active healthcare indicators of high confidence that the
member may read and that were first published in the period, and the
vulnerabilities that newly affect products in its inventory. TLP:RED records
are never sent by e-mail, whatever the member may read elsewhere. Digests go
out over SMTP with STARTTLS (the server's certificate is checked), and a
server that offers no STARTTLS gets nothing.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from medisac.errors import ConfigError, MedisacError
from medisac.live.webhooks import ssl_context
from medisac.members.access import Audience
from medisac.members.orgs import Org, get_org
from medisac.model import TLP, State
from medisac.model.time import format_rfc3339, from_us, now_us
from medisac.settings import Settings
from medisac.store.tables import (
    digest_subscriptions,
    indicators,
    vuln_notifications,
    vulnerabilities,
)

log = logging.getLogger(__name__)

PERIODS = {"daily": 86_400, "weekly": 7 * 86_400}
# Confidence at which an indicator is worth a line in a digest.
HIGH_CONFIDENCE = 70
# Lines per section; the rest are counted.
MAX_LINES = 50
LEASE_US = 300 * 1_000_000


class DigestError(MedisacError):
    """A digest subscription is invalid or a digest cannot be sent."""


@dataclass(frozen=True, slots=True)
class Digest:
    """One member's digest for one period."""

    org_id: str
    subject: str
    text: str
    indicators: int
    vulnerabilities: int
    # The maximum TLP level of the records in the text.
    tlp: TLP


def subscribe(
    conn: Connection, org_id: str, recipients: list[str], frequency: str
) -> None:
    """Store where and how often ``org_id`` receives digests."""
    if frequency not in PERIODS:
        raise DigestError(f"frequency {frequency!r} is invalid; use daily or weekly")
    cleaned = [r.strip() for r in recipients if r.strip()]
    if not cleaned or any("@" not in r or "\n" in r or "," in r for r in cleaned):
        raise DigestError(
            "give one or more e-mail addresses such as soc@clinic.example"
        )
    values = {"recipients": ",".join(cleaned), "frequency": frequency}
    dc = digest_subscriptions.c
    changed = conn.execute(
        sa.update(digest_subscriptions).where(dc.org_id == org_id).values(**values)
    ).rowcount
    if not changed:
        now = now_us()
        conn.execute(
            sa.insert(digest_subscriptions).values(
                org_id=org_id, last_sent=now, leased_until=0, created=now, **values
            )
        )


def build_digest(conn: Connection, org: Org, since: int, until: int) -> Digest:
    """Write ``org``'s digest of what was published between two times (µs)."""
    audience = org.audience.narrowed(TLP.AMBER_STRICT)
    found = _indicators(conn, audience, since, until)
    vulns = _vulnerabilities(conn, org.id, since, until)
    tlp = max([TLP(row.tlp) for row in found], default=TLP.CLEAR)
    lines = [
        f"TLP:{tlp.label} - {_tlp_rule(tlp)}",
        "",
        f"What the exchange learned for {org.name} between "
        f"{format_rfc3339(since, digits=0)} and {format_rfc3339(until, digits=0)}.",
        "",
        f"New high-confidence indicators relevant to healthcare: {len(found)}",
    ]
    if found:
        lines.append("Block or watch for these in your firewall, DNS and mail filters:")
    for row in found[:MAX_LINES]:
        lines.append(
            f"  - {row.type} {row.value} (confidence {row.confidence}, "
            f"TLP:{TLP(row.tlp).label})"
        )
    if len(found) > MAX_LINES:
        lines.append(f"  ... and {len(found) - MAX_LINES} more in the member feeds")
    lines += ["", f"Newly known vulnerabilities in products you run: {len(vulns)}"]
    for row in vulns[:MAX_LINES]:
        title = row.title or "no title"
        known = " - exploited in the wild, patch first" if row.kev else ""
        lines.append(f"  - {row.cve}: {title}{known}")
    if not found and not vulns:
        lines += ["", "Nothing new reached the exchange for you in this period."]
    lines += [
        "",
        "This digest was sent because your organisation subscribed to it.",
    ]
    subject = (
        f"[TLP:{tlp.label}] medisac digest: {len(found)} indicators, "
        f"{len(vulns)} vulnerabilities"
    )
    return Digest(org.id, subject, "\n".join(lines) + "\n", len(found), len(vulns), tlp)


def _tlp_rule(tlp: TLP) -> str:
    if tlp <= TLP.CLEAR:
        return "may be shared without restriction."
    if tlp == TLP.GREEN:
        return "share within the healthcare community, not publicly."
    if tlp == TLP.AMBER:
        return "share only within your organisation and its clients, as needed."
    return "share only within your organisation, as needed."


def _indicators(
    conn: Connection, audience: Audience, since: int, until: int
) -> list[Any]:
    ic = indicators.c
    return list(
        conn.execute(
            sa.select(ic.type, ic.value, ic.confidence, ic.tlp)
            .where(
                ic.state == State.ACTIVE.value,
                ic.healthcare.is_(True),
                ic.confidence >= HIGH_CONFIDENCE,
                ic.created >= since,
                ic.created < until,
                ic.benign.is_(None),
                audience.condition(ic.tlp, ic.id),
            )
            .order_by(ic.confidence.desc(), ic.id)
        )
    )


def _vulnerabilities(
    conn: Connection, org_id: str, since: int, until: int
) -> list[Any]:
    vn, vc = vuln_notifications.c, vulnerabilities.c
    return list(
        conn.execute(
            sa.select(vc.cve, vc.title, vc.kev)
            .join(vulnerabilities, vc.cve == vn.cve)
            .where(vn.org_id == org_id, vn.created >= since, vn.created < until)
            .distinct()
            .order_by(vc.kev.desc(), vc.cve)
        )
    )


def message_for(digest: Digest, recipients: list[str], sender: str) -> EmailMessage:
    """Return the e-mail of ``digest``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = digest.subject
    message["Date"] = format_datetime(from_us(now_us()))
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message.set_content(digest.text)
    return message


def send_message(settings: Settings, message: EmailMessage) -> None:
    """Send ``message`` over SMTP after STARTTLS; raise :class:`DigestError`."""
    if not settings.smtp_host or not settings.smtp_from:
        raise ConfigError("set MEDISAC_SMTP_HOST and MEDISAC_SMTP_FROM to send digests")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise DigestError(
                    f"SMTP server {settings.smtp_host}:{settings.smtp_port} offers no "
                    "STARTTLS; digests are not sent in clear text"
                )
            smtp.starttls(context=ssl_context(settings))
            smtp.ehlo()
            if settings.smtp_user and settings.smtp_password is not None:
                smtp.login(settings.smtp_user, settings.smtp_password.reveal())
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise DigestError(
            f"sending to {settings.smtp_host}:{settings.smtp_port} failed: {exc}"
        ) from exc


class DigestSender:
    """Send the digests that are due; any number of workers may run one each."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def run_due(self, now: int | None = None, *, force: bool = False) -> int:
        """Send each due digest (every one with ``force``); return how many."""
        moment = now_us() if now is None else now
        dc = digest_subscriptions.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(digest_subscriptions)).all()
        sent = 0
        for row in rows:
            period = PERIODS[row.frequency] * 1_000_000
            if not force and row.last_sent + period > moment:
                continue
            with self.engine.begin() as conn:
                leased = conn.execute(
                    sa.update(digest_subscriptions)
                    .where(dc.org_id == row.org_id, dc.leased_until < moment)
                    .values(leased_until=moment + LEASE_US)
                ).rowcount
            if not leased:
                continue
            sent += self._send(row, moment)
        return sent

    def _send(self, row: Any, moment: int) -> int:
        dc = digest_subscriptions.c
        values: dict[str, Any] = {"leased_until": 0}
        try:
            with self.engine.connect() as conn:
                digest = build_digest(
                    conn, get_org(conn, row.org_id), row.last_sent, moment
                )
            recipients = row.recipients.split(",")
            send_message(
                self.settings, message_for(digest, recipients, self.settings.smtp_from)
            )
            values["last_sent"] = moment
            log.info(
                "sent the digest of %s: %d indicators, %d vulnerabilities",
                row.org_id,
                digest.indicators,
                digest.vulnerabilities,
            )
            return 1
        except MedisacError as exc:
            log.error("digest of %s not sent: %s", row.org_id, exc)
            return 0
        finally:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(digest_subscriptions)
                    .where(dc.org_id == row.org_id)
                    .values(**values)
                )
