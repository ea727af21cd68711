"""Paging and cursor rules of the TAXII client beyond the hard cases."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
import sqlalchemy as sa

from medisac.errors import FeedError
from medisac.feeds import (
    TaxiiCursor,
    TaxiiFeed,
    pull,
    pull_and_ingest,
    pull_collection,
)
from medisac.feeds.taxiiingest import add_summary
from medisac.ingest.summary import IngestSummary
from medisac.store.tables import provenance
from tests.conftest import Store
from tests.feeds.conftest import StartServer
from tests.feeds.helpers import provenance_counts, stored_values
from tests.feeds.mock_taxii import Exchange, MockTaxiiServer, Reply, envelope

COLLECTION = "/api1/collections/0b6a1a7e-3c55-4c8e-9d0b-6f1b2c3d4e5f/"
OBJECTS = COLLECTION + "objects/"
START = "2024-07-01T00:00:00.000000Z"


def indicator(n: int, value: str | None = None) -> dict[str, Any]:
    value = value or f"page-item-{n:03d}.example.org"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": "2024-06-20T00:00:00.000Z",
        "modified": "2024-06-20T00:00:00.000Z",
        "pattern": f"[domain-name:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": "2024-06-20T00:00:00.000Z",
    }


def added(second: int) -> dict[str, str]:
    stamp = f"2024-07-01T00:00:{second:02d}.{second:06d}Z"
    return {"X-TAXII-Date-Added-First": stamp, "X-TAXII-Date-Added-Last": stamp}


def stamp(second: int) -> str:
    return added(second)["X-TAXII-Date-Added-Last"]


def feed_for(server: MockTaxiiServer, page_size: int | None = 2) -> TaxiiFeed:
    return TaxiiFeed(server.base_url + COLLECTION, page_size=page_size)


def three_pages(failing_third: bool = False) -> list[Exchange]:
    first = {"added_after": START, "limit": "2"}
    third = envelope([indicator(5)], headers=added(5))
    if failing_third:
        third = Reply(500, body=b"{}")
    return [
        Exchange(
            OBJECTS,
            first,
            envelope(
                [indicator(1), indicator(2)],
                more=True,
                next_token="p2",
                headers=added(2),
            ),
        ),
        Exchange(
            OBJECTS,
            {**first, "next": "p2"},
            envelope(
                [indicator(3), indicator(4)],
                more=True,
                next_token="p3",
                headers=added(4),
            ),
        ),
        Exchange(OBJECTS, {**first, "next": "p3"}, third),
    ]


def feed_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("medisac.feeds") and record.levelno >= logging.WARNING
    ]


def test_more_without_next_continues_from_header(mock_taxii: StartServer) -> None:
    server = mock_taxii(
        [
            Exchange(
                OBJECTS,
                {"added_after": START, "limit": "2"},
                envelope([indicator(1), indicator(2)], more=True, headers=added(2)),
            ),
            Exchange(
                OBJECTS,
                {"added_after": stamp(2), "limit": "2"},
                envelope([indicator(3)], headers=added(3)),
            ),
        ]
    )

    result = pull(feed_for(server), TaxiiCursor(START))

    assert server.failures == []
    assert result.pages == 2
    assert len(result.objects) == 3
    assert result.cursor.added_after == stamp(3)
    assert result.warnings == []


def test_more_without_next_or_header_stops(mock_taxii: StartServer) -> None:
    server = mock_taxii(
        [
            Exchange(
                OBJECTS,
                {"added_after": START, "limit": "2"},
                envelope([indicator(1), indicator(2)], more=True),
            )
        ]
    )

    result = pull(feed_for(server), TaxiiCursor(START))

    assert server.failures == []
    assert result.pages == 1
    assert result.cursor.added_after == START
    assert len(result.warnings) == 2
    assert "X-TAXII-Date-Added-Last is missing" in result.warnings[0]
    assert "sends no next token" in result.warnings[1]


def test_repeated_next_token_raises(mock_taxii: StartServer) -> None:
    looping = envelope([indicator(1)], more=True, next_token="same", headers=added(1))
    server = mock_taxii(
        [
            Exchange(OBJECTS, {"limit": "2"}, looping),
            Exchange(OBJECTS, {"limit": "2", "next": "same"}, looping),
        ]
    )
    pages = pull_collection(feed_for(server), TaxiiCursor())

    first = next(pages)
    with pytest.raises(FeedError, match="next token 'same' twice in a row"):
        next(pages)

    assert first.cursor.added_after == stamp(1)
    assert server.failures == []


def test_backward_header_keeps_cursor(
    mock_taxii: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = mock_taxii(
        [
            Exchange(
                OBJECTS,
                {"added_after": stamp(30)},
                envelope([indicator(1)], headers=added(3)),
            )
        ]
    )

    result = pull(feed_for(server, None), TaxiiCursor(stamp(30)))

    assert result.cursor.added_after == stamp(30)
    assert len(result.warnings) == 1
    assert (
        f"X-TAXII-Date-Added-Last is {stamp(3)}, earlier than the cursor"
        in (result.warnings[0])
    )
    assert feed_messages(caplog) == result.warnings


def test_empty_page_headers_ignored(
    mock_taxii: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    bad = {"X-TAXII-Date-Added-First": "null", "X-TAXII-Date-Added-Last": "null"}
    server = mock_taxii(
        [
            Exchange(OBJECTS, {"added_after": START}, envelope([], headers=bad)),
            Exchange(OBJECTS, {"added_after": START}, envelope(None, headers=added(9))),
        ]
    )
    feed = feed_for(server, None)

    first = pull(feed, TaxiiCursor(START))
    second = pull(feed, first.cursor)

    assert first.cursor.added_after == START
    assert second.cursor.added_after == START
    assert first.warnings == []
    assert second.warnings == []
    assert feed_messages(caplog) == []


def test_same_bad_header_warned_once(mock_taxii: StartServer) -> None:
    bad = {"X-TAXII-Date-Added-Last": "undefined"}
    server = mock_taxii(
        [
            Exchange(
                OBJECTS,
                {"limit": "2"},
                envelope([indicator(1)], more=True, next_token="p2", headers=bad),
            ),
            Exchange(
                OBJECTS,
                {"limit": "2", "next": "p2"},
                envelope([indicator(2)], more=True, next_token="p3", headers=bad),
            ),
            Exchange(
                OBJECTS,
                {"limit": "2", "next": "p3"},
                envelope([indicator(3)], headers={}),
            ),
        ]
    )

    result = pull(feed_for(server), TaxiiCursor())

    assert result.pages == 3
    assert result.cursor.added_after is None
    assert len(result.warnings) == 2
    assert "X-TAXII-Date-Added-Last is 'undefined'" in result.warnings[0]
    assert "the cursor stays at the first object" in result.warnings[0]
    assert "X-TAXII-Date-Added-Last is missing" in result.warnings[1]


@pytest.mark.parametrize(
    ("header", "cursor"),
    [
        ("2025-02-13T21:41:56.302472+02:00", "2025-02-13T19:41:56.302472Z"),
        ("2025-02-13T19:41:56.302Z", "2025-02-13T19:41:56.302000Z"),
        ("2025-02-13T19:41:56.302472999Z", "2025-02-13T19:41:56.302472Z"),
        ("2025-02-13t19:41:56z", "2025-02-13T19:41:56.000000Z"),
    ],
)
def test_header_forms_become_cursor(
    mock_taxii: StartServer, header: str, cursor: str
) -> None:
    headers = {"X-TAXII-Date-Added-Last": header}
    server = mock_taxii(
        [Exchange(OBJECTS, {}, envelope([indicator(1)], headers=headers))]
    )

    result = pull(feed_for(server, None), TaxiiCursor())

    assert result.cursor.added_after == cursor
    assert result.warnings == []


def test_non_object_items_skipped(mock_taxii: StartServer) -> None:
    reply = envelope([indicator(1)], headers=added(1))
    reply.body = reply.body.replace(b'"objects":[', b'"objects":[7,"x",')
    server = mock_taxii([Exchange(OBJECTS, {}, reply)])

    result = pull(feed_for(server, None), TaxiiCursor())

    assert [item["id"] for item in result.objects] == [indicator(1)["id"]]
    assert len(result.warnings) == 1
    assert "2 item(s) of 'objects' are not JSON objects" in result.warnings[0]


def test_max_pages_then_resume(mock_taxii: StartServer) -> None:
    exchanges = three_pages()[:2]
    resumed = {"added_after": stamp(4), "limit": "2"}
    exchanges.append(
        Exchange(OBJECTS, resumed, envelope([indicator(5)], headers=added(5)))
    )
    server = mock_taxii(exchanges)
    feed = feed_for(server)

    first = pull(feed, TaxiiCursor(START), max_pages=2)
    second = pull(feed, first.cursor)

    assert server.failures == []
    assert first.pages == 2
    assert first.cursor.added_after == stamp(4)
    assert second.pages == 1
    assert second.cursor.added_after == stamp(5)
    assert len(first.objects) + len(second.objects) == 5


def test_ingest_stops_at_failed_page_and_resumes(
    store: Store, mock_taxii: StartServer
) -> None:
    exchanges = three_pages(failing_third=True)
    resumed = {"added_after": stamp(4), "limit": "2"}
    exchanges.append(
        Exchange(OBJECTS, resumed, envelope([indicator(5)], headers=added(5)))
    )
    server = mock_taxii(exchanges)
    feed = feed_for(server)
    committed: list[TaxiiCursor] = []

    first = pull_and_ingest(
        store.engine, feed, "paged", TaxiiCursor(START), on_commit=committed.append
    )

    assert first.error is not None
    assert first.error.status == 500
    assert first.cursor.added_after == stamp(4)
    assert [c.added_after for c in committed] == [stamp(2), stamp(4)]
    assert first.summary.merge.new == 4
    assert not first.summary.complete
    assert first.summary.failed[0].origin.startswith(server.base_url + OBJECTS)

    second = pull_and_ingest(store.engine, feed, "paged", first.cursor)

    assert server.failures == []
    assert second.error is None
    assert second.cursor.added_after == stamp(5)
    expected = {("domain", f"page-item-{n:03d}.example.org") for n in range(1, 6)}
    assert stored_values(store.engine) == expected
    assert provenance_counts(store.engine, "paged") == dict.fromkeys(expected, 1)


def test_repeated_page_adds_nothing(store: Store, mock_taxii: StartServer) -> None:
    page = envelope([indicator(1), indicator(2)], headers=added(2))
    server = mock_taxii([Exchange(OBJECTS, {}, page), Exchange(OBJECTS, {}, page)])
    feed = feed_for(server, None)

    first = pull_and_ingest(store.engine, feed, "again", TaxiiCursor())
    rows_before = provenance_rows(store)
    # The caller lost the cursor, so the same page is read again.
    second = pull_and_ingest(store.engine, feed, "again", TaxiiCursor())

    assert server.failures == []
    assert first.summary.merge.new == 2
    assert second.summary.merge.new == 0
    assert second.summary.merge.updated == 0
    assert provenance_rows(store) == rows_before
    assert len(rows_before) == 2


def provenance_rows(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(provenance).order_by(provenance.c.id))
        return [tuple(row) for row in rows]


def test_rejection_names_page_url(store: Store, mock_taxii: StartServer) -> None:
    objects = [indicator(1), indicator(2, value="bad..example.org")]
    server = mock_taxii([Exchange(OBJECTS, {}, envelope(objects, headers=added(2)))])

    result = pull_and_ingest(
        store.engine, feed_for(server, None), "rejects", TaxiiCursor()
    )

    assert result.summary.rejected == 1
    rejection = result.summary.rejections[0]
    assert rejection.origin == server.base_url + OBJECTS
    assert indicator(2)["id"] in rejection.location
    assert result.cursor.added_after == stamp(2)


def test_add_summary_covers_every_field() -> None:
    part = IngestSummary(inputs=1, observations=2, values=3)
    part.formats["stix"] += 1
    part.reject("page", "object x", "invalid")
    part.skipped["identity"] += 2
    part.warnings.append("warned")
    part.merge.new = 3
    total = IngestSummary()

    add_summary(total, part)
    add_summary(total, part)

    handled = {
        "inputs", "formats", "observations", "values", "rejected", "rejections",
        "skipped", "warnings", "failed", "merge",
    }  # fmt: skip
    assert {f.name for f in dataclasses.fields(IngestSummary)} == handled
    assert (total.inputs, total.observations, total.values) == (2, 4, 6)
    assert total.formats["stix"] == 2
    assert total.rejected == 2
    assert len(total.rejections) == 2
    assert total.skipped["identity"] == 4
    assert total.warnings == ["warned", "warned"]
    assert total.merge.new == 6
