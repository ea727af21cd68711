"""CPE 2.3 names in the formatted-string binding (NISTIR 7695, section 6.2).

``cpe:2.3:a:vendor:product:version:update:edition:language:sw_edition:
target_sw:target_hw:other``: eleven attributes after the prefix, separated
by colons, where a backslash escapes the next character (``\\:`` is a colon
inside a value). ``*`` is ANY and ``-`` is NA (not applicable). The older URI
binding ``cpe:/a:vendor:product:version`` is read too, with its percent
escapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["ANY", "NA", "Cpe", "CpeError", "parse_cpe"]

ANY = "*"
NA = "-"
_PARTS = frozenset({"a", "o", "h", "*"})
_ATTRIBUTES = 11


class CpeError(ValueError):
    """A text is not a CPE 2.3 name."""


@dataclass(frozen=True, slots=True)
class Cpe:
    """The attributes of a CPE name, unescaped; ``*`` for ANY, ``-`` for NA."""

    part: str
    vendor: str
    product: str
    version: str
    update: str = ANY

    @property
    def display_vendor(self) -> str:
        """The vendor with underscores as spaces, as people write it."""
        return self.vendor.replace("_", " ")

    @property
    def display_product(self) -> str:
        """The product with underscores as spaces, as people write it."""
        return self.product.replace("_", " ")

    @property
    def has_version(self) -> bool:
        """True when the name gives a version (not ANY, not NA)."""
        return self.version not in (ANY, NA, "")


def _split_formatted(text: str) -> list[str]:
    """Split on colons that no backslash escapes, and unescape each value."""
    values: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise CpeError(f"invalid CPE name {text!r}: ends with a lone backslash")
    values.append("".join(current))
    return values


def parse_cpe(text: str) -> Cpe:
    """Parse a CPE 2.3 formatted string or a CPE 2.2 URI.

    Raises :class:`CpeError` naming what is wrong.
    """
    name = text.strip()
    lowered = name.lower()
    if lowered.startswith("cpe:2.3:"):
        values = _split_formatted(name[len("cpe:2.3:") :])
        if len(values) != _ATTRIBUTES:
            raise CpeError(
                f"invalid CPE name {name!r}: expected {_ATTRIBUTES} attributes after "
                f"'cpe:2.3:', found {len(values)}"
            )
    elif lowered.startswith("cpe:/"):
        values = [unquote(value) for value in name[len("cpe:/") :].split(":")]
        values += [ANY] * (_ATTRIBUTES - len(values))
    else:
        raise CpeError(f"invalid CPE name {name!r}: it must start with 'cpe:2.3:'")
    part = values[0].lower() or ANY
    if part not in _PARTS:
        raise CpeError(
            f"invalid CPE name {name!r}: part must be a, o or h, not {part!r}"
        )
    vendor, product = values[1].lower(), values[2].lower()
    if vendor in ("", ANY, NA) or product in ("", ANY, NA):
        raise CpeError(f"invalid CPE name {name!r}: vendor and product are required")
    return Cpe(part, vendor, product, values[3] or ANY, values[4] or ANY)
