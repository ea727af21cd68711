"""Log hunts started in the portal, run in the background for one member.

The uploaded log is written to a private file, hunted with the indicators
the member's organisation may read, and deleted when the hunt ends,
whether it found hits, found none or failed. Only the counts and the hits
are kept, in ``portal_hunts``, and only that organisation's users see them.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Connection, Engine

from medisac.hunt.index import HUNTED_TYPES, ValueIndex
from medisac.hunt.output import HitWriter, hit_document
from medisac.hunt.run import HuntRequest, run_hunt
from medisac.members.access import Audience
from medisac.model import State
from medisac.model.time import now_us
from medisac.store.tables import indicators, portal_hunts

log = logging.getLogger(__name__)

# Largest log a member may upload for one hunt.
MAX_UPLOAD_BYTES = 256 * 1024 * 1024
# Hit lines kept for the results page; the summary counts every hit.
KEPT_HITS = 500


@dataclass(frozen=True, slots=True)
class HuntView:
    """One hunt as its results page shows it."""

    id: str
    org_id: str
    filename: str
    status: str
    created: int
    finished: int | None
    result: dict[str, Any] | None
    error: str | None


def readable_index(conn: Connection, audience: Audience) -> ValueIndex:
    """Build an index of the active indicators ``audience`` may read."""
    ic = indicators.c
    index = ValueIndex()
    rows = conn.execute(
        sa.select(ic.id, ic.type, ic.value).where(
            ic.state == State.ACTIVE.value,
            sa.or_(ic.valid_until.is_(None), ic.valid_until > now_us()),
            ic.type.in_(sorted(HUNTED_TYPES)),
            audience.condition(ic.tlp, ic.id),
        )
    )
    for indicator_id, kind, value in rows:
        index.add(indicator_id, kind, value)
    index.attach(conn)
    return index


class _KeptHits(HitWriter):
    """Keep the first hits as JSON documents instead of writing them out."""

    def __init__(self) -> None:
        super().__init__("json", io.StringIO(), Console(file=io.StringIO()))
        self.kept: list[dict[str, Any]] = []

    def write(self, hit: Any) -> None:
        super().write(hit)
        self.stream.seek(0)
        self.stream.truncate()
        if len(self.kept) < KEPT_HITS:
            self.kept.append(hit_document(hit))


class HuntRunner:
    """Run portal hunts one after another on a background thread."""

    # TODO: a hunt running when the server process dies (not a clean stop)
    # stays "running" for good, and its upload stays in the temporary folder.

    def __init__(self, engine: Engine, upload_dir: Path | None = None) -> None:
        self.engine = engine
        # A private temporary folder, made at the first upload, when None.
        self.upload_dir = upload_dir
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="portal-hunt"
        )
        # Uploads of queued hunts that have not started, by hunt id.
        self._queued: dict[str, Path] = {}
        self._lock = threading.Lock()

    def start(
        self,
        chunks: Iterator[bytes],
        *,
        filename: str,
        org_id: str,
        user_id: int,
        audience: Audience,
    ) -> tuple[str, Future[None]]:
        """Save an upload, queue its hunt and return the hunt's id.

        Raises ``ValueError`` when the upload is over :data:`MAX_UPLOAD_BYTES`;
        nothing is kept then.
        """
        if self.upload_dir is None:
            self.upload_dir = Path(tempfile.mkdtemp(prefix="medisac-hunts-"))
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="hunt-", dir=self.upload_dir)
        path = Path(name)
        size = 0
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > MAX_UPLOAD_BYTES:
                        raise ValueError(
                            f"{filename} is larger than {MAX_UPLOAD_BYTES:,} bytes; "
                            "split it or run `medisac hunt` on your own machine"
                        )
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        hunt_id = f"hunt-{secrets.token_hex(8)}"
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(portal_hunts).values(
                    id=hunt_id,
                    org_id=org_id,
                    user_id=user_id,
                    filename=filename[:255],
                    status="queued",
                    created=now_us(),
                )
            )
        with self._lock:
            self._queued[hunt_id] = path
        future = self._executor.submit(self._run, hunt_id, path, filename, audience)
        return hunt_id, future

    def _run(self, hunt_id: str, path: Path, filename: str, audience: Audience) -> None:
        with self._lock:
            self._queued.pop(hunt_id, None)
        try:
            self._set(hunt_id, status="running")
            result = self._hunt(path, filename, audience)
            self._set(hunt_id, status="done", finished=now_us(), result=result)
            log.info("portal hunt %s finished", hunt_id)
        except Exception as exc:
            log.exception("portal hunt %s failed", hunt_id)
            self._set(
                hunt_id, status="failed", finished=now_us(), error=str(exc)[:2000]
            )
        finally:
            path.unlink(missing_ok=True)

    def _hunt(self, path: Path, filename: str, audience: Audience) -> str:
        writer = _KeptHits()
        with self.engine.connect() as conn:
            index = readable_index(conn, audience)
            result = run_hunt(HuntRequest(inputs=[str(path)]), index, writer)
        stats = result.stats
        for document in writer.kept:
            document["source"] = filename
        summary = [
            {
                "indicator": hit_document(item.hit)["indicator"],
                "hits": item.hits,
                "lines": len(item.lines),
                "first_time": item.first_time,
                "last_time": item.last_time,
            }
            for item in sorted(writer.summaries.values(), key=lambda s: -s.hits)
        ]
        return orjson.dumps(
            {
                "lines": stats.lines,
                "bytes": stats.bytes,
                "hits": stats.hits,
                "hit_lines": stats.hit_lines,
                "malformed": stats.malformed_lines,
                "formats": dict(stats.formats),
                "failed": [item.replace(str(path), filename) for item in stats.failed],
                "indicators": summary,
                "kept": writer.kept,
            }
        ).decode()

    def _set(self, hunt_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(portal_hunts)
                .where(portal_hunts.c.id == hunt_id)
                .values(**values)
            )

    def shutdown(self) -> None:
        """Wait for the running hunt, then delete the queued uploads and fail them."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            queued, self._queued = self._queued, {}
        for hunt_id, path in queued.items():
            path.unlink(missing_ok=True)
            self._set(
                hunt_id,
                status="failed",
                finished=now_us(),
                error="the server stopped before this hunt ran; upload the log again",
            )
            log.info("portal hunt %s dropped at shutdown", hunt_id)


def list_hunts(conn: Connection, org_id: str) -> list[HuntView]:
    """Return the hunts of one organisation, newest first."""
    rows = conn.execute(
        sa.select(portal_hunts)
        .where(portal_hunts.c.org_id == org_id)
        .order_by(portal_hunts.c.created.desc())
        .limit(100)
    )
    return [_view(row, with_result=False) for row in rows]


def get_hunt(conn: Connection, hunt_id: str, org_id: str) -> HuntView | None:
    """Return one hunt of ``org_id``; another organisation's hunt is None."""
    row = conn.execute(
        sa.select(portal_hunts).where(
            portal_hunts.c.id == hunt_id, portal_hunts.c.org_id == org_id
        )
    ).first()
    return None if row is None else _view(row, with_result=True)


def _view(row: Any, *, with_result: bool) -> HuntView:
    result = None
    if with_result and row.result:
        result = orjson.loads(row.result)
    return HuntView(
        id=row.id,
        org_id=row.org_id,
        filename=row.filename,
        status=row.status,
        created=row.created,
        finished=row.finished,
        result=result,
        error=row.error,
    )
