"""medisac: an open cyber threat exchange for healthcare."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medisac")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = ["__version__"]
