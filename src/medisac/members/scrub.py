"""Scrub personal and patient data from the free text of member submissions.

:func:`scrub_text` replaces each personal or patient value with a typed
placeholder such as ``[REDACTED:email]`` and returns where it did so;
:func:`scrub_json` does the same for the free-text fields of a STIX bundle or
an API body. The values the submitter declared as indicators (``keep``) are
never redacted.

What is redacted, by kind:

- ``email``: addresses, also defanged with ``[@]``, ``(at)``, ``[.]`` or
  ``(dot)``. In a URL's authority (``https://user@host/``) only the user part
  is redacted, and the host stays.
- ``name``: the display name next to a redacted address, as in ``John Smith
  <js@example.org>`` or ``"Smith, John" <js@example.org>``. Also the names
  after ``Patient:``, ``Name:``, ``Patient Name:``, ``Contact Name:`` and
  similar labels, after ``Attn:`` and after the ``From:``, ``To:``, ``Cc:``,
  ``Bcc:``, ``Reply-To:`` and ``Sender:`` header labels. Also the names after
  ``Dr.``, ``Mr.``, ``Mrs.``, ``Ms.``, ``Mx.``, ``Miss``, ``Prof.``, ``Dear``,
  ``Hi`` and ``Hello``, and the line after a sign-off such as ``Regards,``,
  ``Thanks,`` or ``Sincerely,``. A name is one to four capitalised words,
  none of them a role or service word such as ``Customer`` or ``Team``.
- ``phone``: North American numbers (``(555) 123-4567``, ``555.123.4567``,
  ``+1 555 123 4567``, with ``x1234`` or ``ext. 12``) and international
  numbers written with a ``+`` country code (``+44 20 7946 0958``).
- ``ssn``: ``123-45-6789`` and ``123 45 6789``, and nine digits after an
  ``SSN`` label. Area 000, 666 and 900-999, group 00 and serial 0000 are
  never issued, so such numbers are not redacted.
- ``mrn`` and ``account``: the value after a record label (``MRN``, ``MR#``,
  ``Medical Record Number``, ``Patient ID``; ``Acct``, ``Account No.``,
  ``Patient Account``, ``Encounter``, ``FIN``). The value is 4 to 30 letters
  and digits with ``-``, ``/`` or ``.`` between them, and contains a digit.
- ``dob``: a date after ``DOB``, ``Date of Birth``, ``Birthdate`` or
  ``born``, written as ``03/03/1961``, ``1961-03-03``, ``March 3, 1961``,
  ``03-Mar-1961`` or ``19610303``. A date without such a label stays.

What is kept: every occurrence of a ``keep`` value that is a token of its own,
compared case-insensitively and after refanging. So ``hxxps://evil[.]com`` in
the text matches a declared ``https://evil.com``. Everything that is none of
the above is kept too: host names, URLs, IP addresses, hashes, CVE ids, dates
and times. Where a kept value overlaps a detected value, a name loses the
overlapping words and a number is not redacted. An address that is not itself
kept is redacted even where it contains a kept domain.

Not caught: a name without one of the cues above (``the patient, John Smith,
called``), a name written in lower case, cues in languages other than
English, seven-digit local phone numbers, addresses without a dot in the
domain (``jdoe@localhost``), postal addresses, and record numbers without a
label. Raw MIME must be decoded first, because a quoted-printable or base64
body splits or hides addresses. Some values that are no personal data are
redacted: a ``Message-ID`` has the form of an address, and three groups of
digits such as ``200 300 4000`` have the form of a phone number.

Each search costs time linear in the length of the text. Addresses are
matched from each ``@``, numbers only where no digit, letter or separator
precedes, and labels only where one of their words occurs.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from medisac.errors import NormalizationError
from medisac.normalize import clean, normalize, refang

log = logging.getLogger(__name__)

# The kinds in the order that decides which kind an overlap of two
# redactions takes.
KINDS = ("ssn", "email", "mrn", "account", "dob", "phone", "name")
_PRIORITY = {kind: rank for rank, kind in enumerate(KINDS)}

# Scrubbing its own output found nothing new after at most two passes in the
# tests. The cap guards against a pattern interaction that they missed.
_MAX_PASSES = 4


@dataclass(frozen=True, slots=True)
class Redaction:
    """One redacted span: its kind and its offsets in the input text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Scrubbed:
    """Scrubbed text and the spans of the input that were redacted."""

    text: str
    redactions: tuple[Redaction, ...]


def placeholder(kind: str) -> str:
    """Return the text that replaces a redacted value of ``kind``."""
    return f"[REDACTED:{kind}]"


# -- values the submitter declared as indicators --------------------------

