"""Files that readers poll: each is replaced whole, never seen half written."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def replaced_file(target: Path) -> Iterator[BinaryIO]:
    """Yield a handle whose content replaces ``target`` when the block ends.

    The content goes to a temporary file beside ``target`` that is renamed
    over it on success and deleted on error, so a firewall or MISP instance
    that fetches during an export reads the old file or the new one.
    """
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            yield handle
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
