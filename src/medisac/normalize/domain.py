"""Domain names: lower case, no trailing dot, internationalised labels as punycode.

Unicode input is mapped with UTS 46 (non-transitional, as current browsers
do) by the ``idna`` package, then each label is converted to its A-label
(``xn--…``), so the Unicode, upper-case and punycode spellings of one name
give one value. An ``xn--`` label in the input must decode to a valid IDNA
label and encode back to itself.

Each of these checks rejects a name with its own reason:

- an empty label (a leading dot, or two dots in a row);
- a label over 63 octets, or a name over 253 characters;
- a character other than a letter, digit or hyphen. An underscore is allowed
  outside the top-level label, for ``_dmarc``-style names;
- a hyphen at either end of a label;
- a top-level label that is all digits.

A domain indicator needs at least two labels, so a feed cannot block a whole
top-level domain by accident. A URL host may be a single label
(:func:`canonical_host`).

A plain ASCII name without an ``xn--`` label takes a fast path that checks
the whole name with one regular expression; any name that fails it goes
through the full checks, which find the reason.
"""

from __future__ import annotations

import functools
import re

import idna
from publicsuffixlist import PublicSuffixList

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType
from medisac.normalize.value import Value

_MAX_NAME = 253
_MAX_LABEL = 63

_PLAIN_NAME = re.compile(
    r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
_LABEL_CHARS = re.compile(r"[a-z0-9_-]+")
_BAD_LABEL_CHAR = re.compile(r"[^a-z0-9_-]")


def canonical_host(text: str) -> str:
    """Return the canonical form of a host name that may be a single label.

    Raises NormalizationError with the reason when the name is invalid.
    """
    return _canonical_name(text, min_labels=1)


def normalize_domain(text: str) -> Value:
    """Return the domain Value of a name with at least two labels.

    Raises NormalizationError with the reason when the name is invalid.
    """
    return Value(IndicatorType.DOMAIN, _canonical_name(text, min_labels=2))


def _canonical_name(text: str, min_labels: int) -> str:
    if text.isascii():
        name = text.lower()
        if name.endswith("."):
            name = name[:-1]
        if (
            len(name) <= _MAX_NAME
            and "xn--" not in name
            and _PLAIN_NAME.fullmatch(name)
            and not name.rpartition(".")[2].isdigit()
            and (min_labels == 1 or "." in name)
        ):
            return name
    return _checked_name(text, min_labels)


def _checked_name(text: str, min_labels: int) -> str:
    name = _map_case(text)
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise NormalizationError(text, "empty domain name")
    labels = name.split(".")
    for index, label in enumerate(labels):
        if not label:
            raise NormalizationError(text, _empty_label_reason(index, len(labels)))
    ascii_labels = [_ascii_label(text, label) for label in labels]
    for label in ascii_labels:
        _check_label(text, label)
    _check_top_label(text, ascii_labels[-1])
    ascii_name = ".".join(ascii_labels)
    if len(ascii_name) > _MAX_NAME:
        raise NormalizationError(
            text, f"name longer than {_MAX_NAME} characters ({len(ascii_name)})"
        )
    if len(ascii_labels) < min_labels:
        raise NormalizationError(
            text, "single-label name; a domain indicator needs at least two labels"
        )
    return ascii_name


def _map_case(text: str) -> str:
    if text.isascii():
        return text.lower()
    try:
        # UTS 46 folds case, full-width dots and compatibility forms;
        # std3_rules=False leaves ASCII punctuation to the label checks below,
        # which give a clearer reason.
        return idna.uts46_remap(text, std3_rules=False, transitional=False)
    except UnicodeError as exc:
        raise NormalizationError(text, f"invalid character in domain: {exc}") from exc


def _empty_label_reason(index: int, count: int) -> str:
    if index == 0:
        return "empty label (leading dot)"
    if index == count - 1:
        return "empty label (more than one trailing dot)"
    return "empty label (two dots in a row)"


def _ascii_label(text: str, label: str) -> str:
    if label.isascii():
        if label.startswith("xn--"):
            _check_punycode(text, label)
        return label
    try:
        return idna.alabel(label).decode("ascii")
    except UnicodeError as exc:
        raise NormalizationError(
            text, f"invalid internationalised label {label[:63]!r}: {exc}"
        ) from exc


def _check_punycode(text: str, label: str) -> None:
    try:
        round_trip = idna.alabel(idna.ulabel(label)).decode("ascii")
    except UnicodeError as exc:
        raise NormalizationError(
            text, f"invalid punycode label {label[:63]!r}: {exc}"
        ) from exc
    if round_trip != label:
        raise NormalizationError(
            text, f"punycode label {label[:63]!r} is not in canonical form"
        )


def _check_label(text: str, label: str) -> None:
    if len(label) > _MAX_LABEL:
        raise NormalizationError(
            text,
            f"label longer than {_MAX_LABEL} octets ({len(label)}): {label[:20]}…",
        )
    if not _LABEL_CHARS.fullmatch(label):
        bad = _BAD_LABEL_CHAR.search(label)
        char = bad.group(0) if bad else "?"
        raise NormalizationError(
            text, f"invalid character {char!r} in label {label[:63]!r}"
        )
    if label[0] == "-" or label[-1] == "-":
        raise NormalizationError(text, f"label {label!r} starts or ends with a hyphen")


def _check_top_label(text: str, label: str) -> None:
    if "_" in label:
        raise NormalizationError(text, f"underscore in top-level label {label!r}")
    if label.isdigit():
        raise NormalizationError(text, f"top-level label {label!r} is all digits")


@functools.cache
def _suffix_list() -> PublicSuffixList:
    # The list bundled with the publicsuffixlist package; nothing is fetched.
    return PublicSuffixList(accept_unknown=False)


@functools.lru_cache(maxsize=4096)
def is_known_tld(label: str) -> bool:
    """Tell whether ``label`` (lower case) is a top-level domain in use.

    True for every top-level label of the bundled Public Suffix List, and
    for ``onion`` (RFC 7686).
    """
    if label == "onion":
        return True
    if not label:
        return False
    return bool(_suffix_list().publicsuffix("x." + label) is not None)