# Characters that continue a token on either side of a kept value. A dot or
# colon continues it only when a letter or digit follows.
_KEEP_JOINED = "_@-/"
_KEEP_JOINED_IF_FOLLOWED = ".:"
_TRAILING_PUNCTUATION = ".,;:!?"
_DEFANG_HINTS = ("[", "(", "{", "hxxp", "HXXP")


def _variants(value: str) -> set[str]:
    """Return the lower-case spellings of one declared value to look for."""
    variants = {value.strip().lower()}
    try:
        cleaned = clean(value)
        variants.add(cleaned.lower())
        for canonical in normalize(value):
            variants.add(canonical.value.lower())
            if canonical.value.endswith("/"):
                variants.add(canonical.value[:-1].lower())
    except NormalizationError:
        pass  # Not an indicator value, so only its literal spelling is kept.
    variants.discard("")
    return variants


def _stands_alone(text: str, start: int, end: int) -> bool:
    if start > 0:
        before = text[start - 1]
        if before.isalnum() or before in _KEEP_JOINED or before == ".":
            return False
    if end < len(text):
        after = text[end]
        if after.isalnum() or after in _KEEP_JOINED:
            return False
        if after in _KEEP_JOINED_IF_FOLLOWED and end + 1 < len(text):
            following = text[end + 1]
            return not (following.isalnum() or following == "_")
    return True


class KeepSet:
    """The declared indicator values, prepared once for many texts."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.variants: frozenset[str] = frozenset(
            variant for value in values for variant in _variants(value)
        )

    def __bool__(self) -> bool:
        return bool(self.variants)

    def contains(self, text: str) -> bool:
        """Return whether ``text``, refanged, is one of the declared values."""
        return refang(text).lower() in self.variants

    def spans(self, text: str, lowered: str) -> list[tuple[int, int]]:
        """Return the sorted spans of ``text`` where a declared value is a token.

        ``lowered`` is ``text`` in lower case with the same offsets.
        """
        if not self.variants:
            return []
        found = []
        for variant in self.variants:
            start = lowered.find(variant)
            while start >= 0:
                end = start + len(variant)
                if _stands_alone(text, start, end):
                    found.append((start, end))
                start = lowered.find(variant, start + 1)
        found.extend(self._defanged_spans(text))
        return _merge_intervals(found)

    def _defanged_spans(self, text: str) -> Iterator[tuple[int, int]]:
        for match in _TOKEN.finditer(text):
            token = match.group()
            if not any(hint in token for hint in _DEFANG_HINTS):
                continue
            start, end = match.span()
            while end > start and text[end - 1] in _TRAILING_PUNCTUATION:
                end -= 1
            try:
                value = clean(text[start:end]).lower()
            except NormalizationError:
                continue
            if value in self.variants:
                yield start, end


_TOKEN = re.compile(r"\S+")


def _as_keep_set(keep: Iterable[str] | KeepSet) -> KeepSet:
    return keep if isinstance(keep, KeepSet) else KeepSet(keep)


# -- e-mail addresses ------------------------------------------------------

_AT = r"(?:@|\[@\]|\(@\)|\[at\]|\(at\))"
_DOT = r"(?:\.|\[\.\]|\(\.\)|\[dot\]|\(dot\))"
_DOMAIN_LABEL = r"[^\W_](?:[^\W_]|-)*"
# The local part is limited to what real mailboxes use: letters, digits and
# ``._%+-``. The rarer RFC 5322 characters such as ``/`` and ``=`` also occur
# in URL paths and query strings, where they would pull the URL into the
# address.
_LOCAL_PUNCTUATION = "_%+-."
_EMAIL = re.compile(
    rf"[\w%+-]+(?:\.[\w%+-]+)*{_AT}{_DOMAIN_LABEL}(?:{_DOT}{_DOMAIN_LABEL})+",
    re.IGNORECASE,
)
_AT_MARKER = re.compile(_AT, re.IGNORECASE)
_URL_WHITESPACE_OR_SLASH = re.compile(r"[\s/@]")


def _is_email(address: str) -> bool:
    # A top-level domain starts with a letter, which keeps ``pkg@1.2.3`` out.
    # One letter is enough because a quoted-printable line break (``=`` at
    # the end of a line) can cut ``.uk`` to ``.u``.
    return refang(address).rpartition(".")[2][:1].isalpha()


def _local_part_start(text: str, at: int) -> int:
    """Return where the local part ending at ``at`` starts.

    Searching back from each ``@`` keeps the cost linear: a pattern that
    starts anywhere would rescan a long word once per position.
    """
    start = at
    while start > 0:
        char = text[start - 1]
        if not (char.isalnum() or char in _LOCAL_PUNCTUATION):
            break
        if char == "." and start >= 2 and text[start - 2] == ".":
            break
        start -= 1
    while start < at and text[start] == ".":
        start += 1
    return start


def _userinfo_start(text: str, start: int) -> int | None:
    """Return where the user part of ``scheme://user@host`` starts, if it does."""
    separator = text.rfind("://", max(0, start - 300), start)
    if separator < 1 or not text[separator - 1].isalpha():
        return None
    if _URL_WHITESPACE_OR_SLASH.search(text, separator + 3, start):
        return None
    return separator + 3


