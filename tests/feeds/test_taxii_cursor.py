"""Properties of the TAXII cursor and of reading date-added headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medisac.feeds.fetch import FetchedResponse
from medisac.feeds.taxii import (
    DATE_ADDED_FIRST,
    DATE_ADDED_LAST,
    TaxiiCursor,
    _CursorTracker,
)

CURSOR_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
URL = "http://127.0.0.1:1/collections/x/objects/"

moments = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.just(UTC),
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
cursors = st.one_of(
    st.just(TaxiiCursor()),
    moments.map(lambda m: TaxiiCursor(m.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))),
)
# Header values as servers send them: valid stamps in several forms, and junk.
header_values = st.one_of(
    moments.map(lambda m: m.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
    moments.map(lambda m: m.strftime("%Y-%m-%dT%H:%M:%SZ")),
    moments.map(lambda m: m.isoformat(timespec="milliseconds")),
    st.sampled_from(["", " ", "undefined", "null", "NaN", "2025-02-30T00:00:00Z"]),
    moments.map(lambda m: m.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (UTC)")),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)


def page_headers(last: str | None, first: str | None = None) -> FetchedResponse:
    headers = httpx.Headers()
    if first is not None:
        headers[DATE_ADDED_FIRST] = first
    if last is not None:
        headers[DATE_ADDED_LAST] = last
    return FetchedResponse(URL, headers, b"")


@given(moments)
def test_six_digit_header_kept_exactly(moment: datetime) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    assert TaxiiCursor.from_header(text).added_after == text


@given(moments, offsets)
def test_offset_header_read_as_utc(moment: datetime, offset: timezone) -> None:
    local = moment.astimezone(offset).isoformat()

    cursor = TaxiiCursor.from_header(local)

    assert cursor.added_after == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@given(cursors, st.lists(st.one_of(st.none(), header_values), max_size=6))
def test_cursor_never_moves_back(start: TaxiiCursor, values: list[str | None]) -> None:
    tracker = _CursorTracker(start)
    for value in values:
        before = tracker.cursor

        tracker.advance(page_headers(value))

        assert not tracker.cursor.is_before(before)
        if tracker.cursor.added_after is not None:
            assert CURSOR_FORM.match(tracker.cursor.added_after)


@given(cursors, header_values, st.one_of(st.none(), header_values))
def test_bad_header_gives_one_warning(
    start: TaxiiCursor, last: str, first: str | None
) -> None:
    tracker = _CursorTracker(start)

    warning = tracker.advance(page_headers(last, first))
    repeated = tracker.advance(page_headers(last, first))

    if tracker.cursor == start and warning is None:
        assert last.strip()
        assert TaxiiCursor.from_header(last) == start
    if warning is not None:
        assert DATE_ADDED_LAST in warning or DATE_ADDED_FIRST in warning
    assert repeated is None


@pytest.mark.parametrize(
    "text",
    [
        "2025-02-13T19:41:56.302Z",
        "2025-02-13T19:41:56.302472",
        "2025-02-13T19:41:56.302472+00:00",
        "2025-02-30T00:00:00.000000Z",
        "undefined",
        "",
    ],
)
def test_cursor_rejects_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"TAXII cursor|impossible date"):
        TaxiiCursor(text)
