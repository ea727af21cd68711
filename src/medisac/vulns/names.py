"""Vendor and product names reconciled across advisories and inventories.

Advisories and inventories spell one vendor many ways: ``Becton, Dickinson
and Company (BD)``, ``BD``, ``becton_dickinson`` in a CPE name, ``B. Braun
Melsungen AG`` beside ``B. Braun Medical``. A name is compared by its key:
Unicode compatibility form without accents, lower case, punctuation and
underscores as spaces, company-form suffixes (``Inc.``, ``AG``, ``GmbH``)
dropped, and then the spaces themselves, so ``InfusionPump X`` and
``Infusion Pump X`` share a key. Vendor keys then go through the alias table
in ``data/vendors.toml``.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

__all__ = [
    "VendorInfo",
    "device_words",
    "looks_like_device",
    "normalise",
    "product_key",
    "vendor_info",
    "vendor_key",
]

# Names kept per function: advisories and inventories repeat a few hundred
# vendors and products, and matching computes the same keys many times.
_CACHED_NAMES = 65_536
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_BRACKETS = re.compile(r"\([^()]*\)")
# A remark in brackets at the end, and any punctuation after it.
_TRAILING_BRACKETS = re.compile(r"\s*\([^()]*\)[\W_]*$")
_COMPANY_FORMS = frozenset(
    {
        "ab",
        "ag",
        "as",
        "bv",
        "co",
        "company",
        "corp",
        "corporation",
        "gmbh",
        "inc",
        "incorporated",
        "kg",
        "limited",
        "llc",
        "ltd",
        "nv",
        "oy",
        "plc",
        "sa",
        "se",
        "spa",
    }
)


@dataclass(frozen=True, slots=True)
class VendorInfo:
    """The vendor table's entry for one vendor key.

    ``kind`` is ``device``, ``clinical`` or None for vendors not listed, and
    ``name`` the table's spelling (words apart), or the normalised name.
    """

    key: str
    kind: str | None
    name: str = ""


@lru_cache(maxsize=_CACHED_NAMES)
def normalise(name: str) -> str:
    """Return ``name`` lower-cased, without accents or punctuation, one space apart."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = text.lower().replace("&", " and ")
    return " ".join(_NOT_WORD.sub(" ", text).split())


@lru_cache(maxsize=_CACHED_NAMES)
def _vendor_words(name: str) -> str:
    words = normalise(_BRACKETS.sub(" ", name) or name).split()
    while words and words[-1] in _COMPANY_FORMS | {"and"}:
        words.pop()
    return " ".join(words) or normalise(name)


@cache
def _table() -> tuple[dict[str, VendorInfo], frozenset[str]]:
    path = resources.files("medisac.vulns") / "data" / "vendors.toml"
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    aliases: dict[str, VendorInfo] = {}
    for name, entry in data.get("vendor", {}).items():
        info = VendorInfo(name.replace(" ", ""), entry.get("kind"), name)
        for spelling in (name, *entry.get("aliases", [])):
            aliases[spelling.replace(" ", "")] = info
    words = frozenset(
        normalise(word) for word in data.get("device", {}).get("words", [])
    )
    return aliases, words


@lru_cache(maxsize=_CACHED_NAMES)
def vendor_info(name: str) -> VendorInfo:
    """Return the vendor key of ``name`` and its kind from the vendor table."""
    words = _vendor_words(name)
    compact = words.replace(" ", "")
    aliases, _ = _table()
    return aliases.get(compact, VendorInfo(compact, None, words))


def vendor_key(name: str) -> str:
    """Return the key two spellings of one vendor share."""
    return vendor_info(name).key


@lru_cache(maxsize=_CACHED_NAMES)
def product_key(name: str, vendor: str | None = None) -> str:
    """Return the key two spellings of one product share.

    A remark in brackets at the end is dropped (``Connex Spot Monitor (CSM)``
    is ``connexspotmonitor``), and so is a leading vendor name in any of its
    spellings (``BD Alaris`` under vendor ``Becton, Dickinson and Company``
    is ``alaris``), unless nothing would remain.
    """
    words = normalise(_TRAILING_BRACKETS.sub("", name)) or normalise(name)
    if vendor:
        prefixes = {_vendor_words(vendor), normalise(vendor), vendor_info(vendor).name}
        for prefix in sorted(prefixes, key=len, reverse=True):
            if prefix and words.startswith(prefix + " "):
                words = words[len(prefix) + 1 :]
                break
    return words.replace(" ", "")


def device_words() -> frozenset[str]:
    """Return the words that mark a product or vendor as a medical device."""
    return _table()[1]


def looks_like_device(vendor: str, product: str) -> bool:
    """Tell whether a product is a medical device by its vendor or its name.

    True for vendors listed as device makers, and for names that contain a
    device word (``pump``, ``ventilator``), also inside compound names such as
    ``InfusionPump``.
    """
    if vendor_info(vendor).kind == "device":
        return True
    compact = normalise(f"{vendor} {product}").replace(" ", "")
    return any(word.replace(" ", "") in compact for word in device_words())
