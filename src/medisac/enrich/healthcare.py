"""Healthcare relevance from the tags and context that sources attach.

An indicator is relevant to healthcare when one of its tags names the sector
(``sector:Health``, ``healthcare``, ``hospital``). It is also relevant when a
tag or a context field names a threat actor or malware family that targets
healthcare according to the MISP galaxies (:mod:`medisac.enrich.galaxies`).

Names are found in two kinds of text:

- *structured*: a galaxy tag (``misp-galaxy:ransomware="Conti"``), a machine
  tag whose namespace names malware or an actor (``malware_family:lockbit``,
  ``threat-actor:APT41``), and the context fields that hold such a name. The
  whole value must equal a known name.
- *free text*: plain tags (``ryuk``) and descriptive context fields (STIX
  ``name``, MISP ``event_info`` and ``comment``). Any run of one to three
  words may equal a known name, but only names of at least four characters
  that are not common words count, so "Agent Tesla" does not match a group
  called "Agent" and a tag "ghost" alone says nothing.

An analyst's decision (``indicators.analyst_healthcare``) overrides all of
this: see :func:`healthcare_relevance`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from medisac.enrich.galaxies import MIN_KEY_LENGTH, healthcare_names, name_key

# Words that, inside a tag, mark the indicator as aimed at healthcare. They
# cover MISP sector taxonomies ("sector:Health"), STIX identity sectors
# ("healthcare"), the US "HPH" (Healthcare and Public Health) sector and
# free-text tags that feeds use. "hospitality" is another sector.
_HEALTHCARE_WORDS = re.compile(
    r'healthcare|health[- ]care|sector[:=]"?health|hospital(?!ity)|medical|pharma'
    r"|hipaa|\bhph\b",
    re.IGNORECASE,
)

# Tag namespaces whose value is a malware, tool or actor name.
NAME_NAMESPACES = frozenset(
    {
        "actor",
        "family",
        "intrusion-set",
        "malware",
        "malware_family",
        "malware-family",
        "ransomware",
        "threat-actor",
        "threat_actor",
        "tool",
    }
)
# Context fields that hold one such name, and fields of free text.
NAME_FIELDS = frozenset({"malware", "malware_family", "family", "threat_actor"})
TEXT_FIELDS = frozenset(
    {"name", "event_info", "ioc_name", "comment", "description", "info"}
)

# Names of healthcare-targeting clusters that are also common words or
# element, country or product names: in free text they are no evidence.
COMMON_WORDS = frozenset(
    {
        "abcd",
        "amoeba",
        "anubis",
        "arcane",
        "axiom",
        "barium",
        "bert",
        "cactus",
        "cheers",
        "chromium",
        "cleaver",
        "cuba",
        "dubnium",
        "dune",
        "eldorado",
        "embargo",
        "fidel",
        "ghost",
        "hippo",
        "hive",
        "hoodoo",
        "hydra",
        "krypton",
        "lead",
        "leviathan",
        "maze",
        "medusa",
        "moonlight",
        "mount",
        "pandora",
        "polonium",
        "popeye",
        "quantum",
        "royal",
        "sabbath",
        "scandium",
        "scarab",
        "snake",
        "summit",
        "termite",
        "wraith",
    }
)
MIN_FREE_TEXT_LENGTH = 4
_MAX_WORDS = 3

_GALAXY_TAG = re.compile(r'^misp-galaxy:[^=]+="(?P<value>.*)"$', re.IGNORECASE)
_MACHINE_TAG = re.compile(
    r'^(?P<namespace>[\w.-]+)[:=](?:[\w.-]+=)?"?(?P<value>[^"]*)"?$'
)


def is_healthcare(
    tags: Iterable[str], context: Mapping[str, Any] | None = None
) -> bool:
    """Tell whether the tags or context mark the indicator as relevant to healthcare.

    ``context`` is the merged context of the indicator's sources; only the
    fields in :data:`NAME_FIELDS` and :data:`TEXT_FIELDS` are read.
    """
    if any(_tag_is_healthcare(tag) for tag in tags):
        return True
    if not context:
        return False
    for key, value in context.items():
        if key in NAME_FIELDS:
            if any(_names_healthcare(text) for text in _texts(value)):
                return True
        elif key in TEXT_FIELDS and any(
            _mentions_healthcare(text) for text in _texts(value)
        ):
            return True
    return False


def healthcare_relevance(
    tags: Iterable[str],
    context: Mapping[str, Any] | None,
    analyst: bool | None,
) -> bool:
    """Return the healthcare flag: the analyst's decision, else :func:`is_healthcare`.

    ``analyst`` is ``indicators.analyst_healthcare``: True or False when an
    analyst decided, None to derive the flag from tags and context.
    """
    if analyst is not None:
        return analyst
    return is_healthcare(tags, context)


@functools.lru_cache(maxsize=65_536)
def _tag_is_healthcare(tag: str) -> bool:
    if _HEALTHCARE_WORDS.search(tag):
        return True
    galaxy = _GALAXY_TAG.match(tag)
    if galaxy is not None:
        return _names_healthcare(galaxy["value"])
    machine = _MACHINE_TAG.match(tag)
    if machine is not None:
        if machine["namespace"].lower() in NAME_NAMESPACES:
            return _names_healthcare(machine["value"])
        return _mentions_healthcare(machine["value"])
    return _mentions_healthcare(tag)


@functools.lru_cache(maxsize=65_536)
def _names_healthcare(name: str) -> bool:
    """Tell whether a structured name is a healthcare-targeting cluster name."""
    key = name_key(name)
    return len(key) >= MIN_KEY_LENGTH and key in healthcare_names()


@functools.lru_cache(maxsize=65_536)
def _mentions_healthcare(text: str) -> bool:
    """Tell whether free text contains a distinctive healthcare-targeting name."""
    names = healthcare_names()
    words = name_key(text).split()
    for size in range(1, _MAX_WORDS + 1):
        for start in range(len(words) - size + 1):
            key = " ".join(words[start : start + size])
            if (
                key in names
                and len(key) >= MIN_FREE_TEXT_LENGTH
                and key not in COMMON_WORDS
            ):
                return True
    return False


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))
