"""E-mail addresses: the local part as written, the domain part canonical.

The local part keeps its case, because RFC 5321 leaves its meaning to the
receiving server, and accepts the RFC 5322 dot-atom characters (an apostrophe
as in ``front'desk`` included) and, as RFC 6531 allows, non-ASCII letters.
Quoted local parts and address literals (``user@[192.0.2.1]``) are rejected.
"""

from __future__ import annotations

import re

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize.domain import normalize_domain
from medisac.normalize.value import Value

_MAX_LOCAL = 64
_MAX_ADDRESS = 254

_ATOM = r"(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\x00-\x9f\s])+"
_LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")


def normalize_email(text: str) -> Value:
    """Return the email Value of ``text``; raise NormalizationError if invalid."""
    if text[:7].lower() == "mailto:":
        text = text[7:]
    local, at, domain = text.rpartition("@")
    if not at:
        raise NormalizationError(text, "no '@' in the e-mail address")
    _check_local_part(text, local)
    if domain.startswith("["):
        raise NormalizationError(
            text, "address literals such as user@[192.0.2.1] are not supported"
        )
    try:
        domain_value = normalize_domain(domain)
    except NormalizationError as exc:
        raise NormalizationError(text, f"domain part: {exc.reason}") from exc
    address = f"{local}@{domain_value.value}"
    if len(address) > _MAX_ADDRESS:
        raise NormalizationError(
            text, f"address longer than {_MAX_ADDRESS} characters ({len(address)})"
        )
    return Value(IndicatorType.EMAIL, address)


def _check_local_part(text: str, local: str) -> None:
    if not local:
        raise NormalizationError(text, "empty local part before '@'")
    if local.startswith('"'):
        raise NormalizationError(text, "quoted local parts are not supported")
    if len(local.encode("utf-8")) > _MAX_LOCAL:
        raise NormalizationError(text, f"local part longer than {_MAX_LOCAL} octets")
    if not _LOCAL_PART.fullmatch(local):
        raise NormalizationError(text, _local_problem(local))


def _local_problem(local: str) -> str:
    if local.startswith(".") or local.endswith("."):
        return "local part starts or ends with a dot"
    if ".." in local:
        return "two dots in a row in the local part"
    for char in local:
        if char != "." and not re.fullmatch(_ATOM, char):
            return f"invalid character {char!r} in the local part"
    return "invalid local part"
