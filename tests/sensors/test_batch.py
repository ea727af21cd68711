"""Validation of sensor batches."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medisac.model import TLP
from medisac.model.time import format_rfc3339
from medisac.sensors.batch import InvalidBatch, SensorBatch, parse_batch


def parse(body: Any) -> SensorBatch:
    return parse_batch(body, org_id="org-1", key_id=7, now=1_000_000)


def test_values_are_normalised() -> None:
    batch = parse(
        {"batch_id": "b-1", "sightings": ["hxxp://Evil[.]Example/x", "1.2.3.4"]}
    )
    assert [(s.type, s.value) for s in batch.sightings] == [
        ("url", "http://evil.example/x"),
        ("ipv4", "1.2.3.4"),
    ]


def test_invalid_sighting_rejected_with_index() -> None:
    batch = parse(
        {
            "batch_id": "b-2",
            "sightings": [
                "1.2.3.4",
                {"value": "x y"},
                {"value": "a.example", "count": 0},
            ],
        }
    )
    assert [(r.index, r.field) for r in batch.rejected] == [(1, "value"), (2, "count")]
    assert batch.total == 1


def test_default_tlp_is_amber() -> None:
    assert parse({"batch_id": "b", "sightings": ["1.2.3.4"]}).tlp == TLP.AMBER


def test_sender_is_organisation() -> None:
    assert parse({"batch_id": "b", "sightings": ["1.2.3.4"]}).sender == "org-1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sightings": ["1.2.3.4"]}, "batch_id"),
        ({"batch_id": "has space", "sightings": ["1.2.3.4"]}, "batch_id"),
        ({"batch_id": "b"}, "sightings"),
        ({"batch_id": "b", "sightings": ["1.2.3.4"], "tlp": "purple"}, "tlp"),
        ({"batch_id": "b", "sightings": ["not a value"]}, "value"),
        ([], "JSON object"),
    ],
)
def test_invalid_batch_names_field(body: Any, field: str) -> None:
    with pytest.raises(InvalidBatch, match=field):
        parse(body)


def test_message_round_trip() -> None:
    batch = parse(
        {"batch_id": "b-3", "sightings": [{"value": "evil.example.org", "count": 4}]}
    )
    again = SensorBatch.from_message(batch.to_message())
    assert again.sightings == batch.sightings
    assert (again.sender, again.batch_id, again.tlp) == ("org-1", "b-3", TLP.AMBER)


items = st.one_of(
    st.text(max_size=40),
    st.fixed_dictionaries(
        {"value": st.text(max_size=40)},
        optional={
            "count": st.integers(-5, 200_000),
            "type": st.sampled_from(["ipv4", "domain", "url", "x"]),
        },
    ),
    st.integers(),
)


@given(st.lists(items, min_size=1, max_size=20))
def test_every_item_kept_or_rejected(sightings: list[Any]) -> None:
    try:
        batch = parse({"batch_id": "prop", "sightings": sightings})
    except InvalidBatch:
        return
    rejected = {r.index for r in batch.rejected}
    assert len(rejected) < len(sightings)
    assert all(0 <= index < len(sightings) for index in rejected)
    assert all(1 <= s.count <= 100_000 for s in batch.sightings)


def test_seen_times_read_as_utc() -> None:
    batch = parse(
        {
            "batch_id": "tz-1",
            "sightings": [
                {
                    "value": "telemetry-upload.example.net",
                    "first_seen": "2024-03-10T08:30:00+10:00",
                    "last_seen": "2024-03-10T09:45:00+10:00",
                },
                {"value": "203.0.113.61", "first_seen": "2024-03-10T08:30:00"},
                {
                    "value": "203.0.113.62",
                    "first_seen": "2024-03-10T09:00:00Z",
                    "last_seen": "2024-03-10T08:00:00Z",
                },
            ],
        }
    )
    first, offsetless = batch.sightings
    assert format_rfc3339(first.first_seen) == "2024-03-09T22:30:00.000000Z"
    assert format_rfc3339(first.last_seen) == "2024-03-09T23:45:00.000000Z"
    # A time without an offset is read as UTC, whatever the host's zone.
    assert format_rfc3339(offsetless.first_seen) == "2024-03-10T08:30:00.000000Z"
    assert [(r.index, r.field) for r in batch.rejected] == [(2, "last_seen")]