def _find_emails(text: str, keep: KeepSet) -> Iterator[Redaction]:
    resume = 0
    for marker in _AT_MARKER.finditer(text):
        if marker.start() < resume:
            continue
        start = _local_part_start(text, marker.start())
        match = _EMAIL.match(text, start)
        if start == marker.start() or match is None or match.end() <= marker.end():
            continue
        resume = match.end()
        address = match.group()
        if not _is_email(address) or keep.contains(address):
            continue
        user_start = _userinfo_start(text, start)
        if user_start is not None:
            # ``scheme://user@host``: the user part goes, the host stays.
            yield Redaction("email", user_start, marker.start())
        else:
            yield Redaction("email", start, match.end())


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# -- labels -------------------------------------------------------------------


def _lower_same_length(text: str) -> str:
    """Return ``text`` in lower case with every character at the same offset."""
    # U+0130 is the one character whose lower case is two characters long.
    return text.replace("\u0130", "i").lower()


def _anchored(
    pattern: re.Pattern[str], words: Iterable[str], text: str, lowered: str
) -> Iterator[re.Match[str]]:
    """Yield the matches of ``pattern`` that start where one of ``words`` does.

    Finding a few lower-case words with ``str.find`` and matching only there
    is several times faster than a case-insensitive search of the whole text.
    The patterns keep their look-behind, which reads the text before the word.
    """
    positions: set[int] = set()
    for word in words:
        position = lowered.find(word)
        while position >= 0:
            positions.add(position)
            position = lowered.find(word, position + 1)
    for position in sorted(positions):
        match = pattern.match(text, position)
        if match is not None:
            yield match


# -- personal names ---------------------------------------------------------

_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*\.?")
# Capitalised words that follow a name cue but name no person. Checked in
# lower case.
_NOT_NAMES = frozenset(
    _words(
        """
    a account accounts acct admin administrator alert alerts all an and
    analyst apple at attached attachment bank below billing by center centre
    ceo cfo ciso client clinic colleague colleagues company customer customers
    date dear delivery department dept desk director dob doctor email e-mail
    encounter engineer everyone fax fin for friend from google group hello help
    helpdesk hi hospital hr in info it mail mailbox manager medical member
    members microsoft md mr mrn n/a na no noreply no-reply none not notification
    notifications nurse of office officer on or patient patients paypal payroll
    pharmacist pharmacy phone physician postmaster recipient recipients
    redacted regards rn sender sent service services sir madam soc specialist
    ssn staff supervisor subject support system systems team technician tel
    thanks the there to undisclosed unknown user users
    valued via we you your
    """
    )
)
_MAX_NAME_WORDS = 4
_INLINE_SPACE = re.compile(r"[ \t]+")


def _is_name_word(word: str) -> bool:
    return (
        _NAME_WORD.fullmatch(word) is not None
        and word[0].isupper()
        and word.rstrip(".").lower() not in _NOT_NAMES
    )


def _name_run(
    text: str, pos: int, limit: int, *, allow_comma: bool = True
) -> tuple[int, int] | None:
    """Return the span of up to four name words starting at ``pos``.

    The words are separated by spaces or tabs, and with ``allow_comma`` one
    comma may follow the first word, as in ``DOE, JANE``.
    """
    end = pos
    cursor = pos
    words = 0
    while words < _MAX_NAME_WORDS and cursor < limit:
        match = _NAME_TOKEN.match(text, cursor, limit)
        if match is None or not _is_name_word(match.group()):
            break
        words += 1
        end = match.end()
        cursor = end
        comma = allow_comma and words == 1 and text.startswith(",", cursor)
        gap = _INLINE_SPACE.match(text, cursor + (1 if comma else 0), limit)
        if gap is None:
            break
        cursor = gap.end()
    return (pos, end) if words else None


_NAME_TOKEN = re.compile(r"[^\s,;:!?<>\"()\[\]]+")


# How far a name cue looks ahead, and a display name looks back, on one line.
# Four name words fit easily, and the bound keeps long lines linear.
_NAME_REACH = 200


def _line_end(text: str, pos: int) -> int:
    limit = min(len(text), pos + _NAME_REACH)
    end = text.find("\n", pos, limit)
    return limit if end < 0 else end


