"""Paging parameters: ``added_after``, ``limit`` and the ``next`` token.

Pages follow ``stix_objects.seq``. Writers assign ``seq`` and a unique
microsecond ``date_added`` together under the publish lock, so both orders
agree. A client can therefore resume from the ``next`` token (the last ``seq``
it received) or from ``X-TAXII-Date-Added-Last`` (the last ``date_added``)
without skipping or repeating a row.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from starlette.datastructures import QueryParams

from medisac.errors import TaxiiError
from medisac.model.time import format_rfc3339, parse_rfc3339, to_us

_TOKEN_PREFIX = b"s"
_SEQ_BYTES = 8


@dataclass(frozen=True, slots=True)
class PageParams:
    """The start and maximum length of one page.

    ``added_after`` is in microseconds since the epoch. ``after_seq`` is the
    last ``seq`` of the previous page, from the ``next`` token.
    """

    limit: int
    added_after: int | None = None
    after_seq: int | None = None


def parse_page_params(
    params: QueryParams, default_limit: int, max_limit: int
) -> PageParams:
    """Read ``added_after``, ``limit`` and ``next`` from a query string.

    A ``limit`` above ``max_limit`` is lowered to it, as TAXII lets a server
    return fewer objects than asked for. Raises a 400 :class:`TaxiiError`
    naming the parameter for a value that cannot be read.
    """
    return PageParams(
        limit=_parse_limit(_single(params, "limit"), default_limit, max_limit),
        added_after=_parse_added_after(_single(params, "added_after")),
        after_seq=decode_next(_single(params, "next")),
    )


def encode_next(seq: int) -> str:
    """Return the opaque ``next`` token for a page that ended at ``seq``."""
    raw = _TOKEN_PREFIX + seq.to_bytes(_SEQ_BYTES, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_next(token: str | None) -> int | None:
    """Read a ``next`` token back into a ``seq``; None when there is none.

    Raises a 400 :class:`TaxiiError` for a token this server did not issue.
    """
    if token is None:
        return None
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != len(_TOKEN_PREFIX) + _SEQ_BYTES or not raw.startswith(_TOKEN_PREFIX):
        raise bad_parameter(
            "next", token, "use the next value of the previous response unchanged"
        )
    seq = int.from_bytes(raw[len(_TOKEN_PREFIX) :], "big")
    # Issued tokens hold a row's seq, a signed 64-bit integer in the store.
    if seq >= 2**63:
        raise bad_parameter(
            "next", token, "use the next value of the previous response unchanged"
        )
    return seq


def date_added_headers(first: int, last: int) -> dict[str, str]:
    """Return the ``X-TAXII-Date-Added-First``/``-Last`` headers, in microseconds."""
    return {
        "X-TAXII-Date-Added-First": format_rfc3339(first),
        "X-TAXII-Date-Added-Last": format_rfc3339(last),
    }


# Characters of a bad parameter value quoted back in the error.
MAX_QUOTED = 80


def bad_parameter(name: str, value: str, hint: str) -> TaxiiError:
    """Return the 400 error for an unreadable query parameter.

    A long value is quoted only in part, so that an error never echoes a
    large request back.
    """
    quoted = repr(value[:MAX_QUOTED]) + ("..." if len(value) > MAX_QUOTED else "")
    return TaxiiError(400, "Bad Request", f"invalid {name} value {quoted}: {hint}")


def _single(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise bad_parameter(name, ",".join(values), "give this parameter once")
    return values[0]


def _parse_limit(raw: str | None, default_limit: int, max_limit: int) -> int:
    if raw is None:
        return default_limit
    try:
        limit = int(raw.strip())
    except ValueError:
        limit = 0
    if limit < 1:
        raise bad_parameter("limit", raw, "use a whole number of at least 1")
    return min(limit, max_limit)


def _parse_added_after(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return to_us(parse_rfc3339(raw))
    except ValueError:
        raise bad_parameter(
            "added_after",
            raw,
            "use an RFC 3339 UTC timestamp such as 2024-05-01T00:00:00.000000Z",
        ) from None
