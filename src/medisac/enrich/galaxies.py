"""Names of threat actors and malware that target healthcare, from MISP galaxies.

The clusters come from the copy of the MISP galaxies that ``pymispgalaxies``
ships; nothing is fetched at run time. A cluster is taken when its meta data
names healthcare as a target, and each of its names and synonyms then marks
an indicator as relevant to healthcare:

- ``threat-actor``: the sector keys ``cfr-target-category``,
  ``targeted-sector`` and ``victimology``;
- ``tidal-groups``: ``target_categories``; ``360net``: ``target-category``;
- ``ransomware``: this galaxy has no sector key, so a cluster is taken when
  a sentence of its description names healthcare without a negation word,
  because two descriptions state that the group does *not* attack hospitals;
- malware that a healthcare-targeting group of ``tidal-groups`` uses
  (``tidal-software`` relations), when it is also a ``ransomware`` cluster,
  with that cluster's synonyms: this brings in Conti and Ryuk, which Wizard
  Spider uses. Tools (Cobalt Strike, Mimikatz) and other malware of such
  groups are left out, because nearly every intrusion uses them.

Names are compared as keys: case-folded words, without punctuation,
bracketed notes, trailing version numbers, leading platform prefixes
(``win.``) and generic words such as "ransomware" or "actors". So
``LockBit 3.0``, ``win.lockbit`` and ``LockBit Ransomware Actors & Affiliates``
all give ``lockbit``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SECTOR = re.compile(
    r"\b(?:health\s*care|health|hospitals?|medical|biomedical|pharmac\w*)\b|医疗",
    re.IGNORECASE,
)
_SECTOR_KEYS: dict[str, tuple[str, ...]] = {
    "threat-actor": ("cfr-target-category", "targeted-sector", "victimology"),
    "tidal-groups": ("target_categories",),
    "360net": ("target-category",),
}
_NEGATION = re.compile(r"\b(?:not|never|avoid\w*|exclud\w*|only|except)\b", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|<br\s*/?>", re.IGNORECASE)

_WORD = re.compile(r"[^\w]+")
_BRACKETS = re.compile(r"\([^)]*\)|\[[^]]*\]")
# Words that name the kind of thing, not the thing.
GENERIC_WORDS = frozenset(
    {
        "actor",
        "actors",
        "affiliate",
        "affiliates",
        "and",
        "apt group",
        "deprecated",
        "encryptor",
        "family",
        "gang",
        "group",
        "locker",
        "malware",
        "operator",
        "operators",
        "ransomware",
        "team",
        "the",
    }
)
_PLATFORMS = frozenset(
    {"apk", "asp", "elf", "ios", "jar", "js", "osx", "php", "ps1", "py", "vbs", "win"}
)
# A version after a space or underscore: "LockBit 3.0", "Akira _v2". A number
# joined by a hyphen is part of an identifier ("DEV-0193") and stays.
_TRAILING_VERSION = re.compile(r"[\s_]+v?\d+(?:\.\d+)*\s*$", re.IGNORECASE)
# Keys shorter than this name nothing reliably ("c3", "88").
MIN_KEY_LENGTH = 3


def name_key(name: str) -> str:
    """Return the comparison key of a malware or actor name; may be empty."""
    text = _TRAILING_VERSION.sub("", _BRACKETS.sub(" ", name))
    words = [word for word in _WORD.sub(" ", text.casefold()).split("_") if word]
    words = " ".join(words).split()
    if len(words) > 1 and words[0] in _PLATFORMS:
        words = words[1:]
    return " ".join(word for word in words if word not in GENERIC_WORDS)


def clusters_folder() -> Path:
    """Return the folder of galaxy clusters that pymispgalaxies ships.

    The package is not imported: only its data files are read.
    """
    spec = importlib.util.find_spec("pymispgalaxies")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "pymispgalaxies is not installed; install it with "
            "`pip install pymispgalaxies`"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    return package / "data" / "misp-galaxy" / "clusters"


def read_clusters(galaxy: str) -> list[dict[str, Any]]:
    """Return the clusters of one shipped galaxy, or [] when it is missing."""
    path = clusters_folder() / f"{galaxy}.json"
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        log.warning("galaxy %r is missing from pymispgalaxies", galaxy)
        return []
    values: list[dict[str, Any]] = data.get("values", [])
    return values


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))


def _names(cluster: dict[str, Any]) -> Iterator[str]:
    yield cluster["value"]
    yield from _strings((cluster.get("meta") or {}).get("synonyms"))


def targets_healthcare(galaxy: str, cluster: dict[str, Any]) -> bool:
    """Tell whether a cluster's sector meta data names healthcare."""
    meta = cluster.get("meta") or {}
    return any(
        _SECTOR.search(text)
        for key in _SECTOR_KEYS.get(galaxy, ())
        for text in _strings(meta.get(key))
    )


def describes_healthcare_targeting(description: str) -> bool:
    """Tell whether a sentence names healthcare without a negation word."""
    return any(
        _SECTOR.search(sentence) and not _NEGATION.search(sentence)
        for sentence in _SENTENCE_END.split(description)
    )


@functools.cache
def healthcare_names() -> dict[str, str]:
    """Return {name key: cluster name} of every healthcare-targeting cluster.

    Built from the shipped galaxies on the first call, then cached.
    """
    found: dict[str, str] = {}

    def add(names: Iterable[str], label: str) -> None:
        for name in names:
            key = name_key(name)
            if len(key) >= MIN_KEY_LENGTH:
                found.setdefault(key, label)

    for galaxy in _SECTOR_KEYS:
        for cluster in read_clusters(galaxy):
            if targets_healthcare(galaxy, cluster):
                add(_names(cluster), cluster["value"])
    ransomware = read_clusters("ransomware")
    ransomware_by_key: dict[str, dict[str, Any]] = {}
    for cluster in ransomware:
        for name in _names(cluster):
            ransomware_by_key.setdefault(name_key(name), cluster)
        if describes_healthcare_targeting(cluster.get("description") or ""):
            add(_names(cluster), cluster["value"])
    for software in _software_of_healthcare_groups():
        matched = ransomware_by_key.get(name_key(software["value"]))
        if matched is not None:
            add([software["value"], *_names(matched)], matched["value"])
    log.debug("%d healthcare-targeting names from MISP galaxies", len(found))
    return found


def _software_of_healthcare_groups() -> Iterator[dict[str, Any]]:
    """Yield malware clusters of tidal-software used by a healthcare group."""
    groups = {
        cluster["uuid"]
        for cluster in read_clusters("tidal-groups")
        if targets_healthcare("tidal-groups", cluster)
    }
    for software in read_clusters("tidal-software"):
        kinds = (software.get("meta") or {}).get("type") or []
        if "malware" not in kinds:
            continue
        if any(
            relation.get("type") == "used-by" and relation.get("dest-uuid") in groups
            for relation in software.get("related") or ()
        ):
            yield software