def _line_start(text: str, pos: int) -> int:
    lower = max(0, pos - _NAME_REACH)
    return max(lower, text.rfind("\n", lower, pos) + 1)


_NAME_LABEL = re.compile(
    r"(?<![\w-])(?:"
    r"(?:patient|pt|full|contact|employee|member|subscriber|guarantor|insured"
    r"|caller|physician|provider|nurse|first|last|legal)[ \t]+name"
    r"|(?<![\w-] )(?<![\w-]\t)name|patient|attn|attention"
    r")[ \t]*:[ \t]*",
    re.IGNORECASE,
)
# Case-sensitive and without a look-behind, so that the search can skip to
# the next capital D, M, P or H; :func:`_starts_word` checks the boundary.
_HONORIFIC = re.compile(r"(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof)\.?[ \t]+")
_SALUTATION = re.compile(r"(?:Dear|Hi|Hello)[ \t]+")
_HEADER = re.compile(
    r"^[ \t>]*(?:From|To|Cc|Bcc|Reply-To|Sender)[ \t]*:[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_NAME_LABEL_ANCHORS = _words(
    "patient pt full contact employee member subscriber guarantor insured caller"
    " physician provider nurse first last legal name attn attention"
)
# A sign-off alone on its line. The name is on the next line that has text.
_SIGN_OFF = re.compile(
    r"(?:(?:best|kind|warm|warmest|many)[ \t]+)?"
    r"(?:regards|thanks|thank[ \t]+you|sincerely|cheers|respectfully|best)"
    r"[ \t]*[,.!]?[ \t]*(?:\r?\n[ \t>]*)+",
    re.IGNORECASE | re.MULTILINE,
)
_SIGN_OFF_INLINE = re.compile(
    r"(?<![\w-])(?:regards|thanks|sincerely|cheers),[ \t]+", re.IGNORECASE
)
_SIGN_OFF_ANCHORS = _words(
    "regards thanks thank sincerely cheers respectfully best kind warm warmest many"
)
_HEADER_SEGMENT = re.compile(r"[^,;]+")


def _starts_word(text: str, position: int) -> bool:
    return position == 0 or not (
        text[position - 1].isalnum() or text[position - 1] in "_.-"
    )


def _find_labelled_names(text: str, lowered: str) -> Iterator[Redaction]:
    spans: list[tuple[int, int] | None] = []
    for match in _anchored(_NAME_LABEL, _NAME_LABEL_ANCHORS, text, lowered):
        limit = _line_end(text, match.end())
        spans.append(_name_run(text, match.end(), limit))
    for match in _HONORIFIC.finditer(text):
        if not _starts_word(text, match.start()):
            continue
        limit = _line_end(text, match.end())
        spans.append(_name_run(text, match.end(), limit, allow_comma=False))
    for match in _SALUTATION.finditer(text):
        if not _starts_word(text, match.start()):
            continue
        limit = _line_end(text, match.end())
        span = _name_run(text, match.end(), limit, allow_comma=False)
        # A greeting opens many phrases ("Dear Netflix Member"), so the name
        # must end the greeting: at a comma, a colon, "!" or the line end.
        if span is not None and _ends_greeting(text, span[1], limit):
            spans.append(span)
    for span in spans:
        if span is not None:
            yield Redaction("name", *span)
    yield from _find_signature_names(text, lowered)
    yield from _find_header_names(text)


def _ends_greeting(text: str, position: int, limit: int) -> bool:
    if text.startswith((",", ":", "!"), position):
        return True
    return not text[position:limit].strip()


def _find_signature_names(text: str, lowered: str) -> Iterator[Redaction]:
    for match in _anchored(_SIGN_OFF, _SIGN_OFF_ANCHORS, text, lowered):
        line_start = _line_start(text, match.start())
        if not text[line_start : match.start()].strip(" \t>"):
            yield from _whole_line_name(text, match.end())
    for match in _anchored(_SIGN_OFF_INLINE, _SIGN_OFF_ANCHORS, text, lowered):
        yield from _whole_line_name(text, match.end())


def _whole_line_name(text: str, pos: int) -> Iterator[Redaction]:
    """Yield the name at ``pos`` if it fills its line, titles after a comma aside."""
    limit = _line_end(text, pos)
    span = _name_run(text, pos, limit, allow_comma=False)
    if span is None:
        return
    rest = text[span[1] : limit].strip()
    if not rest or rest.startswith(","):
        yield Redaction("name", *span)


def _find_header_names(text: str) -> Iterator[Redaction]:
    """Yield the names in header lines that carry no address next to them."""
    for match in _HEADER.finditer(text):
        limit = _line_end(text, match.end())
        for segment in _HEADER_SEGMENT.finditer(text, match.end(), limit):
            if "@" in segment.group() or "<" in segment.group():
                continue
            start = (
                segment.start()
                + len(segment.group())
                - len(segment.group().lstrip(" \t\"'"))
            )
            value_end = segment.start() + len(segment.group().rstrip(" \t\"'\r"))
            span = _name_run(text, start, value_end, allow_comma=False)
            if span is not None and span[1] == value_end:
                yield Redaction("name", *span)


