"""Run a hunt over many inputs: open each, match it, write and collect the hits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from medisac.hunt.index import Index
from medisac.hunt.output import HitWriter
from medisac.hunt.reader import open_input
from medisac.hunt.report import SightingCollector
from medisac.hunt.scan import Hunter, HuntStats

log = logging.getLogger(__name__)

# Exit status of ``medisac hunt`` when it found hits and every input was
# read. 1 and 2 mean failure and usage error for every medisac command.
EXIT_HITS = 3


@dataclass
class HuntRequest:
    """The inputs of a hunt, their format, and the earliest time to report."""

    inputs: Sequence[str]
    fmt: str = "auto"
    since: int | None = None


@dataclass
class HuntResult:
    """The counts of a finished hunt and the hits collected for reporting."""

    stats: HuntStats
    sightings: SightingCollector = field(default_factory=SightingCollector)

    @property
    def exit_code(self) -> int:
        """Return 1 when an input failed, else 3 for hits, else 0."""
        if self.stats.failed:
            return 1
        return EXIT_HITS if self.stats.hits else 0


def input_size(name: str) -> int | None:
    """Return the size on disk of an input, or None for standard input."""
    if name == "-":
        return None
    try:
        return Path(name).stat().st_size
    except OSError:
        return None


def run_hunt(
    request: HuntRequest,
    index: Index,
    writer: HitWriter,
    progress: Callable[[str, int], None] | None = None,
) -> HuntResult:
    """Hunt every input with ``index`` and write each hit with ``writer``.

    An input that cannot be opened or read is listed in the result's
    ``stats.failed`` and the hunt goes on with the next. ``progress`` is
    called with the input's name and the bytes of it read so far.
    """
    hunter = Hunter(index, since=request.since, fmt=request.fmt)
    result = HuntResult(hunter.stats)
    for name in request.inputs:
        try:
            with open_input(name) as log_input:

                def advance(position: int, name: str = name) -> None:
                    if progress is not None:
                        progress(name, position)

                for hit in hunter.hunt(log_input, advance):
                    writer.write(hit)
                    result.sightings.add(hit.indicator.id, hit.time)
        except OSError as exc:
            hunter.stats.inputs += 1
            hunter.stats.failed.append(f"{name}: {exc.strerror or exc}")
            log.warning("cannot read %s: %s", name, exc)
    return result
