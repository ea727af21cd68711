"""TLP 2.0 levels and the STIX marking-definition ids that carry them.

The ids are the ones OASIS publishes: TLP 1.0 objects from the STIX 2.1
specification (section 7.2.1.4) and TLP 2.0 objects from the OASIS TLP 2.0
extension (``extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d``).
A level is read from a well-known id alone, whatever definition body a
producer sent with it.
"""

from __future__ import annotations

from enum import IntEnum


class TLP(IntEnum):
    """A TLP 2.0 level; a greater value is more restrictive."""

    CLEAR = 0
    GREEN = 1
    AMBER = 2
    AMBER_STRICT = 3
    RED = 4

    @property
    def label(self) -> str:
        """The level as TLP 2.0 writes it, for example ``AMBER+STRICT``."""
        return self.name.replace("_", "+")

    @classmethod
    def parse(cls, text: str) -> TLP:
        """Read ``clear``, ``TLP:AMBER+STRICT``, ``white`` and similar spellings.

        Raises ``ValueError`` naming the accepted levels.
        """
        key = text.strip().upper().removeprefix("TLP:").removeprefix("TLP-").strip()
        key = key.replace("+", "_").replace(" ", "_").replace("-", "_")
        if key == "WHITE":
            return cls.CLEAR
        try:
            return cls[key]
        except KeyError:
            choices = ", ".join(level.label for level in cls)
            raise ValueError(
                f"unknown TLP level {text!r}; use one of {choices}"
            ) from None

    @property
    def marking_id(self) -> str:
        """The TLP 2.0 marking-definition id that medisac publishes."""
        return TLP2_MARKING_IDS[self]


TLP2_MARKING_IDS: dict[TLP, str] = {
    TLP.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    TLP.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    TLP.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    TLP.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    TLP.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

TLP1_MARKING_IDS: dict[TLP, str] = {
    TLP.CLEAR: "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    TLP.GREEN: "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    TLP.AMBER: "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    TLP.RED: "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}

# Ids that other platforms publish for a TLP level the OASIS objects do not
# cover. OpenCTI (5.x and 6.x) marks AMBER+STRICT with its own fixed id.
VENDOR_MARKING_IDS: dict[str, TLP] = {
    "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37": TLP.AMBER_STRICT,
}

MARKING_ID_TO_TLP: dict[str, TLP] = {
    **VENDOR_MARKING_IDS,
    **{marking: level for level, marking in TLP1_MARKING_IDS.items()},
    **{marking: level for level, marking in TLP2_MARKING_IDS.items()},
}