def _display_name(text: str, address: Redaction) -> Redaction | None:
    """Return the display name of ``Name <address>``, if there is one."""
    start = address.start
    if start == 0 or text[start - 1] != "<" or not text.startswith(">", address.end):
        return None
    segment_start = _line_start(text, start - 1)
    end = segment_start + len(text[segment_start : start - 1].rstrip(" \t"))
    if end > segment_start and text[end - 1] == '"':
        opening = text.rfind('"', segment_start, end - 1)
        if opening < 0 or opening == end - 2:
            return None
        return Redaction("name", opening + 1, end - 1)
    words = list(_TOKEN.finditer(text, segment_start, end))[-_MAX_NAME_WORDS:]
    name_start = end
    for word in reversed(words):
        if not _is_name_word(word.group().rstrip(",")):
            break
        name_start = word.start()
    return Redaction("name", name_start, end) if name_start < end else None


# -- numbers ------------------------------------------------------------------

# No number starts right after a digit, letter, dot, dash, slash, colon, hash
# or plus sign. None ends right before a letter or digit, or before a dot,
# colon, slash or dash followed by a digit. Together these keep IP addresses,
# versions, dates, times, ports, hashes and CVE ids intact. One scan finds the
# places where a number may start, and each number pattern is tried there.
_NUMBER_START = re.compile(r"[+(\d](?<![\w.+/:#-].)")
_NUMBER_AFTER = r"(?!\w|[.:/-]\d)"
_EXTENSION = r"(?:[ \t]*(?:x|ext\.?|extension)[ \t]*\d{1,6})?"
_US_PHONE = re.compile(
    rf"(?:\+?1[ .-]?)?(?:\([2-9]\d\d\)[ .-]?|[2-9]\d\d[ .-])"
    rf"\d{{3}}[ .-]\d{{4}}{_EXTENSION}{_NUMBER_AFTER}",
    re.IGNORECASE,
)
_INTERNATIONAL_PHONE = re.compile(
    rf"\+(?:[1-9]\d{{7,14}}"
    rf"|[1-9]\d{{0,2}}(?:[ .-]?\(\d{{1,4}}\)|[ .-]\d{{1,10}}){{1,6}})"
    rf"{_EXTENSION}{_NUMBER_AFTER}",
    re.IGNORECASE,
)
# E.164 numbers have at most 15 digits, and fewer than 8 is no full number.
_E164_DIGITS = range(8, 16)
_EXTENSION_TAIL = re.compile(r"(?:x|ext\.?|extension)[ \t]*\d+\Z", re.IGNORECASE)

_SSN = re.compile(
    rf"(?!000|666|9)\d{{3}}([- ])(?!00)\d\d\1(?!0000)\d{{4}}"
    rf"{_NUMBER_AFTER}"
)
_SSN_LABELLED = re.compile(
    r"(?<![\w:])(?:SSN|SS\#|Social[ \t]+Security(?:[ \t]+(?:Number|No\.?|\#))?)"
    r"[ \t]*[:\#]?[ \t]*"
    r"(?P<value>(?!000|666|9)\d{3}([- ]?)(?!00)\d\d\2(?!0000)\d{4})(?!\d)",
    re.IGNORECASE,
)

_NUMBER_WORD = r"(?:No\.?|Number|\#)"
_RECORD = re.compile(
    r"(?<![\w:])(?:"
    rf"(?P<mrn>MRN|MR\#|MR[ \t]*{_NUMBER_WORD}"
    rf"|Medical[ \t]+Record(?:[ \t]+{_NUMBER_WORD})?"
    rf"|Patient[ \t]*(?:ID|Identifier|{_NUMBER_WORD})|Pt\.?[ \t]*ID)"
    rf"[ \t]*[:\#=]?"
    rf"|(?P<account>Patient[ \t]+Account(?:[ \t]*{_NUMBER_WORD})?[ \t]*[:\#=]?"
    rf"|(?:Acct\.?|Account)[ \t]*{_NUMBER_WORD}[ \t]*[:\#=]?"
    rf"|(?:Acct\.?|Encounter|(?-i:FIN))[ \t]*(?:{_NUMBER_WORD}|ID)?[ \t]*[:\#=]"
    rf"|Encounter[ \t]*(?:{_NUMBER_WORD}|ID)[ \t]*[:\#=]?)"
    r")[ \t]*"
    r"(?P<value>[A-Za-z0-9](?:[A-Za-z0-9]|[-/.](?=[A-Za-z0-9])){3,29})"
    r"(?![A-Za-z0-9])",
    re.IGNORECASE,
)

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?"
    r"|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d\d)"
    r"|\d{4}[/.-]\d{1,2}[/.-]\d{1,2}"
    rf"|{_MONTH}[ \t]+\d{{1,2}}(?:st|nd|rd|th)?,?[ \t]+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?(?:[ \t]+|[ \t]*[-/][ \t]*){_MONTH}"
    r"(?:[ \t]*[-/,][ \t]*|[ \t]+)\d{4}"
    r"|\d{8})"
)
_DOB = re.compile(
    r"(?<![\w:])(?:DOB|D\.O\.B\.?|Date[ \t]+of[ \t]+Birth|Birth[ \t]*date"
    r"|born(?:[ \t]+on)?)"
    rf"[ \t]*[:\#=-]?[ \t]*(?P<date>{_DATE})(?!\d|[/.-]\d)",
    re.IGNORECASE,
)


