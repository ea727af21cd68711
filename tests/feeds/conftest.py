"""Fixtures for the feed tests: scripted TAXII and feed servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.feeds.feedserver import FeedServer
from tests.feeds.mock_taxii import Exchange, Forbidden, MockTaxiiServer

StartServer = Callable[..., MockTaxiiServer]


@pytest.fixture
def mock_taxii() -> Iterator[StartServer]:
    """Start scripted servers on demand; stop every one after the test."""
    servers: list[MockTaxiiServer] = []

    def start(
        exchanges: list[Exchange], forbidden: list[Forbidden] | None = None
    ) -> MockTaxiiServer:
        server = MockTaxiiServer(exchanges, forbidden)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """An HTTP server on 127.0.0.1 whose routes the test sets."""
    server = FeedServer()
    yield server
    server.stop()
