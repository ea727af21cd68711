"""Helpers for hunt tests: run a hunt in process and pick trails from the corpus."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from rich.console import Console
from sqlalchemy.engine import Engine

from medisac.hunt.index import Index, IndicatorInfo, index_from_values, load_index
from medisac.hunt.output import HitWriter
from medisac.hunt.run import HuntRequest, HuntResult, run_hunt
from medisac.hunt.scan import Hit
from medisac.model import TLP

TRAILS = "scale/maltrail_static_trails.tar.gz"


class Collect(HitWriter):
    """A writer that keeps every hit in a list."""

    def __init__(self) -> None:
        super().__init__("json", io.StringIO(), Console(file=io.StringIO()))
        self.hits: list[Hit] = []

    def write(self, hit: Hit) -> None:
        super().write(hit)
        self.hits.append(hit)


def hunt_with(
    index: Index, paths: list[Path | str], fmt: str = "auto", since: int | None = None
) -> tuple[list[Hit], HuntResult]:
    """Hunt ``paths`` with ``index``; return the hits and the result."""
    writer = Collect()
    request = HuntRequest(inputs=[str(p) for p in paths], fmt=fmt, since=since)
    result = run_hunt(request, index, writer)
    return writer.hits, result


def hunt_store(
    engine: Engine, paths: list[Path | str], fmt: str = "auto"
) -> tuple[list[Hit], HuntResult]:
    """Hunt ``paths`` with the active indicators of a store."""
    with engine.connect() as conn:
        return hunt_with(load_index(conn), paths, fmt)


def memory_index(values: list[tuple[str, str]], first_seen: int = 0) -> Index:
    """An index of (type, canonical value) pairs with ids from 1, no store needed."""
    index = index_from_values(
        (number, kind, value) for number, (kind, value) in enumerate(values, 1)
    )
    index.details = {
        slot: IndicatorInfo(slot + 1, kind, value, 70, TLP.AMBER, ("test",), first_seen)
        for slot, (kind, value) in enumerate(values)
    }
    return index


def extract_trail(corpus_dir: Path, member: str, target: Path) -> Path:
    """Copy one Maltrail trail file out of the corpus archive into ``target``."""
    with tarfile.open(corpus_dir / TRAILS) as archive:
        source = archive.extractfile(f"trails/static/{member}")
        assert source is not None, member
        path = target / Path(member).name
        path.write_bytes(source.read())
    return path
