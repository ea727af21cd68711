"""Normalisation: one raw value as a feed wrote it -> canonical indicator values.

``normalize`` strips and refangs the text, detects the type when the source
declared none, and returns the canonical form, or raises
:class:`medisac.errors.NormalizationError` with a reason. An invalid value is
rejected, never changed into another valid value. Each type's rules are in
its own module: :mod:`.ip`, :mod:`.domain`, :mod:`.url`, :mod:`.email`,
:mod:`.hashes`, :mod:`.filename`, :mod:`.composite`; detection is in
:mod:`.detect` and refanging in :mod:`.refang`.
"""

from medisac.normalize.detect import detect_type
from medisac.normalize.dispatch import DECLARED_TYPES, normalize
from medisac.normalize.refang import clean, refang
from medisac.normalize.url import url_host
from medisac.normalize.value import Value

__all__ = [
    "DECLARED_TYPES",
    "Value",
    "clean",
    "detect_type",
    "normalize",
    "refang",
    "url_host",
]
