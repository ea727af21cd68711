"""The export formats by name, shared by ``medisac export`` and ``/feeds``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.engine import Connection

from medisac.export.csvexport import write_csv
from medisac.export.edl import write_edl, write_edl_dir
from medisac.export.mispfeed import write_misp_feed
from medisac.export.plain import write_plain
from medisac.export.rpz import write_rpz
from medisac.export.select import ExportFilter
from medisac.export.stix import write_stix_bundle
from medisac.export.suricata import write_suricata, write_suricata_dir
from medisac.export.zeek import write_zeek

Writer = Callable[[Connection, ExportFilter, BinaryIO], int]

# Formats that write one stream, by name.
STREAM_WRITERS: dict[str, Writer] = {
    "plain": write_plain,
    "csv": write_csv,
    "edl": partial(write_edl, kind="ip", max_entries=None),
    "rpz": write_rpz,
    "stix": write_stix_bundle,
    "suricata": write_suricata,
    "zeek": write_zeek,
}
# Formats whose output may be a directory of several files: EDL writes one
# list per kind, Suricata adds file-hash lists beside its rules, and a MISP
# feed is only ever a directory.
DIRECTORY_FORMATS = frozenset({"edl", "suricata", "misp"})
DIRECTORY_ONLY_FORMATS = frozenset({"misp"})
FORMATS = (*STREAM_WRITERS, *sorted(DIRECTORY_ONLY_FORMATS))
EDL_LISTS = ("ip", "domain", "url")


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """Settings of single formats; each format reads only its own."""

    edl_list: str = "ip"
    max_entries: int | None = None
    rpz_origin: str = "rpz.medisac.local"
    sid_base: int = 9_000_000

    def __post_init__(self) -> None:
        if self.edl_list not in EDL_LISTS:
            raise ValueError(
                f"unknown EDL list {self.edl_list!r}; use one of {', '.join(EDL_LISTS)}"
            )


def stream_writer(fmt: str, options: FormatOptions) -> Writer:
    """Return the writer of a one-stream format with ``options`` bound.

    Raises ``KeyError`` for a format that is not in :data:`STREAM_WRITERS`.
    """
    if fmt == "edl":
        return partial(
            write_edl, kind=options.edl_list, max_entries=options.max_entries
        )
    if fmt == "rpz":
        return partial(write_rpz, origin=options.rpz_origin)
    if fmt == "suricata":
        return partial(write_suricata, sid_base=options.sid_base)
    return STREAM_WRITERS[fmt]


def write_directory(
    conn: Connection,
    fmt: str,
    selection: ExportFilter,
    directory: Path,
    options: FormatOptions,
) -> int:
    """Write a format of :data:`DIRECTORY_FORMATS` into ``directory``.

    Returns the number of indicators exported.
    """
    if fmt == "edl":
        counts = write_edl_dir(
            conn, selection, directory, max_entries=options.max_entries
        )
        return sum(counts.values())
    if fmt == "suricata":
        return write_suricata_dir(conn, selection, directory, sid_base=options.sid_base)
    if fmt == "misp":
        return write_misp_feed(conn, selection, directory)
    raise KeyError(fmt)
