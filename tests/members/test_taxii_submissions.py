"""Members add STIX objects over TAXII 2.1 and follow the status resource."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
from taxii2client.exceptions import AccessError
from taxii2client.v21 import Collection, Status

from medisac.members.submissions import get_submission, publish
from medisac.server import create_app
from medisac.settings import Settings
from medisac.taxii.media import TAXII_MEDIA_TYPE
from tests.conftest import Store
from tests.helpers import records, serving
from tests.members.conftest import add_member

SUBMISSIONS = "5c3b0f0e-6d1a-4f0b-9a57-2f7d8c1e4b90"
STAFF = "r.okafor@riverside-health.example"


def envelope() -> dict[str, object]:
    return {
        "objects": [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.uuid4()}",
                "created": "2026-12-01T10:00:00.000Z",
                "modified": "2026-12-01T10:00:00.000Z",
                "pattern": "[domain-name:value = 'payroll-update.example.net']",
                "pattern_type": "stix",
                "valid_from": "2026-12-01T10:00:00Z",
                "description": f"Phishing sent to {STAFF}, call 555-201-3344.",
            }
        ]
    }


def test_add_objects_and_follow_status(store: Store, tmp_path: Path) -> None:
    member = add_member(store, "Riverside Health")
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with serving(app) as base:
        url = f"{base}/taxii2/api/collections/{SUBMISSIONS}/"
        target = Collection(url, user=member.org.id, password=member.submitter)
        assert target.can_write is True
        assert target.can_read is False
        status = target.add_objects(envelope(), wait_for_completion=False)
        assert status.status == "pending"
        assert status.total_count == 1
        assert status.pending_count == 1
        assert records(store.engine) == set()

        with store.engine.connect() as conn:
            stored = get_submission(conn, status.id)
        assert STAFF not in str(stored.scrubbed)
        assert "555-201-3344" not in str(stored.scrubbed)
        assert STAFF in str(stored.original)

        publish(store.engine, status.id, reviewer="analyst")
        again = Status(
            f"{base}/taxii2/api/status/{status.id}/",
            user=member.org.id,
            password=member.submitter,
        )
        assert again.status == "complete"
        assert again.success_count == 1
        assert records(store.engine) == {("domain", "payroll-update.example.net")}


def test_reader_key_cannot_add(store: Store) -> None:
    member = add_member(store, "Reader Clinic")
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with serving(app) as base:
        url = f"{base}/taxii2/api/collections/{SUBMISSIONS}/"
        target = Collection(url, user=member.org.id, password=member.reader)
        assert target.can_write is False
        with pytest.raises(AccessError):
            target.add_objects(envelope(), wait_for_completion=False)
        refused = requests.post(
            f"{url}objects/",
            json=envelope(),
            auth=(member.org.id, member.reader),
            headers={
                "Accept": TAXII_MEDIA_TYPE,
                "Content-Type": TAXII_MEDIA_TYPE,
            },
            timeout=30,
        )
        assert refused.status_code == 403
        indicators = Collection(
            f"{base}/taxii2/api/collections/c12f9c5b-aebf-420e-8d9a-c760e5a6bbe9/",
            user=member.org.id,
            password=member.submitter,
        )
        with pytest.raises(AccessError):
            indicators.add_objects(envelope(), wait_for_completion=False)


def test_status_hidden_from_other_orgs(store: Store) -> None:
    owner = add_member(store, "Owner Hospital")
    other = add_member(store, "Other Hospital")
    app = create_app(store.engine, Settings.from_env(db=store.url))
    with serving(app) as base:
        url = f"{base}/taxii2/api/collections/{SUBMISSIONS}/"
        status = Collection(
            url, user=owner.org.id, password=owner.submitter
        ).add_objects(envelope(), wait_for_completion=False)
        with pytest.raises(requests.HTTPError, match="404"):
            Status(
                f"{base}/taxii2/api/status/{status.id}/",
                user=other.org.id,
                password=other.submitter,
            )
