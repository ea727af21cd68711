"""Sightings and false-positive reports from members, and what they change.

- A **sighting** confirms that a member saw an indicator in its own network.
  It is stored, and the member's pseudonymous source (the one its
  submissions use) claims the value, so the scoring counts it as one more
  independent source and the confidence rises.
- A **false-positive report** states that the value is legitimate. When reports
  from :data:`WITHDRAW_AFTER` different organisations stand, the indicator
  is withdrawn (marked false positive) until an analyst decides; the
  reports stay pending for that review.

Other members only ever see aggregated counts
(:func:`medisac.members.lookup.community_counts`).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from medisac.enrich.marks import mark_false_positive
from medisac.errors import MedisacError
from medisac.ingest.pipeline import IngestRequest, ingest
from medisac.ingest.submission import FORMAT as SUBMISSION_FORMAT
from medisac.members import audit
from medisac.members.lookup import find_visible, parse_value
from medisac.members.orgs import Org
from medisac.members.sightings import Report, ReportKind, ReportStatus, record_reports
from medisac.members.submissions import source_name
from medisac.model import State
from medisac.model.time import format_rfc3339, now_us
from medisac.store.engine import begin_write
from medisac.store.tables import sightings

log = logging.getLogger(__name__)

# Independent organisations whose false-positive reports withdraw a value.
WITHDRAW_AFTER = 2
# Confidence of the claim a member's sighting makes.
SIGHTING_CONFIDENCE = 70


class UnknownIndicator(MedisacError):
    """The reported value is not an indicator the reporter may read."""


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """The effect of one report."""

    indicator_id: int
    stix_id: str
    withdrawn: bool = False


def report(
    engine: Engine,
    org: Org,
    key_id: int | None,
    value: str,
    kind: ReportKind,
    *,
    type_name: str | None = None,
    count: int = 1,
    first_seen: int | None = None,
    last_seen: int | None = None,
    origin: str = "api",
) -> ReportOutcome:
    """Record one member's report on ``value`` and apply its effect."""
    wanted = parse_value(value, type_name)
    audience = org.audience
    with engine.connect() as conn:
        rows = find_visible(conn, wanted, audience)
    if not rows:
        raise UnknownIndicator(
            f"{value!r} is not an indicator of this exchange that your "
            "organisation may read"
        )
    row = rows[0]
    now = now_us()
    first = first_seen or now
    last = max(last_seen or first, first)
    with begin_write(engine) as conn:
        record_reports(
            conn,
            [
                Report(
                    indicator_id=row.id,
                    kind=kind,
                    first_seen=first,
                    last_seen=last,
                    origin=origin,
                    org_id=org.id,
                    count=count,
                    status=ReportStatus.ACCEPTED
                    if kind is ReportKind.SIGHTING
                    else ReportStatus.PENDING,
                )
            ],
        )
        audit.record(
            conn,
            f"report.{kind.value}",
            row.stix_id,
            org_id=org.id,
            key_id=key_id,
            detail={"count": count},
        )
        withdrawn = False
        if kind is ReportKind.FALSE_POSITIVE:
            withdrawn = _withdraw_if_reported(conn, row.id, row.stix_id, row.state)
    if kind is ReportKind.SIGHTING:
        _claim_sighting(engine, org, row.type, row.value, first, last)
    return ReportOutcome(indicator_id=row.id, stix_id=row.stix_id, withdrawn=withdrawn)


def _withdraw_if_reported(
    conn: sa.Connection, indicator_id: int, stix_id: str, state: str
) -> bool:
    sc = sightings.c
    reporters = conn.execute(
        sa.select(sa.func.count(sa.distinct(sc.org_id))).where(
            sc.indicator_id == indicator_id,
            sc.kind == ReportKind.FALSE_POSITIVE.value,
            sc.status == ReportStatus.PENDING.value,
        )
    ).scalar_one()
    if reporters < WITHDRAW_AFTER or state != State.ACTIVE.value:
        return False
    mark_false_positive(conn, indicator_id)
    audit.record(
        conn,
        "indicator.withdraw",
        stix_id,
        detail={"reason": "false-positive reports", "organisations": reporters},
    )
    log.warning(
        "withdrew %s after false-positive reports from %d organisations; "
        "it waits for an analyst",
        stix_id,
        reporters,
    )
    return True


def _claim_sighting(
    engine: Engine,
    org: Org,
    kind: str,
    value: str,
    first: int,
    last: int,
) -> None:
    """Make the member's pseudonymous source claim the sighted value."""
    body = {
        "indicators": [
            {
                "value": value,
                "type": kind,
                "confidence": SIGHTING_CONFIDENCE,
                "first_seen": format_rfc3339(first),
                "last_seen": format_rfc3339(last),
                "tags": ["sighted-by-member"],
            }
        ]
    }
    with tempfile.TemporaryDirectory(prefix="medisac-sighting-") as tmp:
        path = Path(tmp) / "sighting.json"
        path.write_bytes(orjson.dumps(body))
        summary = ingest(
            engine,
            IngestRequest(
                inputs=(path,),
                source=source_name(org.id),
                format=SUBMISSION_FORMAT,
            ),
        )
    if summary.rejected:
        log.error(
            "sighting of %s %s by %s was not claimed: %s",
            kind,
            value,
            org.id,
            summary.rejections[0].reason if summary.rejections else "rejected",
        )
