"""Contributions: scrubbed before sharing, original kept for review, published."""

from __future__ import annotations

from fastapi.testclient import TestClient

from medisac.members.submissions import (
    SubmissionStatus,
    get_submission,
    list_submissions,
    publish,
    reject,
    source_name,
)
from tests.conftest import Store
from tests.helpers import provenance_of, records
from tests.members.conftest import add_member, bearer

STAFF = "j.alvarez@stmary-health.example"
PHONE = "(555) 201-7788"
MRN = "MRN: 00482913"
PATIENT = "Patient: Maria Gonzalez"
SENDER = "billing@invoice-portal.example"

REPORT = {
    "description": (
        f"Forwarded by our nurse manager ({STAFF}, {PHONE}). The message "
        f"referenced {MRN} and {PATIENT}, DOB: 04/12/1961, and asked her to "
        f"pay an invoice. The sender was {SENDER}."
    ),
    "tlp": "green",
    "indicators": [
        {"value": SENDER, "type": "email", "description": f"Sent to {STAFF}."},
        {"value": "hxxps://invoice-portal[.]example/pay", "confidence": 80},
    ],
    "email": {
        "headers": f"From: Billing <{SENDER}>\nTo: Jane Alvarez <{STAFF}>",
        "body": f"Dear Jane Alvarez,\nplease call {PHONE} about {MRN}.",
    },
}


def test_submission_stored_scrubbed(store: Store, client: TestClient) -> None:
    member = add_member(store, "St Mary Health")
    response = client.post(
        "/api/v1/submissions", json=REPORT, headers=bearer(member.submitter)
    )
    assert response.status_code == 202, response.text
    status = response.json()
    assert status["status"] == "pending"
    assert status["redactions"] >= 6
    with store.engine.connect() as conn:
        stored = get_submission(conn, status["id"])
    shared = str(stored.scrubbed)
    for secret in (STAFF, "(555) 201-7788", "00482913", "Maria Gonzalez", "1961"):
        assert secret not in shared, secret
    assert "Jane Alvarez" not in shared
    assert SENDER in shared
    assert "invoice-portal[.]example/pay" in shared
    # The review record keeps the original for the analyst.
    original = str(stored.original)
    assert STAFF in original
    assert "Maria Gonzalez" in original


def test_pending_until_accepted(store: Store, client: TestClient) -> None:
    member = add_member(store, "New Member")
    response = client.post(
        "/api/v1/submissions", json=REPORT, headers=bearer(member.submitter)
    )
    submission_id = response.json()["id"]
    assert records(store.engine) == set()
    with store.engine.connect() as conn:
        pending = list_submissions(conn)
    assert [item.id for item in pending] == [submission_id]
    accepted = publish(store.engine, submission_id, reviewer="analyst")
    assert accepted.status is SubmissionStatus.ACCEPTED
    assert accepted.published == 2
    assert records(store.engine) == {
        ("email", SENDER),
        ("url", "https://invoice-portal.example/pay"),
    }
    claims = provenance_of(store.engine, "email", SENDER)
    assert list(claims) == [source_name(member.org.id)]
    (claim,) = claims.values()
    assert member.org.id not in str(tuple(claim))
    assert STAFF not in str(tuple(claim))
    assert "Sent to [REDACTED:email]." in claim.context


def test_trusted_member_publishes_directly(store: Store, client: TestClient) -> None:
    member = add_member(store, "Trusted System", trusted=True)
    response = client.post(
        "/api/v1/submissions", json=REPORT, headers=bearer(member.submitter)
    )
    assert response.json()["status"] == "accepted"
    assert ("email", SENDER) in records(store.engine)


def test_rejected_submission_stores_nothing(store: Store, client: TestClient) -> None:
    member = add_member(store, "Rejected Member")
    response = client.post(
        "/api/v1/submissions", json=REPORT, headers=bearer(member.submitter)
    )
    submission_id = response.json()["id"]
    rejected = reject(store.engine, submission_id, "test data", reviewer="analyst")
    assert rejected.status is SubmissionStatus.REJECTED
    assert rejected.note == "test data"
    assert records(store.engine) == set()


def test_status_only_for_own_org(store: Store, client: TestClient) -> None:
    member = add_member(store, "Owner")
    other = add_member(store, "Other")
    response = client.post(
        "/api/v1/submissions", json=REPORT, headers=bearer(member.submitter)
    )
    path = f"/api/v1/submissions/{response.json()['id']}"
    assert client.get(path, headers=bearer(member.submitter)).status_code == 200
    assert client.get(path, headers=bearer(other.submitter)).status_code == 404


def test_invalid_submission_rejected(store: Store, client: TestClient) -> None:
    member = add_member(store, "Sloppy Member")
    headers = bearer(member.submitter)
    empty = client.post("/api/v1/submissions", json={"indicators": []}, headers=headers)
    assert empty.status_code == 422
    bad_tlp = client.post(
        "/api/v1/submissions",
        json={"indicators": [{"value": "198.51.100.9", "tlp": "purple"}]},
        headers=headers,
    )
    assert bad_tlp.status_code == 400
    assert "indicators[0].tlp" in bad_tlp.json()["description"]


def test_operator_key_cannot_submit(store: Store, client: TestClient) -> None:
    response = client.post(
        "/api/v1/submissions", json=REPORT, headers=bearer(store.operator_key)
    )
    assert response.status_code == 403
