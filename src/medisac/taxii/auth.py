"""The read scope of TAXII and a stand-alone reader dependency.

Credentials are parsed and checked by :mod:`medisac.members.credentials` and
:mod:`medisac.members.gate`, which every HTTP route group shares.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from sqlalchemy.engine import Engine

from medisac.store.keys import KeyRow

READ_SCOPE = "read"


def reader_dependency(engine: Engine) -> Callable[[Request], KeyRow]:
    """Build a dependency that admits readers, for an application of its own.

    Servers build one :class:`medisac.members.gate.Gate` and take their
    dependencies from it; this wrapper serves applications built alone, as
    tests do. It raises 401 without valid credentials and 403 for a key
    without the ``read`` scope.
    """
    from medisac.members.gate import Gate

    return Gate(engine, usage_flush_seconds=0).require("taxii", READ_SCOPE)
