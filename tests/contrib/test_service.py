"""Contributions in the store: drafts, visibility, scrubbing and one-pass review."""

from __future__ import annotations

from dataclasses import asdict
from email.message import EmailMessage
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from medisac.contrib.errors import (
    ContributionError,
    ContributionNotFound,
    ContributionTooLarge,
    DecisionError,
)
from medisac.contrib.service import (
    ItemDecision,
    decide,
    get_contribution,
    list_contributions,
    source_for,
    submit_email,
    submit_report,
)
from medisac.members.orgs import Org, add_org
from medisac.store.engine import begin_write
from medisac.store.tables import contribution_items, contributions, metadata
from tests.conftest import Store

RECIPIENT = "dana.reyes@valley-hospital.org"
NAME = "Dana Reyes"
MRN = "4458812"
ATTACKER = "admin@mailbox-quota.net"
PHISH_URL = "https://mailbox-quota.net/restore"

# Columns that hold the contribution as received, for analysts only.
RESTRICTED = {
    ("contributions", "original"),
    ("contributions", "analysis"),
    ("contribution_items", "context_original"),
}


def forwarded_phish() -> bytes:
    """Return a phishing message a member forwarded inline, with a signature."""
    message = EmailMessage()
    message["From"] = f"{NAME} <{RECIPIENT}>"
    message["To"] = "phish-report@exchange.example"
    message["Subject"] = "Fwd: Mailbox full"
    message.set_content(
        "Suspicious, please check.\n\n"
        "Thanks,\n"
        f"{NAME}\n"
        "IT Security, Valley Hospital\n\n"
        "---------- Forwarded message ---------\n"
        f"From: Mailbox Admin <{ATTACKER}>\n"
        "Date: Mon, 2 Nov 2026 09:14:00 +0000\n"
        "Subject: Mailbox full\n"
        f"To: {NAME} <{RECIPIENT}>\n\n"
        "Dear Dana,\n"
        "Your mailbox is full. Restore it at\n"
        f"hxxps://mailbox-quota[.]net/restore?user={RECIPIENT}\n"
        f"The scan of patient MRN: {MRN} is waiting.\n\n"
        "Regards,\nMailbox Admin\n"
    )
    return message.as_bytes()


def shared_text(store: Store) -> str:
    """Return every stored text except the restricted columns, as one string."""
    parts = []
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            columns = [
                column
                for column in table.columns
                if (table.name, column.name) not in RESTRICTED
                and isinstance(column.type, sa.String | sa.Text)
            ]
            if not columns:
                continue
            for row in conn.execute(sa.select(*columns)):
                parts.extend(str(value) for value in row if value is not None)
    return "\n".join(parts)


def test_email_draft(store: Store, member: Org) -> None:
    contribution_id = submit_email(
        store.engine, forwarded_phish(), filename="fwd.eml", org_id=member.id
    )
    view = get_contribution(store.engine, contribution_id, org_id=None)
    assert view is not None
    proposed = {item.value: item for item in view.items if item.proposal == "indicator"}
    assert ATTACKER in proposed
    assert PHISH_URL in proposed
    assert "query was removed" in proposed[PHISH_URL].reason
    assert view.summary.kind == "email"
    assert view.summary.status == "pending"


def test_recipient_never_shared(store: Store, member: Org) -> None:
    contribution_id = submit_email(
        store.engine, forwarded_phish(), filename="fwd.eml", org_id=member.id
    )
    view = get_contribution(store.engine, contribution_id, org_id=None)
    assert view is not None
    decide(
        store.engine,
        contribution_id,
        {item.id: ItemDecision("accept") for item in view.items},
        analyst="analyst-1",
    )
    text = shared_text(store)
    for secret in (RECIPIENT, NAME, "Reyes", MRN):
        assert secret not in text, secret