def _find_numbers(text: str) -> Iterator[Redaction]:
    resume = 0
    for start in _NUMBER_START.finditer(text):
        position = start.start()
        if position < resume:
            continue
        for match in (
            _US_PHONE.match(text, position),
            _international_phone(text, position),
        ):
            if match is not None:
                resume = max(resume, match.end())
                yield Redaction("phone", *match.span())
        ssn = _SSN.match(text, position)
        if ssn is not None:
            resume = max(resume, ssn.end())
            yield Redaction("ssn", *ssn.span())


def _international_phone(text: str, position: int) -> re.Match[str] | None:
    match = _INTERNATIONAL_PHONE.match(text, position)
    if match is None:
        return None
    number = _EXTENSION_TAIL.sub("", match.group())
    return match if sum(char.isdigit() for char in number) in _E164_DIGITS else None


# The first words of each labelled pattern's alternatives, in lower case.
_LABEL_ANCHORS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (_SSN_LABELLED, ("ssn", "ss#", "social")),
    (
        _RECORD,
        ("mr", "medical", "patient", "pt", "acct", "account", "encounter", "fin"),
    ),
    (_DOB, ("dob", "d.o.b", "date", "birth", "born")),
)


def _find_labelled_values(text: str, lowered: str) -> Iterator[Redaction]:
    for pattern, words in _LABEL_ANCHORS:
        for match in _anchored(pattern, words, text, lowered):
            yield from _labelled_value(match)


def _labelled_value(match: re.Match[str]) -> Iterator[Redaction]:
    groups = match.groupdict()
    if "date" in groups:
        yield Redaction("dob", *match.span("date"))
    elif "mrn" in groups:
        if any(char.isdigit() for char in match.group("value")):
            kind = "mrn" if groups["mrn"] is not None else "account"
            yield Redaction(kind, *match.span("value"))
    else:
        yield Redaction("ssn", *match.span("value"))


# -- putting the detectors together --------------------------------------------


