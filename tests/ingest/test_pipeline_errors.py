"""Ingest requests that name no known parser fail before anything is read."""

from __future__ import annotations

import pytest

from medisac.errors import ConfigError
from medisac.ingest.detect import PARSERS
from medisac.ingest.pipeline import IngestRequest


def test_unknown_format_rejected() -> None:
    with pytest.raises(ConfigError) as caught:
        IngestRequest(inputs=("feed",), source="s", format="misp-feed")
    message = str(caught.value)
    assert "'misp-feed'" in message
    assert "misp" in message


@pytest.mark.parametrize("fmt", [*PARSERS, None])
def test_known_formats_accepted(fmt: str | None) -> None:
    assert IngestRequest(inputs=("feed",), source="s", format=fmt).format == fmt