def test_member_view_scrubbed(store: Store, member: Org) -> None:
    contribution_id = submit_email(
        store.engine, forwarded_phish(), filename="fwd.eml", org_id=member.id
    )
    view = get_contribution(store.engine, contribution_id, org_id=member.id)
    assert view is not None
    dumped = orjson.dumps(
        {"analysis": view.analysis, "items": [asdict(item) for item in view.items]}
    ).decode()
    for secret in (RECIPIENT, NAME, "Reyes", MRN):
        assert secret not in dumped, secret
    assert view.original is None
    assert view.original_analysis is None


def test_analyst_keeps_original(store: Store, member: Org) -> None:
    data = forwarded_phish()
    contribution_id = submit_email(
        store.engine, data, filename="fwd.eml", org_id=member.id
    )
    view = get_contribution(store.engine, contribution_id, org_id=None)
    assert view is not None
    assert view.original == data
    assert view.original_analysis is not None
    assert RECIPIENT in orjson.dumps(view.original_analysis).decode()


def test_own_contributions_only(store: Store, member: Org) -> None:
    with begin_write(store.engine) as conn:
        other = add_org(conn, "Hill Clinic")
    mine = submit_email(
        store.engine, forwarded_phish(), filename="a.eml", org_id=member.id
    )
    assert [item.id for item in list_contributions(store.engine, org_id=other.id)] == []
    assert get_contribution(store.engine, mine, org_id=other.id) is None
    assert [item.id for item in list_contributions(store.engine)] == [mine]


def test_review_publishes(store: Store, member: Org) -> None:
    contribution_id = submit_email(
        store.engine, forwarded_phish(), filename="fwd.eml", org_id=member.id
    )
    view = get_contribution(store.engine, contribution_id, org_id=None)
    assert view is not None
    items = {item.value: item for item in view.items}
    decisions = {
        items[ATTACKER].id: ItemDecision("accept", confidence=85),
        items[PHISH_URL].id: ItemDecision("edit", value="hxxps://mailbox-quota[.]net/"),
    }
    rest = [item.id for item in view.items if item.id not in decisions]
    decisions.update({item_id: ItemDecision("reject") for item_id in rest})
    result = decide(store.engine, contribution_id, decisions, analyst="analyst-1")
    assert result.accepted == 1
    assert result.edited == 1
    assert result.rejected == len(rest)
    assert result.status == "reviewed"
    assert result.stored == 2
    with store.engine.connect() as conn:
        values = set(
            conn.execute(
                sa.text(
                    "SELECT i.value FROM indicators i JOIN provenance p "
                    "ON p.indicator_id = i.id JOIN sources s ON s.id = p.source_id "
                    "WHERE s.name = :name"
                ),
                {"name": source_for(contribution_id)},
            ).scalars()
        )
    assert values == {ATTACKER, "https://mailbox-quota.net/"}


def test_invalid_edit_changes_nothing(store: Store, member: Org) -> None:
    contribution_id = submit_email(
        store.engine, forwarded_phish(), filename="fwd.eml", org_id=member.id
    )
    view = get_contribution(store.engine, contribution_id, org_id=None)
    assert view is not None
    first, second = view.items[0], view.items[1]
    decisions = {
        first.id: ItemDecision("accept"),
        second.id: ItemDecision("edit", value="not a value at all", type="ipv4"),
    }
    with pytest.raises(DecisionError, match=f"item {second.id}"):
        decide(store.engine, contribution_id, decisions, analyst="analyst-1")
    with store.engine.connect() as conn:
        pending = conn.execute(
            sa.select(sa.func.count())
            .select_from(contribution_items)
            .where(contribution_items.c.decision != "pending")
        ).scalar_one()
    assert pending == 0


def test_decided_twice(store: Store) -> None:
    contribution_id = submit_email(
        store.engine, forwarded_phish(), filename="a.eml", org_id=None
    )
    view = get_contribution(store.engine, contribution_id, org_id=None)
    assert view is not None
    item = view.items[0].id
    decide(store.engine, contribution_id, {item: ItemDecision("reject")}, analyst="a")
    with pytest.raises(DecisionError, match="already rejected"):
        decide(
            store.engine, contribution_id, {item: ItemDecision("accept")}, analyst="a"
        )