def _merge_intervals(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _overlapping(
    kept_spans: list[tuple[int, int]], starts: list[int], start: int, end: int
) -> list[tuple[int, int]]:
    index = bisect.bisect_right(starts, end) - 1
    found = []
    while index >= 0 and kept_spans[index][1] > start:
        if kept_spans[index][0] < end:
            found.append(kept_spans[index])
        index -= 1
    return found[::-1]


def _outside_kept(
    candidate: Redaction, kept_spans: list[tuple[int, int]], starts: list[int]
) -> list[Redaction]:
    """Return what of ``candidate`` may be redacted next to kept values."""
    overlaps = _overlapping(kept_spans, starts, candidate.start, candidate.end)
    if not overlaps:
        return [candidate]
    if candidate.kind == "email":
        inside = any(s <= candidate.start and candidate.end <= e for s, e in overlaps)
        return [] if inside else [candidate]
    if candidate.kind != "name":
        return []
    pieces = []
    cursor = candidate.start
    for start, end in [*overlaps, (candidate.end, candidate.end)]:
        if start > cursor:
            pieces.append(Redaction("name", cursor, start))
        cursor = max(cursor, end)
    return pieces


def _tidy_name(text: str, piece: Redaction) -> Redaction | None:
    fragment = text[piece.start : piece.end]
    stripped = fragment.strip(" \t,.;:'\"")
    if not any(char.isalpha() for char in stripped):
        return None
    start = piece.start + fragment.index(stripped)
    return Redaction("name", start, start + len(stripped))


def _merge(redactions: Iterable[Redaction]) -> list[Redaction]:
    merged: list[Redaction] = []
    for item in sorted(redactions, key=lambda r: (r.start, -r.end)):
        if merged and item.start < merged[-1].end:
            last = merged[-1]
            kind = min(last.kind, item.kind, key=_PRIORITY.__getitem__)
            merged[-1] = Redaction(kind, last.start, max(last.end, item.end))
        else:
            merged.append(item)
    return merged


def _detect(text: str, keep: KeepSet) -> list[Redaction]:
    """Return the merged redactions for one pass over ``text``."""
    lowered = _lower_same_length(text)
    kept_spans = keep.spans(text, lowered)
    starts = [start for start, _ in kept_spans]
    emails = [
        piece
        for candidate in _find_emails(text, keep)
        for piece in _outside_kept(candidate, kept_spans, starts)
    ]
    candidates: list[Redaction] = list(emails)
    for address in emails:
        name = _display_name(text, address)
        if name is not None:
            candidates.append(name)
    for candidate in [
        *_find_numbers(text),
        *_find_labelled_values(text, lowered),
        *_find_labelled_names(text, lowered),
    ]:
        for piece in _outside_kept(candidate, kept_spans, starts):
            tidy = _tidy_name(text, piece) if piece.kind == "name" else piece
            if tidy is not None and tidy.end > tidy.start:
                candidates.append(tidy)
    return _merge(candidates)


def _apply(
    text: str, redactions: list[Redaction]
) -> tuple[str, list[tuple[int, int, Redaction]]]:
    """Replace each redaction, and return where each placeholder landed."""
    parts = []
    placed = []
    cursor = 0
    length = 0
    for item in redactions:
        parts.append(text[cursor : item.start])
        length += item.start - cursor
        token = placeholder(item.kind)
        parts.append(token)
        placed.append((length, length + len(token), item))
        length += len(token)
        cursor = item.end
    parts.append(text[cursor:])
    return "".join(parts), placed


def _to_input(
    position: int, placed: list[tuple[int, int, Redaction]], *, is_end: bool
) -> int:
    """Map an offset of the scrubbed text back to an offset of the input.

    ``placed`` is sorted and comes from :func:`_apply`. An offset inside a
    placeholder maps to the start, or for ``is_end`` the end, of what the
    placeholder replaced.
    """
    search = bisect.bisect_left if is_end else bisect.bisect_right
    index = search(placed, position, key=lambda entry: entry[0]) - 1
    if index < 0:
        return position
    _, out_end, item = placed[index]
    if position < out_end or (is_end and position == out_end):
        return item.end if is_end else item.start
    return position - (out_end - item.end)


def scrub_text(text: str, keep: Iterable[str] | KeepSet = ()) -> Scrubbed:
    """Redact personal and patient data in ``text``, sparing ``keep`` values.

    ``keep`` contains the indicator values the submitter declared, in any
    spelling that :func:`medisac.normalize.normalize` accepts, or a
    :class:`KeepSet` built once for many texts. Offsets in the returned
    redactions refer to ``text``. Scrubbing the returned text again with the
    same ``keep`` changes nothing.
    """
    keep_set = _as_keep_set(keep)
    redactions = _detect(text, keep_set)
    scrubbed, placed = _apply(text, redactions)
    for _ in range(_MAX_PASSES):
        # A redaction can change what surrounds a value that a pattern
        # rejected before, so the output is checked until it is stable.
        extra = _detect(scrubbed, keep_set)
        if not extra:
            return Scrubbed(scrubbed, tuple(redactions))
        mapped = [
            Redaction(
                item.kind,
                _to_input(item.start, placed, is_end=False),
                _to_input(item.end, placed, is_end=True),
            )
            for item in extra
        ]
        redactions = _merge([*redactions, *mapped])
        scrubbed, placed = _apply(text, redactions)
    log.warning(
        "scrubbing did not settle after %d passes over %d characters",
        _MAX_PASSES,
        len(text),
    )
    return Scrubbed(scrubbed, tuple(redactions))


# -- JSON documents -------------------------------------------------------------

# Keys whose string values are free text in any object, at any depth. Every
# string under a key starting with ``x_`` (a STIX custom property) is scrubbed
# too, as are the strings and ``content`` of a ``notes`` list.
FREE_TEXT_KEYS = frozenset(
    {
        "abstract",
        "comment",
        "comments",
        "contact_information",
        "content",
        "description",
        "explanation",
        "note",
        "notes",
    }
)
# ``name`` is free text for these STIX types, and a label for the rest
# (malware, threat-actor, vulnerability, attack-pattern, …), which stays.
FREE_TEXT_NAME_TYPES = frozenset(
    {"grouping", "incident", "indicator", "note", "observed-data", "opinion", "report"}
)
# Keys of a STIX ``email-message`` object that are scrubbed: the body, the
# subject, and every value of ``additional_header_fields``; ``body_multipart``
# is walked for its parts' ``body``.
EMAIL_MESSAGE_KEYS = frozenset({"body", "subject", "additional_header_fields"})
# Keys that are never scrubbed or walked, whatever their parent: identifiers,
# types, timestamps, references, patterns and markings.
DEFAULT_SKIP_KEYS = frozenset(
    {
        "created",
        "created_by_ref",
        "first_seen",
        "id",
        "last_seen",
        "modified",
        "object_marking_refs",
        "object_refs",
        "pattern",
        "pattern_type",
        "pattern_version",
        "spec_version",
        "type",
        "valid_from",
        "valid_until",
    }
)


@dataclass
class _JsonScrubber:
    keep: KeepSet
    skip_keys: Collection[str]
    count: int = 0

    def text(self, value: str) -> str:
        result = scrub_text(value, self.keep)
        self.count += len(result.redactions)
        return result.text

    def all_strings(self, value: Any) -> Any:
        """Scrub every string in ``value``, at any depth."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.all_strings(item) for item in value]
        if isinstance(value, Mapping):
            return {key: self.all_strings(item) for key, item in value.items()}
        return value

    def walk(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.walk(item) for item in value]
        if isinstance(value, Mapping):
            return self.walk_object(value)
        return value

    def walk_object(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        stix_type = obj.get("type")
        if not isinstance(stix_type, str):
            stix_type = None
        result: dict[str, Any] = {}
        for key, value in obj.items():
            if key in self.skip_keys:
                result[key] = value
            elif self.is_free_text(stix_type, key):
                result[key] = self.all_strings(value)
            elif stix_type == "email-message" and key == "body_multipart":
                result[key] = self.mime_parts(value)
            else:
                result[key] = self.walk(value)
        if stix_type == "email-addr":
            self.scrub_email_addr(result)
        elif stix_type == "identity" and obj.get("identity_class") == "individual":
            self.redact_whole(result, "name")
        return result

    def mime_parts(self, parts: Any) -> Any:
        """Scrub the ``body`` of each MIME part, and walk the rest."""
        if not isinstance(parts, list):
            return self.walk(parts)
        scrubbed = []
        for part in parts:
            if isinstance(part, Mapping):
                copied = self.walk_object(part)
                if isinstance(part.get("body"), str) and "body" not in self.skip_keys:
                    copied["body"] = self.text(part["body"])
                scrubbed.append(copied)
            else:
                scrubbed.append(self.walk(part))
        return scrubbed

    def is_free_text(self, stix_type: str | None, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in FREE_TEXT_KEYS or key.startswith("x_"):
            return True
        if key == "name":
            return stix_type in FREE_TEXT_NAME_TYPES
        if stix_type == "email-message":
            return key in EMAIL_MESSAGE_KEYS
        return False

    def scrub_email_addr(self, obj: dict[str, Any]) -> None:
        """Redact an address that was not declared, with its display name."""
        address = obj.get("value")
        if isinstance(address, str) and not self.keep.contains(address):
            scrubbed = self.text(address)
            if scrubbed != address:
                obj["value"] = scrubbed
                self.redact_whole(obj, "display_name")
                return
        if isinstance(obj.get("display_name"), str):
            obj["display_name"] = self.text(obj["display_name"])

    def redact_whole(self, obj: dict[str, Any], key: str) -> None:
        if isinstance(obj.get(key), str) and obj[key]:
            obj[key] = placeholder("name")
            self.count += 1


def scrub_json(
    value: Any,
    keep: Iterable[str] | KeepSet = (),
    skip_keys: Collection[str] = DEFAULT_SKIP_KEYS,
) -> tuple[Any, int]:
    """Scrub the free-text fields of a JSON value such as a STIX bundle.

    Walks dicts and lists and returns a new value with the number of
    redactions made, and leaves ``value`` unchanged. These strings are
    scrubbed:

    - every string under a key in :data:`FREE_TEXT_KEYS` or starting with
      ``x_``, at any depth;
    - ``name`` of the STIX types in :data:`FREE_TEXT_NAME_TYPES`;
    - ``body``, ``subject``, ``body_multipart[].body`` and the values of
      ``additional_header_fields`` in an ``email-message``;
    - ``value`` of an ``email-addr`` unless it is in ``keep``. A redacted
      address takes its ``display_name`` with it, which is otherwise scrubbed
      as text;
    - ``name`` of an ``identity`` whose ``identity_class`` is ``individual``,
      which is redacted whole.

    Keys in ``skip_keys`` are copied unchanged, and so is every other string.
    """
    scrubber = _JsonScrubber(_as_keep_set(keep), skip_keys)
    result = scrubber.walk(value)
    log.debug("scrubbed a JSON value: %d redactions", scrubber.count)
    return result, scrubber.count
