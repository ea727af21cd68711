"""Column roles of a CSV file, from its header names or its first rows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from medisac.ingest.plain import looks_like_indicator
from medisac.ingest.times import parse_time
from medisac.ingest.vocab import known_type

# Header names (after column_key) of each role.
VALUE_NAMES = frozenset(
    {
        "indicator",
        "indicators",
        "indicator_value",
        "value",
        "ioc",
        "iocs",
        "ioc_value",
        "data",
        "observable",
        "observable_value",
        "attribute",
        "attribute_value",
        "artifact",
        "entity",
    }
)
TYPE_NAMES = frozenset(
    {
        "type",
        "indicator_type",
        "ioc_type",
        "data_type",
        "observable_type",
        "attribute_type",
        "type_of_indicator",
        "kind",
    }
)
# Columns of values whose type must be detected.
DETECT_NAMES = frozenset({"c2", "c2_server", "c2_address", "c2_domain", "c2_ip"})
FIRST_SEEN_NAMES = frozenset(
    {
        "first_seen",
        "firstseen",
        "first_seen_utc",
        "date_first_seen",
        "first_observed",
        "date",
        "date_added",
        "dateadded",
        "date_reported",
        "timestamp",
        "time",
        "datetime",
        "created",
        "created_at",
    }
)
LAST_SEEN_NAMES = frozenset(
    {
        "last_seen",
        "lastseen",
        "last_seen_utc",
        "date_last_seen",
        "last_observed",
        "last_online",
    }
)
# Tag columns, with the prefix each cell gets ("" splits a list of tags).
TAG_NAMES = {
    "tags": "",
    "tag": "",
    "labels": "",
    "label": "",
    "threat": "",
    "threat_type": "",
    "malware": "malware",
    "malware_family": "malware",
    "family": "malware",
    "associated_malware": "malware",
    "actor": "threat-actor",
    "threat_actor": "threat-actor",
    "tool": "tool",
    "tool_name": "tool",
    "campaign": "campaign",
}
CONTEXT_NAMES = frozenset(
    {
        "comment",
        "comments",
        "description",
        "note",
        "notes",
        "info",
        "reference",
        "references",
        "reason",
    }
)
CONFIDENCE_NAMES = frozenset({"confidence", "confidence_level", "confidence_score"})
TLP_NAMES = frozenset({"tlp", "tlp_level"})
TO_IDS_NAMES = frozenset({"to_ids"})

KNOWN_NAMES = (
    VALUE_NAMES
    | TYPE_NAMES
    | DETECT_NAMES
    | FIRST_SEEN_NAMES
    | LAST_SEEN_NAMES
    | frozenset(TAG_NAMES)
    | CONTEXT_NAMES
    | CONFIDENCE_NAMES
    | TLP_NAMES
    | TO_IDS_NAMES
)

# Share of sampled cells that decides a column's role in a file without
# names for it.
_MAJORITY = 0.5
_TYPE_COLUMN_SHARE = 0.8
_TIME_COLUMN_SHARE = 0.8

_NOT_WORD = re.compile(r"[^0-9a-z]+")


def column_key(name: str) -> str:
    """Return a header name in lower case with ``_`` between words."""
    return _NOT_WORD.sub("_", name.replace("\ufeff", "").strip().lower()).strip("_")


@dataclass
class Columns:
    """Column roles of one file, as column indexes counted from 0.

    ``typed`` lists ``(index, type name)`` for columns of values of one type;
    an empty type name means "detect". ``headerless_all`` means no column
    qualified, so every cell shaped like an indicator is a value.
    """

    names: list[str]
    value: int | None = None
    type: int | None = None
    typed: list[tuple[int, str]] = field(default_factory=list)
    first_seen: int | None = None
    last_seen: int | None = None
    tags: list[tuple[int, str]] = field(default_factory=list)
    context: list[tuple[int, str]] = field(default_factory=list)
    confidence: int | None = None
    tlp: int | None = None
    to_ids: int | None = None
    headerless_all: bool = False


def is_header(cells: list[str]) -> bool:
    """Tell whether a first row names columns rather than holding values."""
    named = any(column_key(cell) in KNOWN_NAMES or known_type(cell) for cell in cells)
    return named and not any(looks_like_indicator(cell) for cell in cells)


def plan_columns(header: list[str] | None, sample: list[list[str]]) -> Columns:
    """Return the column roles from the header, or from the sample rows."""
    if header is not None:
        columns = _from_header(header, sample)
        if columns.value is not None or columns.typed:
            return columns
        sample_plan = _from_sample(sample)
        sample_plan.names = columns.names
        return sample_plan
    return _from_sample(sample)


def _from_header(header: list[str], sample: list[list[str]]) -> Columns:
    keys = [column_key(name) for name in header]
    columns = Columns(names=[name.replace("\ufeff", "").strip() for name in header])
    values: list[int] = []
    for index, key in enumerate(keys):
        _assign(columns, index, key, header[index], values)
    if values:
        if columns.type is None and len(values) >= 2:
            columns.type = _type_column(values, sample)
            if columns.type is not None:
                values.remove(columns.type)
        columns.value = values[0]
        columns.typed.extend((index, "") for index in values[1:])
    return columns


def _assign(
    columns: Columns, index: int, key: str, name: str, values: list[int]
) -> None:
    """Give column ``index`` the role its header ``key`` names, if any."""
    if key in VALUE_NAMES:
        values.append(index)
    elif key in TYPE_NAMES:
        columns.type = columns.type if columns.type is not None else index
    elif key in DETECT_NAMES:
        columns.typed.append((index, ""))
    elif known_type(name):
        columns.typed.append((index, name))
    elif key in FIRST_SEEN_NAMES:
        columns.first_seen = (
            columns.first_seen if columns.first_seen is not None else index
        )
    elif key in LAST_SEEN_NAMES:
        columns.last_seen = (
            columns.last_seen if columns.last_seen is not None else index
        )
    elif key in TAG_NAMES:
        columns.tags.append((index, TAG_NAMES[key]))
    elif key in CONTEXT_NAMES:
        columns.context.append((index, key))
    elif key in CONFIDENCE_NAMES:
        columns.confidence = index
    elif key in TLP_NAMES:
        columns.tlp = index
    elif key in TO_IDS_NAMES:
        columns.to_ids = index


def _type_column(candidates: list[int], sample: list[list[str]]) -> int | None:
    """Return the candidate column whose cells are type names, if one is."""
    for index in candidates:
        cells = [row[index] for row in sample if index < len(row) and row[index]]
        if not cells:
            continue
        typed = sum(
            known_type(cell) or column_key(cell) == "description" for cell in cells
        )
        if typed / len(cells) >= _TYPE_COLUMN_SHARE:
            return index
        names = sum(_looks_like_type_name(cell) for cell in cells)
        if names / len(cells) >= _TYPE_COLUMN_SHARE and not any(
            looks_like_indicator(cell) for cell in cells
        ):
            return index
    return None


def _looks_like_type_name(cell: str) -> bool:
    return len(cell) <= 32 and bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9 _\-|]*", cell))


def _from_sample(sample: list[list[str]]) -> Columns:
    width = max((len(row) for row in sample), default=0)
    columns = Columns(names=[f"column {index + 1}" for index in range(width)])
    for index in range(width):
        cells = [row[index] for row in sample if index < len(row) and row[index]]
        if not cells:
            continue
        hits = sum(looks_like_indicator(cell) for cell in cells)
        if hits / len(cells) >= _MAJORITY:
            columns.typed.append((index, ""))
        elif columns.first_seen is None:
            times = sum(parse_time(cell) is not None for cell in cells)
            if times / len(cells) >= _TIME_COLUMN_SHARE:
                columns.first_seen = index
    columns.headerless_all = not columns.typed
    return columns