def test_unknown_contribution(store: Store) -> None:
    with pytest.raises(ContributionNotFound):
        decide(store.engine, 999, {}, analyst="a")


def test_oversized_keeps_rest(
    store: Store, member: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = submit_email(
        store.engine, forwarded_phish(), filename="a.eml", org_id=member.id
    )
    huge = b"From: a@b.net\r\nSubject: big\r\n\r\n" + b"A" * (100 * 1024 * 1024)
    with pytest.raises(ContributionTooLarge, match=r"big\.eml"):
        submit_email(store.engine, huge, filename="big.eml", org_id=member.id)
    assert [item.id for item in list_contributions(store.engine)] == [kept]


def test_unknown_org(store: Store) -> None:
    with pytest.raises(ContributionError, match="org-nobody"):
        submit_email(
            store.engine, forwarded_phish(), filename="a.eml", org_id="org-nobody"
        )


def test_report_draft(store: Store, reports_dir: Path) -> None:
    name = "unit42_2022-04-14-IOCs-for-aa-Qakbot-with-Cobalt-Strike.txt"
    contribution_id = submit_report(
        store.engine, (reports_dir / name).read_bytes(), filename=name, org_id=None
    )
    view = get_contribution(store.engine, contribution_id, org_id=None)
    assert view is not None
    assert view.summary.format == "text"
    found = {item.value: item for item in view.items}
    assert found["47.158.25.67"].proposal == "indicator"
    assert "QakBot" in found["47.158.25.67"].related


def test_pdf_error_stores_nothing(store: Store) -> None:
    with pytest.raises(ContributionError, match=r"scan\.pdf"):
        submit_report(
            store.engine, b"%PDF-1.4\n%%EOF\n", filename="scan.pdf", org_id=None
        )
    with store.engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).select_from(contributions)
        ).scalar_one()
    assert count == 0


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_corpus_contributions(store: Store, eml_dir: Path, reports_dir: Path) -> None:
    for path in sorted(eml_dir.glob("*.eml")):
        submit_email(store.engine, path.read_bytes(), filename=path.name, org_id=None)
    for path in sorted(reports_dir.iterdir()):
        if path.name != "SOURCES.md":
            submit_report(
                store.engine, path.read_bytes(), filename=path.name, org_id=None
            )
    assert len(list_contributions(store.engine)) == 52 + 13


def test_malformed_mime_stored(store: Store) -> None:
    from tests.contrib.test_mail import MALFORMED

    contribution_id = submit_email(
        store.engine, MALFORMED, filename="broken.eml", org_id=None
    )
    view = get_contribution(store.engine, contribution_id, org_id=None)
    assert view is not None
    assert view.warnings
    values = {item.value for item in view.items}
    assert "https://hr-portal-update.net/reset" in values


def test_zip_bomb_stored(store: Store) -> None:
    from tests.contrib.test_mail import zip_bomb

    bomb = zip_bomb(32 * 1024 * 1024)
    message = EmailMessage()
    message["From"] = "Courier <track@parcel-notice.net>"
    message["To"] = RECIPIENT
    message["Subject"] = "Parcel"
    message.set_content("See the attached waybill.")
    message.add_attachment(
        bomb, maintype="application", subtype="zip", filename="waybill.zip"
    )
    contribution_id = submit_email(
        store.engine, message.as_bytes(), filename="bomb.eml", org_id=None
    )
    view = get_contribution(store.engine, contribution_id, org_id=None)
    assert view is not None
    attachment = view.analysis["attachments"][0]
    assert attachment["size"] == len(bomb)
    assert "never expanded" in attachment["note"]


def test_deep_nesting_rejected(store: Store, member: Org) -> None:
    message = b"From: a@example.org\r\nSubject: inner\r\n\r\nhello\r\n"
    for _ in range(3000):
        message = b"Content-Type: message/rfc822\r\n\r\n" + message
    with pytest.raises(ContributionError, match="nested too deeply"):
        submit_email(store.engine, message, filename="deep.eml", org_id=member.id)
    with store.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(contributions)).scalar()
            == 0
        )
