"""Path parameters shared by the JSON API and the portal."""

from typing import Annotated

from fastapi import Path

# The largest value a 64-bit signed integer column holds, in SQLite and in
# PostgreSQL's BIGINT. A larger id in a URL would overflow the database
# driver, so it is rejected as invalid before any query runs.
MAX_ROW_ID = 2**63 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A row id")]
